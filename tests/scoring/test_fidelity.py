import numpy as np
import pytest

from qgan.scoring.fidelity import class_statistics, density_coverage, kid, kth_neighbour_radii, precision_recall
from qgan.scoring.frechet import features_to_fid


def sample(seed: int, n: int = 1500, d: int = 16, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_identical_sets():
    x = sample(2)
    assert features_to_fid(x, x) == pytest.approx(0.0, abs=1e-6)
    assert precision_recall(x, x) == (1.0, 1.0)
    density, coverage = density_coverage(x, x, k=5)
    assert coverage == 1.0 and density == pytest.approx(6 / 5)  # each point: its own ball and k neighbours'


def test_two_samples_of_one_distribution():
    x, y = sample(3), sample(4)
    mean, std = kid(x, y, subsets=50, subset_size=500)
    assert abs(mean) < 3 * std / np.sqrt(50) + 1e-3
    density, coverage = density_coverage(x, y)
    assert 0.85 < density < 1.15 and coverage > 0.9
    precision, recall = precision_recall(x, y)
    assert precision > 0.6 and recall > 0.6


def test_metrics_see_a_shift_and_a_collapse():
    x, far = sample(5), sample(6, shift=1.5)
    assert kid(x, far, subsets=20, subset_size=500)[0] > 0.1
    precision, _ = precision_recall(x, far)
    density, coverage = density_coverage(x, far)
    assert precision < 0.5 and density < 0.5 and coverage < 0.5
    collapsed = np.repeat(sample(7, 10), 150, axis=0) + 1e-3 * sample(8)  # 10 modes only
    assert precision_recall(x, collapsed)[1] < 0.2  # recall sees the missing diversity


def test_radii_are_kth_neighbour_distances():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert kth_neighbour_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert kth_neighbour_radii(x, 2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_class_statistics():
    uniform = np.eye(10)[np.arange(1000) % 10]
    s = class_statistics(uniform)
    assert s["class_counts"] == [100] * 10 and s["class_kl_uniform"] == pytest.approx(0, abs=1e-12)
    assert 9 < s["inception_score"] <= 10  # confident and nearly balanced in every split: near the maximum 10
    one_class = np.eye(10)[np.zeros(1000, dtype=int)]
    s = class_statistics(one_class)
    assert s["class_entropy"] == 0 and s["class_kl_uniform"] == pytest.approx(np.log(10))
    assert s["inception_score"] == pytest.approx(1, rel=1e-6)
