"""Statistics of paired differences ``d_1..d_n`` (one per seed): intervals, tests, power.

Three intervals at level ``1 - alpha`` (``evaluate.inference``, :data:`qgan.core.metric_registry.INFERENCES`):

- **anytime** (the default; :func:`median_cs`): a confidence sequence for the *median* of the
  differences that assumes nothing of their distribution (skewed, heavy-tailed, with ties):
  only that seeds are independent draws. For a candidate median ``m``, the indicators
  ``1[d_i < m]`` are Bernoulli with ``p <= 1/2`` at any true median, and
  ``E_n(m) = int_{1/2}^1 prod_i (q / (1/2))^{x_i} ((1 - q) / (1/2))^{1 - x_i} 2 dq``
  (a likelihood ratio mixed over ``q`` uniform on ``[1/2, 1]``) is a nonnegative supermartingale
  there (each factor has expectation ``2(pq + (1-p)(1-q)) <= 1`` for ``p <= 1/2 <= q``); so is the
  same process for ``1[d_i > m]``. By Ville's inequality neither reaches ``2 / alpha`` at any n
  with probability more than ``alpha / 2``. ``E_n`` depends on the count ``k`` of indicators only:
  ``E(n, k) = 2^(n+1) B(k+1, n-k+1) I_(1/2)(n-k+1, k+1)``, increasing in ``k``; with ``K`` the
  largest ``k`` with ``E(n, k) < 2 / alpha`` (:func:`sign_bound`), the sequence is the order
  statistics ``[d_(n-K), d_(K+1)]``, unbounded while ``K >= n`` (below 8 seeds at alpha 0.05).
  (Howard & Ramdas 2022 for confidence sequences of quantiles; Waudby-Smith & Ramdas 2023 for
  the betting view.)
- **fixed n** (:func:`t_interval`): Student's ``dbar +- t_(1-alpha/2, n-1) s / sqrt(n)`` for the
  mean; valid only if n was fixed before looking at the data (and for Gaussian-like differences).
- **anytime_gaussian** (:func:`confidence_sequence`): a confidence sequence for the mean of
  Gaussian differences, ``P(exists n: mu not in
  CS_n) <= alpha``, so the interval at whatever n a user stops at (after any number of looks, for
  any reason) still covers with probability ``1 - alpha``. It inverts the scale-invariant Bayes
  factor of the one-sample t-test with a normal prior ``N(0, g)`` on the standardised effect
  ``(mu - mu0) / sigma`` and the right-Haar prior ``1/sigma`` on the scale (Rouder et al. 2009's
  closed form; Lai 1976; Wang & Ramdas 2023, "Anytime-valid t-tests and confidence sequences for
  Gaussian means with unknown variance"; Perez-Ortiz et al. 2024, group invariance):

      B_n(mu0) = r^(-1/2) * [(1 + t^2/nu) / (1 + t^2/(r nu))]^((nu+1)/2),
      t = sqrt(n) (dbar - mu0) / s,  nu = n - 1,  r = 1 + n g.

  Under ``mu = mu0`` the sequence ``B_n`` is a nonnegative martingale (it is the likelihood ratio
  of the scale-invariant reduction of the data), so by Ville's inequality
  ``P(sup_n B_n >= 1/alpha) <= alpha``. ``CS_n = {mu0: B_n(mu0) < 1/alpha}`` solves in closed
  form: with ``K = (sqrt(r)/alpha)^(2/(nu+1))``, ``CS_n = dbar +- (s/sqrt(n)) sqrt(nu (K-1)/(1-K/r))``
  when ``K < r``, else the whole line (too few seeds to exclude anything).

Its data model is Gaussian differences with unknown variance: skewed differences break it
(``tests/core/test_stats.py`` shows a lognormal case), which is why it is not the default. The
tests check every interval's coverage, and the error rates of the verdicts built on them, by
simulation on Gaussian, heavy-tailed, skewed, contaminated and tied differences.
"""
from __future__ import annotations

import functools
import math

import numpy as np

PRIOR_G = 0.5  # variance of the CS's normal prior on the standardised effect: tightest around n = 20-50
BOOTSTRAP = 9_999  # BCa bootstrap resamples (scipy.stats.bootstrap)
BOOTSTRAP_MIN_N = 10  # a bootstrap over fewer seeds under-covers (75% at n = 3): not shown below this


def holm(pvalues: dict[str, float], alpha: float) -> dict[str, tuple[float, bool]]:
    """Holm's step-down over the finite p-values: adjusted ``max_{j <= i} min(1, (m - j + 1) p_(j))``
    and whether it is at most ``alpha``. A NaN p-value (a test that could not run) is reported as
    NaN, never rejects and does not count in ``m``, so it cannot change the others."""
    finite = {k: p for k, p in pvalues.items() if p is not None and math.isfinite(p)}
    names = sorted(finite, key=finite.get)
    m, running = len(names), 0.0
    out = {k: (float("nan"), False) for k in pvalues if k not in finite}
    for i, name in enumerate(names):
        running = max(running, min(1.0, (m - i) * finite[name]))
        out[name] = (running, running <= alpha)
    return out


def t_halfwidth(d: np.ndarray, alpha: float) -> float:
    """Half-width ``t_(1-alpha/2, n-1) s / sqrt(n)`` of the Student-t interval of the mean of ``d (n,)``, n >= 2."""
    from scipy import stats

    n, sd = len(d), float(np.std(d, ddof=1))
    return float(stats.t.ppf(1 - alpha / 2, n - 1)) * sd / math.sqrt(n)


def t_interval(d: np.ndarray, alpha: float) -> tuple[float, float]:
    """Student-t ``1 - alpha`` interval of the mean of ``d (n,)``, n >= 2."""
    mean, half = float(np.mean(d)), t_halfwidth(d, alpha)
    return mean - half, mean + half


def cs_halfwidth_factor(n: np.ndarray | int, alpha: float, g: float = PRIOR_G) -> np.ndarray:
    """The confidence sequence's half-width in units of ``s``: ``sqrt(nu (K-1)/(1-K/r) / n)``
    (inf where ``K >= r``); vectorised over ``n``."""
    n = np.asarray(n, dtype=np.float64)
    nu, r = n - 1, 1 + n * g
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = (np.sqrt(r) / alpha) ** (2 / (nu + 1))
        u = np.where(k < r, (k - 1) / (1 - k / r), np.inf)
        return np.where(n >= 2, np.sqrt(nu * u / n), np.inf)


def confidence_sequence(d: np.ndarray, alpha: float, g: float = PRIOR_G) -> tuple[float, float]:
    """The anytime-valid ``1 - alpha`` interval for the mean of ``d (n,)`` at its current n."""
    mean = float(np.mean(d))
    half = float(cs_halfwidth_factor(len(d), alpha, g)) * float(np.std(d, ddof=1))
    return mean - half, mean + half


def sign_bound(n: np.ndarray | int, alpha: float) -> np.ndarray:
    """``K(n)``: the largest count ``k`` (of differences below, or above, a candidate median) whose
    e-value ``E(n, k)`` stays below ``2 / alpha``; ``K >= n`` means the sequence is not yet bounded.
    Vectorised over ``n``."""
    return np.array([_sign_bound(int(m), float(alpha)) for m in np.atleast_1d(n)], dtype=np.int64)


@functools.lru_cache(maxsize=4096)
def _sign_bound(n: int, alpha: float) -> int:
    from scipy.special import betainc, betaln

    k = np.arange(n + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_e = (n + 1) * math.log(2) + betaln(k + 1, n - k + 1) + np.log(betainc(n - k + 1, k + 1, 0.5))
    return int(np.flatnonzero(log_e < math.log(2 / alpha))[-1])


def median_cs(d: np.ndarray, alpha: float) -> tuple[float, float]:
    """The anytime-valid, distribution-free ``1 - alpha`` interval for the median of ``d (n,)``:
    ``[d_(n-K), d_(K+1)]`` with ``K = sign_bound(n)`` (the whole line while ``K >= n``)."""
    n = len(d)
    k = int(sign_bound(n, alpha)[0]) if n else 0
    if k >= n:
        return -math.inf, math.inf
    s = np.sort(np.asarray(d, dtype=np.float64))
    return float(s[n - k - 1]), float(s[k])


ESTIMANDS = {"anytime": "median", "anytime_gaussian": "mean", "fixed": "mean"}  # what each interval is for


def estimate(d: np.ndarray, inference: str) -> float:
    """The point estimate ``inference``'s interval is about: the median or the mean of ``d``."""
    return float(np.median(d) if ESTIMANDS[inference] == "median" else np.mean(d))


def interval(d: np.ndarray, alpha: float, inference: str) -> tuple[float, float]:
    """``1 - alpha`` interval: ``anytime`` (distribution-free, median), ``anytime_gaussian``
    (confidence sequence for the mean of Gaussian differences) or ``fixed`` (Student t)."""
    if inference not in ESTIMANDS:
        raise ValueError(f"inference {inference!r} is not one of {', '.join(ESTIMANDS)}")
    if inference == "anytime":
        return median_cs(d, alpha)
    return confidence_sequence(d, alpha) if inference == "anytime_gaussian" else t_interval(d, alpha)


def t_pvalue(d: np.ndarray) -> float:
    """Two-sided paired t-test of mean 0. With sd 0 the test is degenerate: 1.0 when every
    difference is 0, else 0.0 (a constant nonzero difference: as significant as can be)."""
    from scipy import stats

    if np.std(d) == 0:
        return 1.0 if np.mean(d) == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def tost_pvalue(d: np.ndarray, delta: float) -> float:
    """TOST: the larger of the one-sided t-tests of ``mu <= -delta`` and ``mu >= delta``."""
    from scipy import stats

    n, mean, sd = len(d), float(np.mean(d)), float(np.std(d, ddof=1))
    if sd == 0:
        return 0.0 if abs(mean) < delta else 1.0
    se = sd / math.sqrt(n)
    return float(max(stats.t.sf((mean + delta) / se, n - 1), stats.t.cdf((mean - delta) / se, n - 1)))


def wilcoxon_pvalue(d: np.ndarray, alpha: float) -> float | None:
    """Exact signed-rank p, or None where it cannot reject: its smallest two-sided p is ``2/2^n``."""
    from scipy import stats

    if 2.0 / 2 ** len(d) > alpha or not np.any(d != 0):
        return None
    return float(stats.wilcoxon(d).pvalue)


def bca_interval(d: np.ndarray, alpha: float, seed: int = 0) -> tuple[float, float] | None:
    """BCa bootstrap ``1 - alpha`` interval of the mean (resampling seeds), or None below
    :data:`BOOTSTRAP_MIN_N` seeds, where percentile-type intervals under-cover."""
    from scipy import stats

    if len(d) < BOOTSTRAP_MIN_N or np.std(d) == 0:
        return None
    res = stats.bootstrap((d,), np.mean, confidence_level=1 - alpha, n_resamples=BOOTSTRAP, method="BCa",
                          random_state=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None  # degenerate resamples


def sd_interval(sd: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Chi-square interval of the population sd from a sample sd on ``n - 1`` degrees of freedom."""
    from scipy import stats

    nu = n - 1
    return (sd * math.sqrt(nu / stats.chi2.ppf(0.5 + level / 2, nu)),
            sd * math.sqrt(nu / stats.chi2.ppf(0.5 - level / 2, nu)))
