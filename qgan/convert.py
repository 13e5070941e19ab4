"""Entropy bytes to standard normals, and the statistics that check them.

Conversion (a pure function of the bytes, ``bits`` and ``method``):

1. Pack each group of ``b = bits / 8`` bytes, big-endian, into an integer k in [0, 2^bits):
   no bit of a byte is thrown away.
2. ``u = (k + 0.5) / 2^bits``: strictly inside (0, 1), so ``log(u)`` is finite
   (the seed tutorial's ``byte / 255`` reaches 0 and gives infinities).
3. ``box_muller`` (default) on consecutive pairs (u1, u2)::

       z1 = sqrt(-2 ln u1) cos(2 pi u2),   z2 = sqrt(-2 ln u1) sin(2 pi u2)

   which are independent N(0, 1); normals 2j and 2j+1 depend only on bytes
   ``[2jb, 2(j+1)b)``. Or ``inverse_cdf``: ``z = Phi^{-1}(u)`` (``scipy.special.ndtri``),
   normal i from bytes ``[ib, (i+1)b)``. Either way a byte offset maps to a noise offset.

The arithmetic runs in float64 (``k + 0.5`` needs bits+1 mantissa bits) and the result
is stored as float32.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qgan.atomic import atomic_path
from qgan.errors import QganError

CHUNK_NORMALS = 1 << 22  # normals converted per block when streaming a pool file


def bytes_to_uniforms(data: np.ndarray, bits: int) -> np.ndarray:
    """``(n_bytes,) uint8 -> (n_bytes // (bits/8),) float64`` in (0, 1); trailing bytes ignored."""
    if data.dtype != np.uint8 or data.ndim != 1:
        raise QganError(f"entropy must be a 1-D uint8 array, got {data.dtype} {data.shape}")
    if bits % 8 or not 8 <= bits <= 32:
        raise QganError(f"convert.bits: {bits} is not allowed (8, 16, 24 or 32)")
    width = bits // 8
    groups = data[: len(data) // width * width].reshape(-1, width)
    k = np.zeros(len(groups), dtype=np.uint64)
    for j in range(width):  # big-endian: first byte is the most significant
        k = (k << np.uint64(8)) | groups[:, j]
    return (k.astype(np.float64) + 0.5) * 2.0 ** -bits


def uniforms_to_normals(u: np.ndarray) -> np.ndarray:
    """Box-Muller: ``(2m,) float64`` uniforms in (0, 1) -> ``(2m,) float32`` normals."""
    if len(u) % 2:
        raise QganError(f"Box-Muller needs an even number of uniforms, got {len(u)}")
    radius = np.sqrt(-2.0 * np.log(u[0::2]))
    angle = 2.0 * np.pi * u[1::2]
    out = np.empty(len(u), dtype=np.float32)
    out[0::2] = radius * np.cos(angle)
    out[1::2] = radius * np.sin(angle)
    return out


def bytes_to_normals(data: np.ndarray, bits: int, method: str = "box_muller") -> np.ndarray:
    """``(n_bytes,) uint8 -> (normals_in_pool(n_bytes, bits, method),) float32`` standard normals."""
    n = normals_in_pool(len(data), bits, method)
    uniforms = bytes_to_uniforms(data[:n * (bits // 8)], bits)
    if method == "inverse_cdf":
        from scipy.special import ndtri
        return ndtri(uniforms).astype(np.float32)
    return uniforms_to_normals(uniforms)


def normals_in_pool(n_bytes: int, bits: int, method: str = "box_muller") -> int:
    """How many normals ``n_bytes`` of entropy give: one per ``bits/8`` bytes, in whole
    pairs for Box-Muller."""
    if method not in ("box_muller", "inverse_cdf"):
        raise QganError(f"convert.method: {method!r} is not allowed (box_muller, inverse_cdf)")
    n = n_bytes // (bits // 8)
    return n - n % 2 if method == "box_muller" else n


def pool_to_normals_file(pool: Path, out: Path, bits: int, method: str,
                         chunk_normals: int = CHUNK_NORMALS) -> int:
    """Stream ``pool`` through :func:`bytes_to_normals` into a float32 ``.npy`` at ``out``.

    Memory stays at one block (``chunk_normals``, even) whatever the pool size; the file
    appears atomically. Returns the number of normals written.
    """
    size = pool.stat().st_size
    n = normals_in_pool(size, bits, method)
    if chunk_normals % 2:
        raise ValueError(f"chunk_normals must be even, got {chunk_normals}")
    block_bytes = chunk_normals * (bits // 8)  # an even number of uniforms per block
    with atomic_path(out) as tmp:
        normals = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n,))
        with open(pool, "rb") as fh:
            for start in range(0, n, chunk_normals):
                block = np.frombuffer(fh.read(block_bytes), dtype=np.uint8)
                z = bytes_to_normals(block, bits, method)
                normals[start:start + len(z)] = z
        normals.flush()
        del normals
    return n


def load_normals(path: Path) -> np.ndarray:
    """``normals.npy`` memory-mapped read-only: ``(n,) float32``."""
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise QganError(f"{path}: not found; run the convert stage") from None


def normals_to_stats(normals: np.ndarray, ks_size: int) -> dict:
    """Moments of all normals (with their standard errors under N(0,1)) and a KS test.

    Moments stream over blocks in float64. Standard errors under N(0, 1) for n draws:
    mean 1/sqrt(n), variance sqrt(2/n), skewness sqrt(6/n), excess kurtosis sqrt(24/n).
    The Kolmogorov-Smirnov test uses ``ks_size`` evenly spaced normals. Fewer than two
    normals (no run reads the pool) give only ``{"n": n}``.
    """
    from scipy import stats

    n = len(normals)
    if n < 2:
        return {"n": n}
    sums = np.zeros(4)
    nonfinite, max_abs = 0, 0.0
    for start in range(0, n, CHUNK_NORMALS):
        x = np.asarray(normals[start:start + CHUNK_NORMALS], dtype=np.float64)
        finite = np.isfinite(x)
        nonfinite += int((~finite).sum())
        x = x[finite]
        max_abs = max(max_abs, float(np.abs(x).max(initial=0.0)))
        sums += [x.sum(), (x ** 2).sum(), (x ** 3).sum(), (x ** 4).sum()]
    m = n - nonfinite
    mean = sums[0] / m
    central2 = sums[1] / m - mean ** 2
    central3 = sums[2] / m - 3 * mean * sums[1] / m + 2 * mean ** 3
    central4 = sums[3] / m - 4 * mean * sums[2] / m + 6 * mean ** 2 * sums[1] / m - 3 * mean ** 4
    step = max(1, n // ks_size)
    sample = np.asarray(normals[::step][:ks_size], dtype=np.float64)
    ks = stats.kstest(sample[np.isfinite(sample)], "norm")
    return {"n": n, "nonfinite": nonfinite, "max_abs": max_abs,
            "mean": float(mean), "mean_se": 1 / np.sqrt(m),
            "variance": float(central2), "variance_se": float(np.sqrt(2 / m)),
            "skewness": float(central3 / central2 ** 1.5), "skewness_se": float(np.sqrt(6 / m)),
            "excess_kurtosis": float(central4 / central2 ** 2 - 3), "excess_kurtosis_se": float(np.sqrt(24 / m)),
            "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue), "ks_n": int(len(sample))}
