"""The evaluation metrics: their names, directions, and one function that computes them all.

Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)::

    FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})

On the classifier's penultimate features this is "FID-LeNet": not comparable to
Inception FID, and biased in N (compare only at equal N).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgan.core.errors import QganError

# Result keys (constants, so reports and tests never drift from the metrics file).
FID = "fid"
PRECISION_K = 3  # neighbours for precision and recall (Kynkaanniemi et al. 2019)
DENSITY_K = 5    # neighbours for density and coverage (Naeem et al. 2020)
# metric -> (label, lower is better): every metric of every run, compared arm against prng
METRICS = {
    "fid": ("FID-LeNet", True),
    "kid": ("KID", True),
    "precision": ("precision (k=3)", False),
    "recall": ("recall (k=3)", False),
    "density": ("density (k=5)", False),
    "coverage": ("coverage (k=5)", False),
    "class_kl_uniform": ("class KL to uniform", True),
    "inception_score": ("Inception Score (classifier)", False),
}


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


@dataclass(frozen=True)
class RealReference:
    """The real side of every metric, computed once and shared by all the runs scored against it."""
    features: np.ndarray           # (n, D)
    mean: np.ndarray               # (D,)
    cov: np.ndarray                # (D, D)
    radii: dict[int, np.ndarray]   # k -> (n,) distance of each real sample to its k-th real neighbour


def features_to_reference(real: np.ndarray) -> RealReference:
    from qgan.evaluation.fidelity import kth_neighbour_radii

    mean, cov = features_to_statistics(real)
    return RealReference(real, mean, cov, {k: kth_neighbour_radii(real, k) for k in (PRECISION_K, DENSITY_K)})


def features_to_metrics(real: np.ndarray | RealReference, fake: np.ndarray, fake_probs: np.ndarray,
                        kid_subsets: int = 100, kid_subset_size: int = 1000) -> dict:
    """Every metric of :data:`METRICS` for generated features ``fake (m, D)`` (and class
    probabilities ``(m, C)``) against real features ``(n, D)`` (or their :class:`RealReference`),
    plus KID's std and the class histogram."""
    from qgan.evaluation.fidelity import class_statistics, density_coverage, kid, precision_recall

    ref = real if isinstance(real, RealReference) else features_to_reference(real)
    kid_mean, kid_std = kid(ref.features, fake, kid_subsets, kid_subset_size)
    precision, recall = precision_recall(ref.features, fake, PRECISION_K, ref.radii[PRECISION_K])
    density, coverage = density_coverage(ref.features, fake, DENSITY_K, ref.radii[DENSITY_K])
    fid = statistics_to_fid(*features_to_statistics(fake), ref.mean, ref.cov)
    return {"fid": fid, "kid": kid_mean, "kid_std": kid_std, "precision": precision,
            "recall": recall, "density": density, "coverage": coverage, **class_statistics(fake_probs)}
