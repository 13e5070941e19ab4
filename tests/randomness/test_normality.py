import numpy as np
import pytest
from scipy import special, stats

from qgan.randomness.normality import (
    anderson_darling_normal,
    anderson_darling_pvalue,
    normals_to_moments,
    normals_to_tests,
)


@pytest.mark.parametrize("a2, p", [(1.933, 0.10), (2.492, 0.05), (3.070, 0.025), (3.857, 0.01)])
def test_anderson_darling_pvalue_at_the_published_critical_values(a2, p):
    """Critical values of A^2 for a fully specified distribution (Stephens 1974, case 0)."""
    assert anderson_darling_pvalue(a2) == pytest.approx(p, rel=0.03)


def test_anderson_darling_statistic_follows_its_definition():
    x = np.random.default_rng(0).standard_normal(50)
    s, n = np.sort(x), len(x)
    a2 = -n - sum((2 * i - 1) * (np.log(special.ndtr(s[i - 1])) + np.log(1 - special.ndtr(s[n - i])))
                  for i in range(1, n + 1)) / n
    assert anderson_darling_normal(x)[0] == pytest.approx(a2, rel=1e-12)
    assert anderson_darling_normal(x + 0.5)[1] < 0.01 < anderson_darling_normal(x)[1]


def test_moments_and_their_standard_errors():
    z = np.array([1.0, -1.0, 2.0, -2.0, np.inf], dtype=np.float32)
    m = normals_to_moments(z)
    assert m["nonfinite"] == 1 and m["max_abs"] == 2.0
    assert m["mean"] == {"value": 0.0, "se": 0.5, "z": 0.0}
    assert m["variance"]["value"] == pytest.approx(2.5) and m["variance"]["se"] == pytest.approx(np.sqrt(2 / 4))
    assert m["variance"]["z"] == pytest.approx(1.5 / np.sqrt(2 / 4))
    assert m["skewness"]["value"] == pytest.approx(0.0)
    assert m["excess_kurtosis"]["value"] == pytest.approx(stats.kurtosis([1, -1, 2, -2]))


def test_tests_reject_a_shifted_or_scaled_sample_and_pass_a_normal_one():
    rng = np.random.default_rng(4)
    good = normals_to_tests(rng.standard_normal(200_000).astype(np.float32), 200_000)
    assert set(good) == {"kolmogorov_smirnov", "anderson_darling", "dagostino_k2", "jarque_bera", "shapiro_wilk",
                         "tail_mass"}
    assert min(t["pvalue"] for t in good.values()) > 1e-3
    shifted = normals_to_tests((rng.standard_normal(200_000) + 0.05).astype(np.float32), 200_000)
    assert shifted["kolmogorov_smirnov"]["pvalue"] < 1e-6 and shifted["anderson_darling"]["pvalue"] < 1e-6
    heavy = normals_to_tests(rng.standard_t(5, 200_000).astype(np.float32), 200_000)
    assert heavy["dagostino_k2"]["pvalue"] < 1e-6 and heavy["jarque_bera"]["pvalue"] < 1e-6
    assert heavy["tail_mass"]["statistic"] > 10 * heavy["tail_mass"]["expected"]


def test_sample_sizes_are_recorded_and_capped():
    z = np.random.default_rng(5).standard_normal(30_000).astype(np.float32)
    tests = normals_to_tests(z, 10_000)
    assert tests["kolmogorov_smirnov"]["n"] == 10_000 and tests["shapiro_wilk"]["n"] == 5000
    few = normals_to_tests(z[:10], 1000)
    assert "dagostino_k2" not in few and few["shapiro_wilk"]["n"] == 10
    assert normals_to_tests(z[:0], 1000) == {}
