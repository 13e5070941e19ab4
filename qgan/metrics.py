"""Distances between feature sets, and paired statistics across seeds.

Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)::

    FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})

On the classifier's penultimate features this is "FID-LeNet": not comparable to
Inception FID, and biased in N (compare only at equal N).
"""
from __future__ import annotations

import numpy as np

from qgan.errors import QganError

# Result keys (constants, so reports and tests never drift from the metrics file).
FID = "fid"
FID_REFERENCE = "fid_train_vs_test"


def features_to_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, D)`` features -> mean ``(D,)`` and unbiased covariance ``(D, D)``, float64."""
    if features.ndim != 2 or len(features) < 2:
        raise QganError(f"features must be (N >= 2, D), got {features.shape}")
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (eigenvalues clipped at 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def statistics_to_fid(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance of N(mu1, sigma1) and N(mu2, sigma2) via symmetric eigendecompositions."""
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise QganError(f"statistics differ in shape: {mu1.shape} vs {mu2.shape}")
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    tr_cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_cross))


def features_to_fid(a: np.ndarray, b: np.ndarray) -> float:
    return statistics_to_fid(*features_to_statistics(a), *features_to_statistics(b))


def paired_differences(a: dict[int, float], b: dict[int, float]) -> dict:
    """Per-seed ``a - b`` over the seeds both have: mean, sd and a Student-t 95% CI.

    With n seeds the CI is ``mean +- t_{0.975, n-1} * sd / sqrt(n)``; it needs n >= 2.
    """
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    diffs = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    out = {"n_seeds": len(seeds), "per_seed": {str(s): float(d) for s, d in zip(seeds, diffs)},
           "mean": float(diffs.mean()) if len(diffs) else float("nan")}
    if len(diffs) >= 2:
        sd = float(diffs.std(ddof=1))
        half = float(stats.t.ppf(0.975, len(diffs) - 1) * sd / np.sqrt(len(diffs)))
        out.update(sd=sd, ci95_low=out["mean"] - half, ci95_high=out["mean"] + half)
    return out
