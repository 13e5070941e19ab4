"""The one function that computes every metric for a generator's samples (:func:`features_to_metrics`);
the metrics' names and directions are :data:`qgan.core.metric_registry.METRICS`.

Each family lives in its own module: the Frechet distance in :mod:`qgan.scoring.frechet`;
KID, precision/recall, density/coverage and the class statistics in
:mod:`qgan.scoring.fidelity`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgan.core.metric_registry import FID
from qgan.scoring.fidelity import NEIGHBOUR_METRICS, class_statistics, kid, kth_neighbour_radii, neighbour_metrics
from qgan.scoring.frechet import features_to_statistics, statistics_to_fid

PRECISION_K = 3  # neighbours for precision and recall (Kynkaanniemi et al. 2019)
DENSITY_K = 5    # neighbours for density and coverage (Naeem et al. 2020)


@dataclass(frozen=True)
class RealReference:
    """The real side of every metric, computed once and shared by all the runs scored against it."""
    features: np.ndarray           # (n, D)
    mean: np.ndarray               # (D,)
    cov: np.ndarray                # (D, D)
    radii: dict[int, np.ndarray]   # k -> (n,) distance of each real sample to its k-th real neighbour


def features_to_reference(real: np.ndarray) -> RealReference:
    mean, cov = features_to_statistics(real)
    return RealReference(real, mean, cov, {k: kth_neighbour_radii(real, k) for k in (PRECISION_K, DENSITY_K)})


def features_to_endpoints(ref: RealReference, fake: np.ndarray, fake_probs: np.ndarray, endpoints: tuple[str, ...]
                          ) -> dict[str, float]:
    """The metrics ``endpoints`` names, computing only those when they are FID or k-NN metrics (the
    redraws of the default family), else through :func:`features_to_metrics`."""
    if not set(endpoints) <= {FID, *NEIGHBOUR_METRICS}:
        every = features_to_metrics(ref, fake, fake_probs)
        return {m: float(every[m]) for m in endpoints}
    out = {}
    if FID in endpoints:
        out[FID] = statistics_to_fid(*features_to_statistics(fake), ref.mean, ref.cov)
    if set(endpoints) & set(NEIGHBOUR_METRICS):
        wanted = tuple(m for m in NEIGHBOUR_METRICS if m in endpoints)
        out.update(neighbour_metrics(ref.features, fake, ref.radii, PRECISION_K, DENSITY_K, wanted))
    return {m: float(out[m]) for m in endpoints}


def features_to_metrics(real: np.ndarray | RealReference, fake: np.ndarray, fake_probs: np.ndarray,
                        kid_subsets: int = 100, kid_subset_size: int = 1000) -> dict:
    """Every metric of :data:`METRICS` for generated features ``fake (m, D)`` (and class
    probabilities ``(m, C)``) against real features ``(n, D)`` (or their :class:`RealReference`),
    plus KID's std and the class histogram."""
    ref = real if isinstance(real, RealReference) else features_to_reference(real)
    kid_mean, kid_std = kid(ref.features, fake, kid_subsets, kid_subset_size)
    neighbours = neighbour_metrics(ref.features, fake, ref.radii, PRECISION_K, DENSITY_K)
    fid = statistics_to_fid(*features_to_statistics(fake), ref.mean, ref.cov)
    return {"fid": fid, "kid": kid_mean, "kid_std": kid_std, **neighbours, **class_statistics(fake_probs)}
