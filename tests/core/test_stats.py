"""The paired statistics: interval coverage by simulation, the closed-form confidence sequence
against its Bayes factor, NaN-safe Holm, and the tests that can or cannot reject."""
import math

import numpy as np
import pytest

from qgan.core import stats


def test_holm_step_down():
    out = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005}, 0.05)
    assert out["d"] == (0.02, True) and out["a"] == (0.03, True)
    assert out["c"] == (0.06, False) and out["b"] == (0.06, False)  # adjusted p-values are monotone
    assert stats.holm({}, 0.05) == {}


def test_holm_ignores_a_nan_instead_of_adjusting_everything_to_one():
    out = stats.holm({"a": 0.001, "b": float("nan"), "c": 0.02}, 0.05)
    assert out["a"] == (0.002, True) and out["c"] == (0.02, True)  # m = 2 finite p-values
    assert math.isnan(out["b"][0]) and out["b"][1] is False


def bayes_factor(d, mu0, g=stats.PRIOR_G):
    """The mixture Bayes factor the confidence sequence inverts, computed directly."""
    n = len(d)
    t = math.sqrt(n) * (d.mean() - mu0) / d.std(ddof=1)
    nu, r = n - 1, 1 + n * g
    return r ** -0.5 * ((1 + t * t / nu) / (1 + t * t / (r * nu))) ** ((nu + 1) / 2)


@pytest.mark.parametrize("n", [8, 20, 60])
def test_confidence_sequence_ends_are_where_the_bayes_factor_reaches_one_over_alpha(n):
    d = np.random.default_rng(n).normal(3, 2, n)
    low, high = stats.confidence_sequence(d, 0.05)
    assert bayes_factor(d, low) == pytest.approx(20, rel=1e-6) and bayes_factor(d, high) == pytest.approx(20, rel=1e-6)
    assert bayes_factor(d, d.mean()) < 20  # the middle is inside
    assert low < stats.t_interval(d, 0.05)[0]  # wider than the fixed-n interval: the price of looking


def test_confidence_sequence_is_the_whole_line_with_too_few_seeds():
    assert stats.confidence_sequence(np.array([1.0, 2.0, 3.0]), 0.05) == (-math.inf, math.inf)
    assert math.isfinite(stats.cs_halfwidth_factor(10, 0.05))


def test_confidence_sequence_covers_at_every_n_at_once():
    """Time-uniform coverage: the truth leaves the sequence at some n <= 200 in at most alpha of
    4,000 simulated studies (the fixed-n t interval, looked at every n, leaves it far more often)."""
    rng = np.random.default_rng(7)
    z = rng.normal(5.0, 3.0, (4000, 200))
    n = np.arange(1, 201)
    mean = np.cumsum(z, 1) / n
    sd = np.sqrt(np.maximum((np.cumsum(z * z, 1) - n * mean ** 2) / np.maximum(n - 1, 1), 0))
    half_cs = stats.cs_halfwidth_factor(n, 0.05) * sd
    from scipy import stats as sps
    half_t = np.where(n > 1, sps.t.ppf(0.975, np.maximum(n - 1, 1)) / np.sqrt(n), np.inf) * sd
    miss_cs = (np.abs(mean - 5.0) > half_cs)[:, 1:].any(1).mean()
    miss_t = (np.abs(mean - 5.0) > half_t)[:, 1:].any(1).mean()
    assert miss_cs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 4000)
    assert miss_t > 0.3


def test_student_t_interval_covers_95_percent_at_fixed_n():
    rng = np.random.default_rng(3)
    hits = [(lambda lo_hi: lo_hi[0] < 1.0 < lo_hi[1])(stats.t_interval(rng.normal(1.0, 2.0, 5), 0.05))
            for _ in range(4000)]
    assert abs(np.mean(hits) - 0.95) < 0.015


def test_student_t_interval_matches_the_formula():
    low, high = stats.t_interval(np.array([1.0, 2.0, 1.0]), 0.05)
    half = 4.302652729911275 * np.std([1, 2, 1], ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert np.isclose(low, 4 / 3 - half) and np.isclose(high, 4 / 3 + half)


def test_wilcoxon_is_shown_only_where_it_can_reject():
    assert stats.wilcoxon_pvalue(np.array([1.0, 2.0, 3.0, 4.0]), 0.05) is None   # smallest p = 2/16 > 0.05
    p = stats.wilcoxon_pvalue(np.arange(1.0, 7.0), 0.05)                          # 2/64 < 0.05
    assert p == pytest.approx(2 / 64)


def test_bca_bootstrap_needs_ten_seeds_and_then_covers():
    assert stats.bca_interval(np.arange(9.0), 0.05) is None
    rng = np.random.default_rng(4)
    hits = []
    for _ in range(300):
        low, high = stats.bca_interval(rng.normal(0.0, 1.0, 12), 0.05)
        hits.append(low < 0 < high)
    assert np.mean(hits) > 0.85  # BCa at n = 12 covers near its level (a percentile bootstrap at n = 3: ~75%)


def test_tost_rejects_inside_the_margin_only():
    d = np.random.default_rng(5).normal(0.0, 0.5, 30)
    assert stats.tost_pvalue(d, 1.0) < 0.01 and stats.tost_pvalue(d + 2.0, 1.0) > 0.5


def test_sd_interval_brackets_the_sd():
    low, high = stats.sd_interval(2.0, 10)
    assert low < 2.0 < high and high / low > 2  # 10 seeds know their sd only to a factor of ~2.5


def direct_e_value(n: int, k: int) -> float:
    """The sign sequence's mixture e-value by numerical integration: int_{1/2}^1 (2q)^k (2(1-q))^(n-k) 2 dq."""
    from scipy.integrate import quad
    return quad(lambda q: (2 * q) ** k * (2 * (1 - q)) ** (n - k) * 2, 0.5, 1.0, epsabs=0, epsrel=1e-10)[0]


@pytest.mark.parametrize("n", [8, 15, 40, 120])
def test_sign_bound_is_the_last_count_below_two_over_alpha(n):
    k = int(stats.sign_bound(n, 0.05)[0])
    assert direct_e_value(n, k) < 40 <= direct_e_value(n, k + 1)
    assert direct_e_value(n, n) == pytest.approx((2 ** (n + 1) - 1) / (n + 1), rel=1e-9)


def test_the_sign_sequence_is_bounded_from_8_seeds_and_is_the_order_statistics():
    assert [int(k) < n for n, k in zip(range(5, 10), stats.sign_bound(np.arange(5, 10), 0.05))] == \
        [False, False, False, True, True]
    assert stats.median_cs(np.arange(7.0), 0.05) == (-math.inf, math.inf)
    d = np.random.default_rng(3).normal(0, 1, 31)
    k = int(stats.sign_bound(31, 0.05)[0])
    s = np.sort(d)
    assert stats.median_cs(d, 0.05) == (s[31 - k - 1], s[k])
    inside = [m for m in np.linspace(-3, 3, 601)
              if direct_e_value(31, int((d < m).sum())) < 40 and direct_e_value(31, int((d > m).sum())) < 40]
    assert s[31 - k - 1] <= min(inside) and max(inside) <= s[k]  # the order statistics bound exactly the accepted set


@pytest.mark.parametrize("case", ["gaussian", "cauchy", "lognormal", "ties"])
def test_the_sign_sequence_covers_the_median_at_every_n_at_once_for_any_distribution(case):
    """Time-uniform coverage of the median over n <= 200 in 4,000 studies, including a Cauchy (no
    mean at all), a skewed lognormal and a distribution with many ties at its median."""
    rng = np.random.default_rng(11)
    z = {"gaussian": lambda: rng.normal(2.0, 3.0, (4000, 200)),
         "cauchy": lambda: 2.0 + rng.standard_cauchy((4000, 200)),
         "lognormal": lambda: 1.0 + rng.lognormal(0.0, 1.5, (4000, 200)),  # median exp(0) + 1 = 2
         "ties": lambda: np.round(rng.normal(2.0, 1.0, (4000, 200)))}[case]()  # P(x = 2) = 0.38
    n = np.arange(1, 201)
    k = stats.sign_bound(n, 0.05)
    below, above = np.cumsum(z < 2.0, 1), np.cumsum(z > 2.0, 1)
    miss = ((below > k) | (above > k)).any(1).mean()  # 2 leaves [d_(n-K), d_(K+1)] at some n
    assert miss <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 4000)


def test_every_inference_has_an_estimand_and_an_interval():
    from qgan.core.metric_registry import INFERENCES

    d = np.random.default_rng(2).normal(1.0, 1.0, 30)
    assert set(stats.ESTIMANDS) == set(INFERENCES)
    for inference in INFERENCES:
        low, high = stats.interval(d, 0.05, inference)
        assert low < stats.estimate(d, inference) < high
    assert stats.estimate(np.array([0.0, 1.0, 10.0]), "anytime") == 1.0
