"""Entropy bytes to standard normals: an exact, documented, streaming conversion.

The conversion is a pure function of (bytes, ``bits``, ``method``):

1. Each group of ``w = ceil(bits / 8)`` bytes, big-endian, gives an integer ``k`` in
   ``[0, 2^bits)``: the whole group for bits 8, 16, 24, 32; the top 53 of 56 bits for 53.
   No entropy bit is wasted beyond rounding up to whole bytes.
2. ``u = (k + 0.5) / 2^bits``, strictly inside (0, 1): ``log(u)`` and ``Phi^{-1}(u)`` are
   finite (the tutorial's ``byte / 255`` reaches 0 and gives infinities).
   ``u`` is held exactly as its distance to the nearer end, ``v = min(u, 1 - u) =
   (min(k, 2^bits - 1 - k) + 0.5) / 2^bits`` in (0, 1/2), plus the side (``k >= 2^(bits-1)``):
   ``v`` needs only ``bits`` significant bits, so float64 holds it exactly for every
   allowed ``bits`` (and float32 for bits <= 24), where ``u`` itself would round to 1.
3. ``box_muller`` (default) turns consecutive pairs ``(u1, u2)`` into::

       z1 = sqrt(-2 ln u1) cos(2 pi u2),   z2 = sqrt(-2 ln u1) sin(2 pi u2)

   two independent N(0, 1); normals 2j and 2j+1 depend only on bytes ``[2jw, 2(j+1)w)``.
   ``inverse_cdf``: ``z = Phi^{-1}(u)`` (``scipy.special.ndtri``); normal i depends only
   on bytes ``[iw, (i+1)w)``. Either way a byte offset maps to a noise offset.

Two implementations, one per (bits, method): Box-Muller with bits <= 24 runs in float32 over
blocks of 32,768 pairs (the speed path; it agrees with the float64 evaluation within 4e-6);
everything else is evaluated in float64. Results are stored as float32. Both are
deterministic for a given numpy build and CPU instruction set.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qgan.core.atomic import atomic_path
from qgan.core.errors import QganError

CONVERT_BITS = (8, 16, 24, 32, 53)                # bits per uniform (``convert.bits``)
CONVERT_METHODS = ("box_muller", "inverse_cdf")   # uniform -> normal (``convert.method``)
CHUNK_NORMALS = 1 << 22  # normals converted per read when streaming a pool file
BLOCK_PAIRS = 1 << 15    # Box-Muller pairs per float32 block: amortises numpy call overhead, ~1 MiB of buffers
NEAR_ONE = 6             # u1 within 2^-6 of 1: ln u1 is recomputed as log1p(-v1) in float64


def bytes_per_uniform(bits: int) -> int:
    """Bytes of entropy each uniform (and so each normal) consumes: ``ceil(bits / 8)``."""
    if bits not in CONVERT_BITS:
        raise QganError(f"convert.bits: {bits!r} is not allowed (one of {', '.join(map(str, CONVERT_BITS))})")
    return -(-bits // 8)


def normals_in_pool(n_bytes: int, bits: int, method: str = "box_muller") -> int:
    """How many normals ``n_bytes`` give: one per uniform, in whole pairs for Box-Muller."""
    if method not in CONVERT_METHODS:
        raise QganError(f"convert.method: {method!r} is not allowed (box_muller, inverse_cdf)")
    n = n_bytes // bytes_per_uniform(bits)
    return n - n % 2 if method == "box_muller" else n


def normals_to_bytes(n_normals: int, bits: int) -> int:
    """Pool bytes that yield ``n_normals`` (rounded up to even: Box-Muller makes them in pairs)."""
    return (n_normals + n_normals % 2) * bytes_per_uniform(bits)


def bytes_to_integers(data: np.ndarray, bits: int) -> np.ndarray:
    """``(n_bytes,) uint8 -> (n_bytes // w,) uint64`` integers ``k`` in ``[0, 2^bits)``."""
    if data.dtype != np.uint8 or data.ndim != 1:
        raise QganError(f"entropy must be a 1-D uint8 array, got {data.dtype} {data.shape}")
    width = bytes_per_uniform(bits)
    groups = data[: len(data) // width * width].reshape(-1, width)
    k = np.zeros(len(groups), dtype=np.uint64)
    for j in range(width):  # big-endian: the first byte is the most significant
        k = (k << np.uint64(8)) | groups[:, j]
    return k >> np.uint64(8 * width - bits)  # 53 bits: drop the 3 lowest of 56


def integers_to_uniforms(k: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` -> ``u = (k + 0.5) / 2^bits`` held exactly as ``(v, upper)``: ``(n,) float64`` in
    (0, 1/2) and ``(n,) bool``, with ``u = 1 - v`` where ``upper`` and ``u = v`` elsewhere."""
    top = np.uint64((1 << bits) - 1)
    upper = k >= np.uint64(1 << (bits - 1))
    m = np.where(upper, top - k, k)
    return (m.astype(np.float64) + 0.5) * 2.0 ** -bits, upper


def bytes_to_normals_float64(data: np.ndarray, bits: int, method: str) -> np.ndarray:
    """The conversion evaluated in float64 from the exact ``(v, upper)`` form; ``(n,) float64``."""
    v, upper = integers_to_uniforms(bytes_to_integers(data, bits), bits)
    if method == "inverse_cdf":
        from scipy.special import ndtri
        z = ndtri(v)                       # Phi^-1(1 - v) = -Phi^-1(v)
        return np.where(upper, -z, z)
    ln_u1 = np.where(upper[0::2], np.log1p(-v[0::2]), np.log(v[0::2]))
    radius = np.sqrt(-2.0 * ln_u1)
    angle = 2.0 * np.pi * v[1::2]          # cos(2 pi (1 - v)) = cos(2 pi v), sin flips sign
    z = np.empty(len(v))
    z[0::2] = radius * np.cos(angle)
    z[1::2] = np.where(upper[1::2], -1.0, 1.0) * radius * np.sin(angle)
    return z


def _box_muller_float32(data: np.ndarray, bits: int) -> np.ndarray:
    """Box-Muller for bits <= 24 in float32, one block of pairs at a time.

    ``u1`` and ``u2`` are exact in float32 below 1/2; above, ``k + 0.5`` rounds by at most
    2^-25 relative, and where ``u1 > 1 - 2^-6`` (so ``ln u1`` would lose digits) the log is
    recomputed exactly as ``log1p(-v1)``. ``(n_pairs * 2w,) uint8 -> (2 n_pairs,) float32``.
    """
    width = bits // 8
    n_pairs = len(data) // (2 * width)
    out = np.empty(2 * n_pairs, dtype=np.float32)
    scale, turn = np.float32(2.0 ** -bits), np.float32(2 * np.pi * 2.0 ** -bits)
    near_one = (1 << bits) - (1 << (bits - NEAR_ONE))
    padded = np.zeros(BLOCK_PAIRS * 2 * width + 3, dtype=np.uint8)  # 3 spare bytes for the last read
    k1, k2 = np.empty(BLOCK_PAIRS, dtype=np.uint32), np.empty(BLOCK_PAIRS, dtype=np.uint32)
    r, a, t = (np.empty(BLOCK_PAIRS, dtype=np.float32) for _ in range(3))
    for start in range(0, n_pairs, BLOCK_PAIRS):
        n = min(BLOCK_PAIRS, n_pairs - start)
        padded[:2 * width * n] = data[2 * width * start:2 * width * (start + n)]
        for k, offset in ((k1, 0), (k2, width)):  # big-endian 4-byte reads, top `bits` kept
            window = np.ndarray((n,), dtype=">u4", buffer=padded, offset=offset, strides=(2 * width,))
            np.right_shift(window, 32 - bits, out=k[:n])
        rb, ab, tb = r[:n], a[:n], t[:n]
        np.add(k1[:n], np.float32(0.5), out=rb, dtype=np.float32)  # u1 = (k1 + 0.5) 2^-bits
        np.multiply(rb, scale, out=rb)
        np.log(rb, out=rb)
        fix = np.flatnonzero(k1[:n] >= near_one)
        if len(fix):
            v1 = ((1 << bits) - 0.5 - k1[fix].astype(np.float64)) * 2.0 ** -bits
            rb[fix] = np.log1p(-v1)
        np.multiply(rb, np.float32(-2.0), out=rb)
        np.sqrt(rb, out=rb)                          # radius sqrt(-2 ln u1)
        np.add(k2[:n], np.float32(0.5), out=ab, dtype=np.float32)  # angle 2 pi u2
        np.multiply(ab, turn, out=ab)
        o = out[2 * start:2 * (start + n)]
        np.cos(ab, out=tb)
        np.multiply(rb, tb, out=o[0::2])
        np.sin(ab, out=tb)
        np.multiply(rb, tb, out=o[1::2])
    return out


def bytes_to_normals(data: np.ndarray, bits: int, method: str = "box_muller") -> np.ndarray:
    """``(n_bytes,) uint8 -> (normals_in_pool(n_bytes, bits, method),) float32`` standard normals."""
    n = normals_in_pool(len(data), bits, method)
    if data.dtype != np.uint8 or data.ndim != 1:
        raise QganError(f"entropy must be a 1-D uint8 array, got {data.dtype} {data.shape}")
    used = data[:n * bytes_per_uniform(bits)]
    if method == "box_muller" and bits <= 24:
        return _box_muller_float32(used, bits)
    return bytes_to_normals_float64(used, bits, method).astype(np.float32)


def pool_to_normals_file(pool: Path, out: Path, bits: int, method: str,
                         chunk_normals: int = CHUNK_NORMALS, n_bytes: int | None = None) -> int:
    """Stream ``pool`` (its first ``n_bytes``; None: all) through :func:`bytes_to_normals`
    into a float32 ``.npy`` at ``out``.

    Reads and writes one chunk (``chunk_normals``, even) at a time with plain file I/O, so
    memory stays at a few chunks whatever the pool size (no memory map of the output); the
    file appears atomically. Returns the number of normals written.
    """
    size = pool.stat().st_size
    if n_bytes is not None and n_bytes > size:
        raise QganError(f"{pool}: holds {size:,} bytes, fewer than the {n_bytes:,} to convert")
    n = normals_in_pool(size if n_bytes is None else n_bytes, bits, method)
    if chunk_normals % 2:
        raise ValueError(f"chunk_normals must be even, got {chunk_normals}")
    read_bytes = chunk_normals * bytes_per_uniform(bits)  # an even number of uniforms per read
    with atomic_path(out) as tmp, open(tmp, "wb") as dst, open(pool, "rb") as src:
        np.lib.format.write_array_header_1_0(dst, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
        written = 0
        while written < n:
            z = bytes_to_normals(np.frombuffer(src.read(read_bytes), dtype=np.uint8), bits, method)
            if not len(z):
                raise QganError(f"{pool}: ended after {written:,} of {n:,} normals; was it changed while converting?")
            z = z[:n - written]
            dst.write(z.astype("<f4", copy=False).tobytes())
            written += len(z)
    return n


def load_normals(path: Path) -> np.ndarray:
    """``normals.npy`` memory-mapped read-only: ``(n,) float32``."""
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise QganError(f"{path}: not found; run the convert stage") from None
