"""Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)::

    FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})

On the classifier's penultimate features this is "FID-LeNet": not comparable to
Inception FID, and biased in N (compare only at equal N).
"""
from __future__ import annotations

import numpy as np

from qgan.core.errors import QganError


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
