"""The whole comparison fed with synthetic feature sets: features -> every metric -> verdicts."""
import numpy as np

from qgan.evaluation.evaluate import compare_arms
from qgan.evaluation.metrics import METRICS, features_to_metrics

SEEDS, N, D = 5, 800, 16


def scores_of(real: np.ndarray, arms: dict[str, float], seed: int) -> dict:
    """Per arm and seed: features drawn like the real ones, shifted by the arm's offset, and
    confident class probabilities spread over 10 classes."""
    rng = np.random.default_rng(seed)
    scores = {}
    for arm, shift in arms.items():
        for s in range(SEEDS):
            fake = rng.standard_normal((N, D)) + shift
            probs = np.eye(10)[rng.integers(0, 10, N)] * 0.9 + 0.01
            scores.setdefault(arm, {})[s] = features_to_metrics(real, fake, probs, kid_subsets=10, kid_subset_size=400)
    return scores


def test_a_known_shift_is_called_worse_and_one_distribution_is_never_called_better():
    real = np.random.default_rng(0).standard_normal((N, D))
    _, shifted = compare_arms(scores_of(real, {"entropy": 0.4, "prng": 0.0}, 1), margin=0.05, alpha=0.05)
    for metric in ("fid", "kid", "precision", "density", "coverage"):
        assert shifted["entropy_vs_prng"][metric] == "prng better", metric
    _, reverse = compare_arms(scores_of(real, {"entropy": 0.0, "prng": 0.4}, 3), margin=0.05, alpha=0.05)
    assert reverse["entropy_vs_prng"]["fid"] == "entropy better"
    _, same = compare_arms(scores_of(real, {"entropy": 0.0, "prng": 0.0}, 2), margin=0.05, alpha=0.05)
    assert set(same["entropy_vs_prng"]) == set(METRICS)
    for metric, verdict in same["entropy_vs_prng"].items():
        assert verdict.startswith(("equivalent", "inconclusive")), (metric, verdict)
