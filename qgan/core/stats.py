"""Paired comparison of two arms across seeds, metric by metric, with a one-line verdict.

For seeds s = 1..n with values ``a_s`` (e.g. entropy) and ``b_s`` (prng), the differences
``d_s = a_s - b_s`` give:

- their mean, sd, a Student-t 95% CI and a percentile bootstrap 95% CI (resampling seeds);
- a paired t-test and a Wilcoxon signed-rank test (exact for small n) of ``d = 0``;
- TOST equivalence against ``+-delta`` with ``delta = margin x |mean of b|``: two one-sided
  t-tests of ``d <= -delta`` and ``d >= delta``; equivalence when both reject at ``alpha``.

Verdicts (:func:`judge`) treat the metrics of one comparison as a family: the t-test and TOST
p-values are Holm-adjusted across the metrics, so that eight metrics at ``alpha`` do not
produce a "better" by chance one time in three. "a better" / "b better" when the adjusted
t-test rejects and the t CI excludes 0 (direction from whether lower or higher is better),
"equivalent within +-delta" when the adjusted TOST rejects, else "inconclusive" with the seeds
that would be needed at the observed sd (normal approximation, power 0.8, one metric at
``alpha``): to show equivalence if ``|mean| < delta``,
``n = ((z_(1-alpha) + z_0.9) sd / (delta - |mean|))^2``, else to detect the difference,
``n = ((z_(1-alpha/2) + z_0.8) sd / |mean|)^2``.
"""
from __future__ import annotations

import math

import numpy as np

BOOTSTRAP = 10_000  # bootstrap resamples of the seeds


def holm(pvalues: dict[str, float], alpha: float) -> dict[str, tuple[float, bool]]:
    """Holm's step-down: adjusted p-value ``max_{j <= i} min(1, (m - j + 1) p_(j))`` and
    whether it is at most ``alpha``, for each named p-value."""
    names = sorted(pvalues, key=pvalues.get)
    m, running, out = len(names), 0.0, {}
    for i, name in enumerate(names):
        running = max(running, min(1.0, (m - i) * pvalues[name]))
        out[name] = (running, running <= alpha)
    return out


def paired_comparison(a: dict[int, float], b: dict[int, float], margin: float, seed: int = 0) -> dict:
    """The statistics of ``d_s = a_s - b_s`` over the seeds both have (no verdict: see :func:`judge`)."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    n = len(d)
    base = float(np.mean([b[s] for s in seeds])) if seeds else float("nan")
    delta = margin * abs(base)
    out = {"n_seeds": n, "per_seed": {str(s): float(x) for s, x in zip(seeds, d)},
           "mean": float(d.mean()) if n else float("nan"), "margin": delta}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    t_crit = float(stats.t.ppf(0.975, n - 1))
    boot = np.random.default_rng(seed).choice(d, size=(BOOTSTRAP, n), replace=True).mean(1)
    out.update(sd=sd, ci95_low=out["mean"] - t_crit * se, ci95_high=out["mean"] + t_crit * se,
               bootstrap_ci95_low=float(np.percentile(boot, 2.5)), bootstrap_ci95_high=float(np.percentile(boot, 97.5)))
    if sd == 0:
        out["t_pvalue"] = 0.0 if out["mean"] != 0 else 1.0
        out["tost_pvalue"] = 0.0 if abs(out["mean"]) < delta else 1.0
    else:
        out["t_pvalue"] = float(stats.ttest_1samp(d, 0.0).pvalue)
        lower = stats.t.sf((out["mean"] + delta) / se, n - 1)   # H0: d <= -delta
        upper = stats.t.cdf((out["mean"] - delta) / se, n - 1)  # H0: d >= +delta
        out["tost_pvalue"] = float(max(lower, upper))
    out["wilcoxon_pvalue"] = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return out


def judge(comparisons: dict[str, dict], lower_is_better: dict[str, bool], alpha: float,
          names: tuple[str, str] = ("entropy", "prng")) -> dict[str, str]:
    """Set ``verdict`` (and the Holm-adjusted p-values) on each metric's comparison; returns
    ``{metric: verdict}``."""
    tested = {m: c for m, c in comparisons.items() if "t_pvalue" in c}
    t_adj = holm({m: c["t_pvalue"] for m, c in tested.items()}, alpha)
    tost_adj = holm({m: c["tost_pvalue"] for m, c in tested.items()}, alpha)
    for metric, c in comparisons.items():
        if metric not in tested:
            c["verdict"] = "inconclusive (at least two seeds are needed)"
            continue
        (c["t_pvalue_holm"], different), (c["tost_pvalue_holm"], equivalent) = t_adj[metric], tost_adj[metric]
        if different and (c["ci95_low"] > 0 or c["ci95_high"] < 0):
            a_better = (c["mean"] < 0) == lower_is_better[metric]
            c["verdict"] = f"{names[0] if a_better else names[1]} better"
        elif equivalent:
            c["verdict"] = f"equivalent within ±{c['margin']:.4g}"
        else:
            c["seeds_needed"] = seeds_needed(c["mean"], c["sd"], c["margin"], alpha)
            c["verdict"] = f"inconclusive (about {c['seeds_needed']} seeds needed)"
    return {metric: c["verdict"] for metric, c in comparisons.items()}


def seeds_needed(mean: float, sd: float, delta: float, alpha: float) -> int:
    """Seeds for equivalence (if |mean| < delta) or for detecting the difference, power 0.8."""
    from scipy.stats import norm

    if sd == 0:
        return 2
    if abs(mean) < delta:
        n = ((norm.ppf(1 - alpha) + norm.ppf(0.9)) * sd / (delta - abs(mean))) ** 2
    elif mean != 0:
        n = ((norm.ppf(1 - alpha / 2) + norm.ppf(0.8)) * sd / abs(mean)) ** 2
    else:
        return 10 ** 6
    return int(min(10 ** 6, max(2, math.ceil(n))))
