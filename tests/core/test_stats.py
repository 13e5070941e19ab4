import numpy as np

from qgan.core.stats import holm, judge, paired_comparison, seeds_needed


def per_seed(values):
    return dict(enumerate(values))


def verdict(a, b, lower_is_better=True, margin=0.05, seed=0):
    """One metric judged alone (a family of one)."""
    c = paired_comparison(a, b, margin, seed)
    judge({"m": c}, {"m": lower_is_better}, 0.05)
    return c


def test_holm_step_down():
    out = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005}, 0.05)
    assert out["d"] == (0.02, True) and out["a"] == (0.03, True)
    assert out["c"] == (0.06, False) and out["b"] == (0.06, False)  # adjusted p-values are monotone
    assert holm({}, 0.05) == {}


def test_a_known_shift_is_called_in_the_right_direction():
    rng = np.random.default_rng(0)
    base = 50 + rng.normal(0, 5, 8)  # seed-to-seed variation shared by both arms
    noise = rng.normal(0, 0.5, 8)
    lower = verdict(per_seed(base - 5 + noise), per_seed(base), lower_is_better=True)
    assert lower["verdict"] == "entropy better" and lower["t_pvalue"] < 0.05 and lower["bootstrap_ci95_high"] < 0
    higher = verdict(per_seed(base - 5 + noise), per_seed(base), lower_is_better=False)
    assert higher["verdict"] == "prng better"


def test_two_samples_of_one_distribution_are_never_called_better():
    rng = np.random.default_rng(1)
    verdicts = []
    for trial in range(40):
        a, b = rng.normal(50, 2, 6), rng.normal(50, 2, 6)  # same distribution
        verdicts.append(verdict(per_seed(a), per_seed(b), seed=trial)["verdict"])
    called = [v for v in verdicts if v.endswith("better")]
    assert len(called) <= 5  # a 5% test: rare false calls, as it should be
    tight = rng.normal(0, 0.1, 10)
    same = verdict(per_seed(50 + tight), per_seed(50 + tight[::-1]))
    assert same["verdict"].startswith("equivalent within ±2.5")


def test_inconclusive_says_how_many_seeds():
    out = verdict({0: 60.0, 1: 70.0, 2: 66.0}, {0: 63.0, 1: 72.0, 2: 60.0})
    assert out["verdict"] == f"inconclusive (about {out['seeds_needed']} seeds needed)" and out["seeds_needed"] > 3
    assert out["wilcoxon_pvalue"] > 0.05 and out["bootstrap_ci95_low"] < 0 < out["bootstrap_ci95_high"]
    assert verdict({0: 1.0}, {0: 2.0})["verdict"].startswith("inconclusive (at least two")


def test_seeds_needed_grows_with_noise():
    assert seeds_needed(0.0, 1.0, 1.0, 0.05) < seeds_needed(0.0, 3.0, 1.0, 0.05)
    assert seeds_needed(2.0, 1.0, 1.0, 0.05) == int(np.ceil(((1.959964 + 0.841621) * 1.0 / 2.0) ** 2))


def test_student_t_interval():
    d = paired_comparison({0: 10.0, 1: 12.0, 2: 11.0}, {0: 9.0, 1: 10.0, 2: 10.0, 3: 5.0}, 0.05)
    assert d["n_seeds"] == 3 and d["per_seed"] == {"0": 1.0, "1": 2.0, "2": 1.0}
    half = 4.302652729911275 * np.std([1, 2, 1], ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert np.isclose(d["ci95_low"], 4 / 3 - half) and np.isclose(d["ci95_high"], 4 / 3 + half)


def test_family_of_metrics_is_holm_adjusted():
    rng = np.random.default_rng(2)
    base = 10 + rng.normal(0, 1, 4)
    comparisons = {"shifted": paired_comparison(per_seed(base - 1 + rng.normal(0, 0.01, 4)), per_seed(base), 0.01),
                   "noise": paired_comparison(per_seed(base + rng.normal(0, 0.3, 4)), per_seed(base), 0.01)}
    raw = comparisons["shifted"]["t_pvalue"]
    verdicts = judge(comparisons, {"shifted": True, "noise": True}, 0.05)
    assert verdicts["shifted"] == "entropy better" and comparisons["shifted"]["t_pvalue_holm"] == min(1, 2 * raw)
    assert verdicts["noise"].startswith("inconclusive")
