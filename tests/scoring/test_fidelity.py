import numpy as np
import pytest

from qgan.scoring.fidelity import class_statistics, kid, kth_neighbour_radii, neighbour_metrics
from qgan.scoring.frechet import features_to_fid, features_to_statistics, statistics_to_fid


def sample(seed: int, n: int = 1500, d: int = 16, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_identical_sets():
    x = sample(2)
    assert features_to_fid(x, x) == pytest.approx(0.0, abs=1e-6)
    m = neighbour_metrics(x, x)
    assert m["precision"] == m["recall"] == m["coverage"] == 1.0
    # each point: its own ball and k = 5 neighbours'. Every 5th neighbour sits exactly on its ball's
    # edge, a tie that float32 matrix-product distances (computed in other blocks for the radii than
    # for the pairs) may break either way: one pair in a few thousand, so allow two.
    assert m["density"] == pytest.approx(6 / 5, abs=2 / (5 * len(x)))


def test_two_samples_of_one_distribution():
    x, y = sample(3), sample(4)
    mean, std = kid(x, y, subsets=50, subset_size=500)
    assert abs(mean) < 3 * std / np.sqrt(50) + 1e-3
    m = neighbour_metrics(x, y)
    assert 0.85 < m["density"] < 1.15 and m["coverage"] > 0.9 and m["precision"] > 0.6 and m["recall"] > 0.6


def test_metrics_see_a_shift_and_a_collapse():
    x, far = sample(5), sample(6, shift=1.5)
    assert kid(x, far, subsets=20, subset_size=500)[0] > 0.1
    m = neighbour_metrics(x, far)
    assert m["precision"] < 0.5 and m["density"] < 0.5 and m["coverage"] < 0.5
    collapsed = np.repeat(sample(7, 10), 150, axis=0) + 1e-3 * sample(8)  # 10 modes only
    assert neighbour_metrics(x, collapsed)["recall"] < 0.2  # recall sees the missing diversity


def test_radii_are_kth_neighbour_distances():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert kth_neighbour_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert kth_neighbour_radii(x, 2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_repeated_images_keep_graded_radii_and_recall():
    """K distinct images repeated to N: each copy's radius is its k-th nearest *distinct* image's
    distance (not 0), so recall is a measured number instead of exactly 0 for every K (the tie
    artefact a plain k-NN radius has: prdc gives 0 here)."""
    import prdc

    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert kth_neighbour_radii(np.repeat(x, 5, axis=0), 1).tolist() == np.repeat([1.0, 1.0, 2.0, 4.0], 5).tolist()
    assert kth_neighbour_radii(x[:2], 3).tolist() == [0.0, 0.0]  # at most k distinct points own no balls
    real = sample(9, 2000, 8)
    recalls = []
    for k in (16, 64, 256):
        tiled = np.resize(sample(10 + k, k, 8), (2000, 8))
        assert prdc.compute_prdc(real, tiled, 3)["recall"] == 0.0
        recalls.append(neighbour_metrics(real, tiled)["recall"])
    assert min(recalls) > 0.5
    # (but recall of few points is generous, not graded: their balls are wide. Coverage, the family's
    # diversity endpoint, uses the real radii only, so repeats can neither inflate nor zero it.)
    coverages = [neighbour_metrics(real, np.resize(sample(10 + k, k, 8), (2000, 8)))["coverage"]
                 for k in (16, 64, 256, 2000)]
    assert coverages == sorted(coverages) and coverages[0] < 0.05 < 0.9 < coverages[-1]


def test_neighbour_metrics_asked_for_a_subset_give_the_same_numbers():
    """Asking only for coverage (the redraws' endpoint, which skips the fake set's radii) or any
    subset gives exactly the numbers of the full pass; an unknown name is refused."""
    real, fake = sample(50, 900, 8), np.resize(sample(51, 60, 8, 0.3), (900, 8))
    every = neighbour_metrics(real, fake)
    for names in (("coverage",), ("recall",), ("precision", "density")):
        assert neighbour_metrics(real, fake, metrics=names) == {m: every[m] for m in names}
    with pytest.raises(ValueError, match="fid"):
        neighbour_metrics(real, fake, metrics=("fid",))


@pytest.mark.parametrize("seed,shift", [(0, 0.0), (1, 0.7)])
def test_neighbour_metrics_equal_prdc_on_sets_without_duplicates(seed, shift):
    """Cross-check with prdc 0.2 (Naeem et al.'s reference implementation): the same four numbers."""
    import prdc

    real, fake = sample(20 + seed, 700, 12), sample(40 + seed, 600, 12, shift)
    ours = neighbour_metrics(real, fake)
    for k, names in ((3, ("precision", "recall")), (5, ("density", "coverage"))):
        ref = prdc.compute_prdc(real, fake, k)
        for name in names:
            assert ours[name] == pytest.approx(ref[name], abs=1e-9), name


def test_fid_and_kid_equal_torch_fidelity():
    """Cross-check with torch-fidelity 0.4: the Frechet distance of the same statistics, and the
    unbiased cubic-kernel MMD^2 on the full sets (one subset of all rows: no sampling)."""
    import torch
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    real, fake = sample(30, 800, 24), 1.3 * sample(31, 800, 24, 0.4)
    (m1, c1), (m2, c2) = features_to_statistics(real), features_to_statistics(fake)
    ref = fid_statistics_to_metric({"mu": m1, "sigma": c1}, {"mu": m2, "sigma": c2}, False)
    assert statistics_to_fid(m2, c2, m1, c1) == pytest.approx(ref["frechet_inception_distance"], rel=1e-6)
    ours, spread = kid(real, fake, subsets=1, subset_size=800)
    ref = kid_features_to_metric(torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=1,
                                 kid_subset_size=800, verbose=False)
    assert spread == 0 and ours == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-6)


def test_class_statistics():
    uniform = np.eye(10)[np.arange(1000) % 10]
    s = class_statistics(uniform)
    assert s["class_counts"] == [100] * 10 and s["class_kl_uniform"] == pytest.approx(0, abs=1e-12)
    assert 9 < s["inception_score"] <= 10  # confident and nearly balanced in every split: near the maximum 10
    one_class = np.eye(10)[np.zeros(1000, dtype=int)]
    s = class_statistics(one_class)
    assert s["class_entropy"] == 0 and s["class_kl_uniform"] == pytest.approx(np.log(10))
    assert s["inception_score"] == pytest.approx(1, rel=1e-6)
