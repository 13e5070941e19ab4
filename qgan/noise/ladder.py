"""The sensitivity ladder: noise arms with graded, known defects (positive controls of the GAN metrics).

A rung is named ``<kind>-<n>`` in ``train.arms`` and applies one defect to the ``prng`` arm's
own latent vectors (the same PCG64 bytes through the same conversion), so the only thing a
rung changes is the defect. For a batch ``z (B, d)`` of prng normals:

- ``distinct-K``: only K distinct latent vectors. A codebook ``C (K, d)`` of normals is drawn
  once per run; row i becomes ``C[floor(Phi(z_i0) K)]`` (``Phi(z_i0)`` is uniform, so every
  code is equally likely). Train, grid and evaluation share the run's codebook.
- ``bits-b``: b bits per dimension. Each coordinate is replaced by the midpoint (in
  probability) of its quantile bin: ``Phi^-1((floor(Phi(z) 2^b) + 1/2) / 2^b)``.
- ``rank-r``: latents on an r-dimensional subspace. ``z -> sqrt(d / r) Q Q^T z`` with a
  per-run orthonormal basis ``Q (d, r)``; the scale keeps ``E|z|^2 = d``.
- ``scale-P``: wrong scale, ``z -> (P / 100) z`` (``scale-50`` is sigma 0.5).

Codebook and basis are drawn from the run's own auxiliary prng stream
(:func:`qgan.noise.streams.rung_noise`), so a rung is a pure function of (seed, prng noise).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qgan.core.errors import QganError

KINDS = {  # kind -> (allowed n, what the rung is)
    "distinct": ((1, 10 ** 9), "only K distinct latent vectors"),
    "bits": ((1, 23), "b bits per latent dimension"),
    "rank": ((1, 10 ** 6), "latents on an r-dimensional subspace"),
    "scale": ((1, 10_000), "latents scaled by P/100"),
}
RUNG_NAME = re.compile(r"(distinct|bits|rank|scale)-(\d+)")


class RungError(QganError):
    """A rung name that cannot be used: ``allowed`` says what can (params quotes it in its own line)."""

    def __init__(self, name: str, allowed: str):
        super().__init__(f"train.arms: {name}: {allowed}")
        self.name, self.allowed = name, allowed


@dataclass(frozen=True)
class Rung:
    kind: str  # one of KINDS
    n: int     # K, b, r or P

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.n}"

    @property
    def defect(self) -> str:
        """The defect in words (``"only K distinct latent vectors"``)."""
        return KINDS[self.kind][1]

    @property
    def what(self) -> str:
        return f"{self.defect} ({self.name}), from the prng arm's noise"

    def check_fits(self, latent_dim: int) -> None:
        """A rank-r rung needs r <= latent_dim; :class:`RungError` otherwise."""
        if self.kind == "rank" and self.n > latent_dim:
            raise RungError(self.name, f"rank at most latent_dim {latent_dim}")

    def aux_size(self, latent_dim: int) -> int:
        """Normals of the run's own auxiliary stream the rung needs: codebook or basis."""
        self.check_fits(latent_dim)
        return {"distinct": self.n * latent_dim, "rank": latent_dim * self.n}.get(self.kind, 0)


def parse_rung(name: str) -> Rung | None:
    """``"distinct-64"`` -> ``Rung("distinct", 64)``; None if ``name`` is no rung; a
    :class:`RungError` if it looks like one with an n out of range."""
    match = RUNG_NAME.fullmatch(str(name))
    if not match:
        return None
    kind, n = match.group(1), int(match.group(2))
    low, high = KINDS[kind][0]
    if not low <= n <= high:
        raise RungError(str(name), f"n must be in {low}..{high}")
    return Rung(kind, n)


def prepare(rung: Rung, aux: np.ndarray, latent_dim: int) -> np.ndarray | None:
    """The rung's fixed part from its auxiliary normals: codebook ``(K, d)`` or basis ``(d, r)``."""
    if rung.kind == "distinct":
        return aux.reshape(rung.n, latent_dim)
    if rung.kind == "rank":
        q, _ = np.linalg.qr(aux.reshape(latent_dim, rung.n).astype(np.float64))
        return q  # (d, r), orthonormal columns
    return None


def apply_defect(rung: Rung, z: np.ndarray, fixed: np.ndarray | None) -> np.ndarray:
    """The defect applied to prng latents ``z (B, d)`` float32 -> ``(B, d)`` float32."""
    from scipy.special import ndtr, ndtri  # here, so that naming a rung (params) does not load scipy

    if rung.kind == "distinct":
        index = np.minimum((ndtr(z[:, 0].astype(np.float64)) * rung.n).astype(np.int64), rung.n - 1)  # (B,)
        return np.ascontiguousarray(fixed[index], dtype=np.float32)
    if rung.kind == "bits":
        levels = float(1 << rung.n)
        u = (np.minimum(np.floor(ndtr(z.astype(np.float64)) * levels), levels - 1) + 0.5) / levels
        return ndtri(u).astype(np.float32)
    if rung.kind == "rank":
        d, r = fixed.shape
        return (np.sqrt(d / r) * (z.astype(np.float64) @ fixed) @ fixed.T).astype(np.float32)
    return (z * np.float32(rung.n / 100)).astype(np.float32)
