"""Statistics on raw entropy bytes: NIST SP 800-22 tests, a byte chi^2, SP 800-90B min-entropy.

A bit sequence ``eps`` is a ``(n,) uint8`` array of 0/1, read from bytes most significant bit
first (``numpy.unpackbits``). ``X_i = 2 eps_i - 1``. Each SP 800-22 test (Rev. 1a, section 2)
returns ``{"statistic", "pvalue", ...parameters}``; ``igamc`` is the regularised upper
incomplete gamma function Q(a, x) and ``Phi`` the standard normal CDF.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erfc, gammaincc, ndtr, ndtri

# Longest run of ones (2.4): block length M -> (upper edges of the classes of the longest run,
# class probabilities pi_i). The first class is "<= first edge", the last ">= last edge".
# M = 8 exact (55, 94, 59, 48 / 256), M = 128 and 10^4 as in NIST's reference code.
LONGEST_RUN_CLASSES = {
    8: ((1, 2, 3, 4), (0.21484375, 0.3671875, 0.23046875, 0.1875)),
    128: ((4, 5, 6, 7, 8, 9), (0.1174035788, 0.242955959, 0.249363483, 0.17517706, 0.102701071, 0.112398847)),
    10_000: ((10, 11, 12, 13, 14, 15, 16), (0.0882, 0.2092, 0.2483, 0.1933, 0.1208, 0.0675, 0.0727)),
}
BLOCK_FREQUENCY_M = 128    # block length of the block frequency test (the NIST suite's default)
APPROX_ENTROPY_M = 10      # pattern length of approximate entropy (suite default), capped by n
SERIAL_M = 16              # pattern length of the serial test (suite default), capped by n


def bytes_to_bits(data: np.ndarray) -> np.ndarray:
    """``(n_bytes,) uint8 -> (8 n_bytes,) uint8`` bits, most significant first."""
    return np.unpackbits(np.asarray(data, dtype=np.uint8))


def frequency(eps: np.ndarray) -> dict:
    """2.1 monobit: ``s_obs = |sum X_i| / sqrt(n)``, ``p = erfc(s_obs / sqrt(2))``."""
    n = len(eps)
    s_obs = abs(2 * int(eps.sum()) - n) / np.sqrt(n)
    return {"statistic": float(s_obs), "pvalue": float(erfc(s_obs / np.sqrt(2)))}


def block_frequency(eps: np.ndarray, m: int = BLOCK_FREQUENCY_M) -> dict:
    """2.2: ``chi^2 = 4 M sum_j (pi_j - 1/2)^2`` over N = n // M blocks, ``p = igamc(N/2, chi^2/2)``."""
    blocks = len(eps) // m
    pi = eps[:blocks * m].reshape(blocks, m).mean(axis=1)
    chi2 = 4.0 * m * float(np.sum((pi - 0.5) ** 2))
    return {"statistic": chi2, "pvalue": float(gammaincc(blocks / 2, chi2 / 2)), "block": m, "blocks": blocks}


def runs(eps: np.ndarray) -> dict:
    """2.3: ``V_n = 1 + #{k: eps_k != eps_(k+1)}``,
    ``p = erfc(|V_n - 2 n pi (1 - pi)| / (2 sqrt(2n) pi (1 - pi)))``; p = 0 when the frequency
    prerequisite ``|pi - 1/2| < 2 / sqrt(n)`` fails."""
    n = len(eps)
    pi = float(eps.mean())
    v_obs = 1 + int(np.count_nonzero(eps[1:] != eps[:-1]))
    if abs(pi - 0.5) >= 2 / np.sqrt(n):
        return {"statistic": float(v_obs), "pvalue": 0.0}
    p = erfc(abs(v_obs - 2 * n * pi * (1 - pi)) / (2 * np.sqrt(2 * n) * pi * (1 - pi)))
    return {"statistic": float(v_obs), "pvalue": float(p)}


def longest_run_block(n: int) -> int:
    """The block length SP 800-22 prescribes for n bits: 8 (n >= 128), 128 (>= 6,272), 10^4 (>= 750,000)."""
    return 10_000 if n >= 750_000 else 128 if n >= 6272 else 8


def longest_run(eps: np.ndarray) -> dict:
    """2.4: the longest run of ones in each M-bit block, binned into K + 1 classes;
    ``chi^2 = sum (v_i - N pi_i)^2 / (N pi_i)``, ``p = igamc(K/2, chi^2/2)``."""
    m = longest_run_block(len(eps))
    edges, probs = LONGEST_RUN_CLASSES[m]
    blocks = len(eps) // m
    x = eps[:blocks * m].reshape(blocks, m).astype(np.int32)
    run = np.zeros(blocks, dtype=np.int32)
    longest = np.zeros(blocks, dtype=np.int32)
    for j in range(m):  # current run length per block, reset by a zero
        run = (run + 1) * x[:, j]
        np.maximum(longest, run, out=longest)
    counts = np.bincount(np.searchsorted(edges, np.clip(longest, edges[0], edges[-1])), minlength=len(edges))
    expected = blocks * np.asarray(probs)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    return {"statistic": chi2, "pvalue": float(gammaincc((len(edges) - 1) / 2, chi2 / 2)),
            "block": m, "counts": counts.tolist()}


def cumulative_sums(eps: np.ndarray, reverse: bool = False) -> dict:
    """2.13: ``z = max_k |S_k|`` of the partial sums of X (forward or reverse) and
    ``p = 1 - sum_k [Phi((4k+1)z/sqrt n) - Phi((4k-1)z/sqrt n)] + sum_k [Phi((4k+3)z/sqrt n) - Phi((4k+1)z/sqrt n)]``
    with k from ``(-n/z + 1)/4`` (first sum) or ``(-n/z - 3)/4`` (second) to ``(n/z - 1)/4``,
    each division an integer division truncated toward zero, as in NIST's reference code."""
    n = len(eps)
    x = 2 * eps.astype(np.int64) - 1
    z = int(np.abs(np.cumsum(x[::-1] if reverse else x)).max())
    root = np.sqrt(n)

    def div(a: int, b: int) -> int:  # C integer division
        return abs(a) // b * (1 if a >= 0 else -1)

    top = div(div(n, z) - 1, 4)
    k1 = np.arange(div(-div(n, z) + 1, 4), top + 1)
    k2 = np.arange(div(-div(n, z) - 3, 4), top + 1)
    s1 = np.sum(ndtr((4 * k1 + 1) * z / root) - ndtr((4 * k1 - 1) * z / root))
    s2 = np.sum(ndtr((4 * k2 + 3) * z / root) - ndtr((4 * k2 + 1) * z / root))
    return {"statistic": float(z), "pvalue": float(min(1.0, max(0.0, 1.0 - s1 + s2)))}


def pattern_counts(eps: np.ndarray, m: int) -> np.ndarray:
    """Counts of the n overlapping m-bit patterns of ``eps`` extended cyclically by its first
    m - 1 bits: ``(2^m,) int64`` (pattern read most significant bit first)."""
    n = len(eps)
    if m == 0:
        return np.array([n])
    ext = np.concatenate([eps, eps[:m - 1]]).astype(np.int64)
    value = np.zeros(n, dtype=np.int64)
    for j in range(m):
        value = (value << 1) | ext[j:j + n]
    return np.bincount(value, minlength=1 << m)


def approximate_entropy(eps: np.ndarray, m: int = APPROX_ENTROPY_M) -> dict:
    """2.12: ``phi(m) = sum_i C_i ln C_i`` over cyclic m-bit pattern frequencies,
    ``ApEn = phi(m) - phi(m+1)``, ``chi^2 = 2n (ln 2 - ApEn)``, ``p = igamc(2^(m-1), chi^2/2)``."""
    n = len(eps)

    def phi(k: int) -> float:
        c = pattern_counts(eps, k) / n
        c = c[c > 0]
        return float(np.sum(c * np.log(c)))

    apen = phi(m) - phi(m + 1)
    chi2 = 2.0 * n * (np.log(2) - apen)
    return {"statistic": float(chi2), "pvalue": float(gammaincc(2 ** (m - 1), chi2 / 2)), "apen": apen, "m": m}


def serial(eps: np.ndarray, m: int = SERIAL_M) -> dict:
    """2.11: ``psi^2_m = (2^m / n) sum_i v_i^2 - n`` over cyclic m-bit pattern counts v_i;
    ``del1 = psi^2_m - psi^2_(m-1)``, ``del2 = psi^2_m - 2 psi^2_(m-1) + psi^2_(m-2)``;
    ``p1 = igamc(2^(m-2), del1/2)``, ``p2 = igamc(2^(m-3), del2/2)``. The reported p-value is p1,
    with p2 alongside."""
    n = len(eps)

    def psi2(k: int) -> float:
        if k <= 0:
            return 0.0
        v = pattern_counts(eps, k).astype(np.float64)
        return float(2 ** k / n * np.sum(v ** 2) - n)

    pm, pm1, pm2 = psi2(m), psi2(m - 1), psi2(m - 2)
    del1, del2 = pm - pm1, pm - 2 * pm1 + pm2
    return {"statistic": del1, "pvalue": float(gammaincc(2 ** (m - 2), del1 / 2)),
            "statistic2": del2, "pvalue2": float(gammaincc(2 ** (m - 3), del2 / 2)), "m": m}


def byte_histogram_chi2(counts: np.ndarray) -> dict:
    """Pearson chi^2 of a ``(256,)`` byte histogram against uniform, 255 degrees of freedom."""
    from scipy.stats import chi2

    total = int(counts.sum())
    expected = total / 256
    stat = float(np.sum((counts - expected) ** 2) / expected)
    return {"n": total, "statistic": stat, "df": 255, "pvalue": float(chi2.sf(stat, 255))}


def most_common_value_min_entropy(counts: np.ndarray) -> dict:
    """SP 800-90B 6.3.1: ``p_hat = max count / L``,
    ``p_u = min(1, p_hat + z_0.995 sqrt(p_hat (1 - p_hat) / (L - 1)))`` (z = 2.5758..., printed
    2.576), ``H = -log2 p_u`` bits per sample (per byte for a byte histogram)."""
    total = int(counts.sum())
    p_hat = float(counts.max()) / total
    p_u = min(1.0, p_hat + ndtri(0.995) * np.sqrt(p_hat * (1 - p_hat) / (total - 1)))
    return {"n": total, "p_max": p_hat, "p_upper": float(p_u), "bits_per_byte": float(-np.log2(p_u))}


def sp800_22_suite(eps: np.ndarray) -> dict:
    """The seven tests on one sequence, with pattern lengths capped as SP 800-22 requires
    (approximate entropy ``m < log2(n) - 5``, serial ``m < log2(n) - 2``). Needs n >= 128."""
    n = len(eps)
    if n < 128:
        raise ValueError(f"the SP 800-22 tests need at least 128 bits, got {n}")
    log2n = int(np.floor(np.log2(n)))
    return {"frequency": frequency(eps), "block_frequency": block_frequency(eps, min(BLOCK_FREQUENCY_M, n // 2)),
            "runs": runs(eps), "longest_run": longest_run(eps),
            "cumulative_sums_forward": cumulative_sums(eps), "cumulative_sums_reverse": cumulative_sums(eps, True),
            "approximate_entropy": approximate_entropy(eps, max(1, min(APPROX_ENTROPY_M, log2n - 6))),
            "serial": serial(eps, max(2, min(SERIAL_M, log2n - 3)))}
