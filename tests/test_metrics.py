import numpy as np
import pytest
import scipy.linalg

from qgan.errors import QganError
from qgan.metrics import features_to_fid, features_to_statistics, paired_differences, statistics_to_fid


def _reference_fid(a, b):
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)


def test_fid_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 16))
    b = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.3 + 0.2
    ours, ref = features_to_fid(a, b), _reference_fid(a, b)
    assert abs(ours - ref) / ref <= 1e-6


def test_identical_sets_score_zero_and_shift_scores_its_square():
    a = np.random.default_rng(1).normal(size=(300, 8))
    assert features_to_fid(a, a) == pytest.approx(0, abs=1e-8)
    assert features_to_fid(a, a + 2.0) == pytest.approx(8 * 4.0, rel=1e-9)


def test_bad_shapes():
    with pytest.raises(QganError):
        features_to_statistics(np.zeros(5))
    mu, s = features_to_statistics(np.random.default_rng(2).normal(size=(10, 3)))
    with pytest.raises(QganError):
        statistics_to_fid(mu, s, mu[:2], s[:2, :2])


def test_paired_differences_t_interval():
    a, b = {0: 10.0, 1: 12.0, 2: 11.0}, {0: 9.0, 1: 10.0, 2: 10.0, 3: 5.0}
    d = paired_differences(a, b)
    assert d["n_seeds"] == 3 and d["per_seed"] == {"0": 1.0, "1": 2.0, "2": 1.0}
    assert d["mean"] == pytest.approx(4 / 3)
    half = 4.302652729911275 * np.std([1, 2, 1], ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert d["ci95_low"] == pytest.approx(4 / 3 - half) and d["ci95_high"] == pytest.approx(4 / 3 + half)
    assert "ci95_low" not in paired_differences({0: 1.0}, {0: 2.0})
