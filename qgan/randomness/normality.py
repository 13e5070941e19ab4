"""Do the converted normals look like N(0, 1)? Moments with standard errors, and five tests.

All statistics are computed against the fully specified N(0, 1), except where a test is
defined only for an unspecified normal (K^2, Jarque-Bera, Shapiro-Wilk test the shape).

- Moments over all n normals (streamed in float64 blocks), each with its standard error
  under N(0, 1) and ``z = (estimate - expected) / se``: mean (se ``1/sqrt(n)``), variance
  (``sqrt(2/n)``), skewness (``sqrt(6/n)``), excess kurtosis (``sqrt(24/n)``).
- Kolmogorov-Smirnov ``D = sup |F_n(x) - Phi(x)|`` (itself an effect size: the largest CDF gap).
- Anderson-Darling ``A^2 = -n - (1/n) sum_i (2i - 1) [ln Phi(x_(i)) + ln(1 - Phi(x_(n+1-i)))]``,
  with the asymptotic p-value of Marsaglia & Marsaglia (2004), accurate for n >= 100.
- D'Agostino-Pearson K^2 (skewness and kurtosis jointly) and Jarque-Bera.
- Shapiro-Wilk on at most 5,000 normals (scipy's p-value is unreliable above that).
- Tail mass: the count of ``|z| > 4`` against ``Binomial(n, 2 Phi(-4))`` (exact two-sided
  binomial test). The shape tests above barely see the tails, where quantised uniforms fail
  first (8-bit uniforms give only 256 radii, none beyond 3.53; Thomas et al. 2007 test
  Gaussian generators at high multiples of sigma for this reason).

The tests use ``size`` evenly spaced normals (every ``n // size``-th) so that the whole
range of the pool is represented; each result records the sample size it used.
"""
from __future__ import annotations

import warnings

import numpy as np

SHAPIRO_MAX = 5000     # largest sample for which scipy's Shapiro-Wilk p-value is reliable
TAIL = 4.0             # |z| beyond which the tail-mass test counts normals
BLOCK = 1 << 22        # normals per block when streaming the moments


def anderson_darling_pvalue(a2: float) -> float:
    """P(A^2 > a2) under the null, from Marsaglia & Marsaglia's ADinf approximation."""
    z = float(a2)
    if z <= 0:
        return 1.0
    if z < 2:
        cdf = np.exp(-1.2337141 / z) / np.sqrt(z) * (
            2.00012 + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z)
    else:
        cdf = np.exp(-np.exp(1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z) * z)
                                       * z) * z))
    return float(min(1.0, max(0.0, 1.0 - cdf)))


def anderson_darling_normal(x: np.ndarray) -> tuple[float, float]:
    """``A^2`` of ``(n,)`` values against N(0, 1), and its p-value."""
    from scipy.special import log_ndtr

    x = np.sort(np.asarray(x, dtype=np.float64))
    n = len(x)
    i = np.arange(1, n + 1)
    a2 = -n - np.sum((2 * i - 1) * (log_ndtr(x) + log_ndtr(-x[::-1]))) / n  # ln(1 - Phi(x)) = ln Phi(-x)
    return float(a2), anderson_darling_pvalue(a2)


def normals_to_moments(normals: np.ndarray) -> dict:
    """Streamed moments of the finite values, each ``{"value", "se", "z"}`` under N(0, 1)."""
    sums = np.zeros(4)
    nonfinite, max_abs = 0, 0.0
    for start in range(0, len(normals), BLOCK):
        x = np.asarray(normals[start:start + BLOCK], dtype=np.float64)
        finite = np.isfinite(x)
        nonfinite += int((~finite).sum())
        x = x[finite]
        max_abs = max(max_abs, float(np.abs(x).max(initial=0.0)))
        sums += [x.sum(), (x ** 2).sum(), (x ** 3).sum(), (x ** 4).sum()]
    m = len(normals) - nonfinite
    out = {"nonfinite": nonfinite, "max_abs": max_abs}
    if m < 2:
        return out
    s1, s2, s3, s4 = sums / m
    c2 = s2 - s1 ** 2
    c3 = s3 - 3 * s1 * s2 + 2 * s1 ** 3
    c4 = s4 - 4 * s1 * s3 + 6 * s1 ** 2 * s2 - 3 * s1 ** 4
    for name, value, expected, se in (("mean", s1, 0.0, np.sqrt(1 / m)), ("variance", c2, 1.0, np.sqrt(2 / m)),
                                      ("skewness", c3 / c2 ** 1.5, 0.0, np.sqrt(6 / m)),
                                      ("excess_kurtosis", c4 / c2 ** 2 - 3, 0.0, np.sqrt(24 / m))):
        out[name] = {"value": float(value), "se": float(se), "z": float((value - expected) / se)}
    return out


def evenly_spaced(values: np.ndarray, size: int) -> np.ndarray:
    """At most ``size`` values, every ``len // size``-th, as finite float64."""
    step = max(1, len(values) // size)
    x = np.asarray(values[::step][:size], dtype=np.float64)
    return x[np.isfinite(x)]


def _result(n: int, statistic: float, pvalue: float, **extra) -> dict:
    """A test result; a p-value that cannot be computed (constant data) counts as 0: rejected."""
    out = {"n": n, "statistic": float(statistic), "pvalue": float(pvalue) if np.isfinite(pvalue) else 0.0, **extra}
    if not np.isfinite(pvalue):
        out["degenerate"] = True
    return out


def normals_to_tests(normals: np.ndarray, size: int) -> dict:
    """Normality tests on evenly spaced normals: ``{name: {"n", "statistic", "pvalue"}}``.

    A test whose minimum sample size is not met is left out (KS, AD and tail mass need 1,
    K^2 needs 20, JB 2, Shapiro-Wilk 3).
    """
    from scipy import stats

    x = evenly_spaced(normals, size)
    tests = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # scipy warns on degenerate (constant) samples; the result says so
        if len(x) >= 1:
            tests["kolmogorov_smirnov"] = _result(len(x), *stats.kstest(x, "norm"))
            tests["anderson_darling"] = _result(len(x), *anderson_darling_normal(x))
        if len(x) >= 20:
            tests["dagostino_k2"] = _result(len(x), *stats.normaltest(x))
        if len(x) >= 2:
            tests["jarque_bera"] = _result(len(x), *stats.jarque_bera(x))
        small = evenly_spaced(normals, min(size, SHAPIRO_MAX))
        if len(small) >= 3:
            tests["shapiro_wilk"] = _result(len(small), *stats.shapiro(small))
        if len(x) >= 1:
            beyond, p_tail = int(np.count_nonzero(np.abs(x) > TAIL)), 2 * stats.norm.sf(TAIL)
            tests["tail_mass"] = _result(len(x), beyond, stats.binomtest(beyond, len(x), p_tail).pvalue,
                                         expected=float(len(x) * p_tail), threshold=TAIL)
    return tests
