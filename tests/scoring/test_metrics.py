import numpy as np
import pytest
import scipy.linalg

from qgan.core.errors import QganError
from qgan.core.metric_registry import METRICS
from qgan.scoring.frechet import features_to_fid, features_to_statistics, statistics_to_fid
from qgan.scoring.metrics import features_to_metrics


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


def test_features_to_metrics_computes_every_metric():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(400, 8)), rng.normal(size=(300, 8)) + 0.1
    probs = np.eye(10)[rng.integers(0, 10, 300)]
    m = features_to_metrics(real, fake, probs, kid_subsets=10, kid_subset_size=200)
    assert set(METRICS) <= set(m) and m["fid"] == pytest.approx(features_to_fid(fake, real))
    assert 0 <= m["precision"] <= 1 and 0 <= m["coverage"] <= 1 and sum(m["class_counts"]) == 300
