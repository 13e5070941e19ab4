"""Power, minimum detectable effect and seeds needed for the paired design, per inference.

Everything is in units of the metric: ``sd`` is the sd of the paired differences (one per seed),
``delta`` the equivalence margin. Two questions are asked of a design of n seeds at level alpha:

- *detect*: the chance that the interval excludes 0 when the true difference is ``effect``;
- *equivalence*: the chance that the interval lies inside ``(-delta, delta)`` when the true
  difference is 0.

For ``fixed`` inference, detection power is the noncentral t's (statsmodels ``TTestPower``);
equivalence is TOST, i.e. the ``1 - 2 alpha`` t interval inside the margin. For the anytime
inferences the interval is a confidence sequence of :mod:`qgan.core.stats` (the distribution-free
one for the median, or the Gaussian one for the mean); both chances come from a seeded
simulation of Gaussian differences at the pilot's sd (:data:`REPS` studies, common random numbers
across effects: a plan assumes Gaussian spread, the verdict does not), counting a study as a
success at n if the interval at n decides. The sign-based sequence decides from counts alone:
it excludes 0 when more than ``K(n)`` differences lie on one side of it, and lies inside the
margin when at most ``n - K - 1`` differences are ``<= -delta`` and more than ``K`` are ``< delta``.
"""
from __future__ import annotations

import math

import numpy as np

from qgan.core.stats import cs_halfwidth_factor, sd_interval, sign_bound

REPS = 4000     # simulated studies per power estimate
N_MAX = 400     # largest design considered ("more than 400 seeds" beyond)
SIM_SEED = 12345  # the simulations' seed (results are reproducible)


def cs_min_seeds(alpha: float, inference: str) -> int:
    """The fewest seeds at which ``inference``'s interval is bounded: 8 for the distribution-free
    sequence at alpha 0.05, 6 for the Gaussian one, 2 for a fixed-n t interval."""
    n = np.arange(2, N_MAX + 1)
    if inference == "anytime":
        return int(n[sign_bound(n, alpha) < n][0])
    if inference == "anytime_gaussian":
        return int(n[np.isfinite(cs_halfwidth_factor(n, alpha))][0])
    return 2


def _sign_decisions(d: np.ndarray, delta: float, alpha: float) -> dict[str, np.ndarray]:
    """Whether the sign-based sequence at n = 2..n_max excludes 0 and lies inside ``(-delta, delta)``,
    for differences ``d (reps, n_max)`` seen in order: ``(reps, n_max - 1)`` booleans each."""
    n = np.arange(1, d.shape[1] + 1)
    k = sign_bound(n, alpha)  # (n_max,)
    bounded = k < n
    below, above = np.cumsum(d < 0, 1), np.cumsum(d > 0, 1)
    low_in, high_in = np.cumsum(d <= -delta, 1) <= n - k - 1, np.cumsum(d < delta, 1) >= k + 1
    detect = bounded & ((below >= k + 1) | (above >= k + 1))
    return {"detect": detect[:, 1:], "equivalent": (bounded & low_in & high_in)[:, 1:]}


def _fixed_factor(n: np.ndarray, alpha: float) -> np.ndarray:
    from scipy import stats

    return stats.t.ppf(1 - alpha / 2, n - 1) / np.sqrt(n)


def _draws(n_max: int, reps: int = REPS, seed: int = SIM_SEED) -> np.ndarray:
    """The simulated studies' standard normal draws ``(reps, n_max)`` (the same for every effect)."""
    return np.random.default_rng(seed).standard_normal((reps, n_max))


def _running(n_max: int, reps: int = REPS, seed: int = SIM_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Running means and sds ``(reps, n_max - 1)`` at n = 2..n_max of standard normal draws."""
    z = _draws(n_max, reps, seed)
    n = np.arange(1, n_max + 1)
    csum, csq = np.cumsum(z, 1), np.cumsum(z * z, 1)
    mean = csum / n
    var = (csq - n * mean ** 2) / np.maximum(n - 1, 1)
    return mean[:, 1:], np.sqrt(np.maximum(var[:, 1:], 0))


def decision_rates(effect: float, sd: float, delta: float, alpha: float, inference: str,
                   n_max: int = N_MAX) -> dict[str, np.ndarray]:
    """For n = 2..n_max: the chance that the interval at n excludes 0 (``detect``) and that it
    lies inside the margin (``equivalent``), when the true mean difference is ``effect``."""
    n = np.arange(2, n_max + 1)
    if inference == "anytime":
        decided = _sign_decisions(effect + sd * _draws(n_max), delta, alpha)
        return {"n": n, "detect": decided["detect"].mean(0), "equivalent": decided["equivalent"].mean(0)}
    mean, s = _running(n_max)
    mean, s = effect + sd * mean, sd * s
    if inference == "anytime_gaussian":
        half_d = half_e = cs_halfwidth_factor(n, alpha) * s
    else:
        half_d, half_e = _fixed_factor(n, alpha) * s, _fixed_factor(n, 2 * alpha) * s  # TOST = 1-2a interval
    return {"n": n, "detect": (np.abs(mean) > half_d).mean(0),
            "equivalent": (np.abs(mean) + half_e < delta).mean(0)}


def seeds_needed(sd: float, delta: float, alpha: float, inference: str, power: float = 0.8) -> dict:
    """Seeds for power ``power`` to detect a true difference of ``delta``, and to show
    equivalence within ``delta`` when the truth is 0: ``{"detect": n, "equivalent": n}``
    (None: more than :data:`N_MAX`)."""
    if not sd > 0:  # no spread: decided as soon as the interval is bounded at all
        return {"detect": cs_min_seeds(alpha, inference), "equivalent": cs_min_seeds(alpha, inference)}
    if inference == "fixed":
        from statsmodels.stats.power import TTestPower

        try:
            detect = math.ceil(TTestPower().solve_power(effect_size=delta / sd, alpha=alpha, power=power,
                                                        alternative="two-sided"))
        except (ValueError, RuntimeError):
            detect = None
        detect = None if detect is None or detect > N_MAX else max(2, detect)
    else:
        detect = _first(decision_rates(delta, sd, delta, alpha, inference)["detect"], power)
    return {"detect": detect, "equivalent": _first(decision_rates(0.0, sd, delta, alpha, inference)["equivalent"],
                                                   power)}


def seeds_needed_over_sd(sd: float, n: int, delta: float, alpha: float, inference: str, power: float = 0.8
                         ) -> tuple[tuple[float, float], dict[str, dict]]:
    """:func:`seeds_needed` at a pilot's sd (of ``n`` paired differences) and at both ends of the
    sd's 95% chi-square interval (the pilot knows its sd only to within that): the interval and
    ``{"sd_low": need, "sd": need, "sd_high": need}``."""
    low, high = sd_interval(sd, n)
    need = {name: seeds_needed(s, delta, alpha, inference, power) for name, s in (("sd_low", low), ("sd", sd),
                                                                                  ("sd_high", high))}
    return (low, high), need


def _first(rates: np.ndarray, power: float) -> int | None:
    hit = np.flatnonzero(rates >= power)
    return int(hit[0]) + 2 if len(hit) else None


def minimum_detectable_effect(n: int, sd: float, alpha: float, inference: str, power: float = 0.8) -> float:
    """The smallest true difference the interval at n excludes from 0 with chance ``power``."""
    if n < 2 or not sd > 0:
        return float("nan") if n < 2 else 0.0 if n >= cs_min_seeds(alpha, inference) else float("inf")
    if inference == "fixed":
        from statsmodels.stats.power import TTestPower

        return float(TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided")) * sd
    if inference == "anytime":
        return _sign_mde(n, alpha, power) * sd
    factor = float(cs_halfwidth_factor(n, alpha))
    if not math.isfinite(factor):
        return float("inf")
    mean, s = _running(n)
    mean, s = mean[:, -1], s[:, -1]  # standard normal mean and sd at n, (REPS,)
    low, high = 0.0, 10.0 * factor + 10.0
    for _ in range(40):  # bisection on the standardised effect, common random numbers
        mid = (low + high) / 2
        low, high = (mid, high) if (np.abs(mid + mean) > factor * s).mean() < power else (low, mid)
    return high * sd


def _sign_mde(n: int, alpha: float, power: float) -> float:
    """The sign-based sequence's MDE at n in sd units (Gaussian differences): the shift at which more
    than ``K(n)`` of n differences fall on one side of 0 with chance ``power``."""
    from scipy import stats

    k = int(sign_bound(n, alpha)[0])
    if k >= n:
        return float("inf")
    # P(Binomial(n, p) >= k + 1) >= power for the smallest p; then the shift is Phi^-1(p)
    low, high = 0.5, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if stats.binom.sf(k, n, mid) < power else (low, mid)
    return float(stats.norm.ppf(high))
