"""Verdicts: each arm against the baseline, seed by seed, on a primary family of two endpoints.

Input is one shape, ``values[arm][seed][metric] -> float`` (the evaluate stage's scores, or a CSV
of ``arm,seed,metric,value`` rows for ``qgan compare``), and a :class:`Design`. For each arm the
paired differences ``d_s = arm_s - baseline_s`` over the seeds both have give:

- **the primary family**: a quality endpoint (``design.primary``, margin ``design.margin``) and a
  diversity endpoint (``design.diversity``, margin ``design.diversity_margin``; None judges the
  primary alone), each margin in its metric's own units. Each endpoint's interval comes from
  :func:`qgan.core.stats.interval` (``anytime``: a distribution-free confidence sequence for the
  median difference; ``anytime_gaussian``: one for the mean of Gaussian differences; ``fixed``:
  Student t for the mean). Multiplicity is Holm's step-down on the tests "the interval excludes 0"
  (:func:`holm_intervals`): every endpoint is first judged at ``alpha / m``; once one excludes 0,
  the others are judged at ``alpha / (m - 1)``, and so on. Each test is anytime-valid at its level,
  so the closed family is too: the chance that any endpoint is called different when neither
  differs stays at most alpha at whatever look a user stops. An endpoint is ``better`` or ``worse``
  (the metric's direction) when its interval excludes 0, ``equivalent`` when it lies inside
  ``(-delta, delta)`` (for ``fixed`` the ``1 - 2a`` t interval: TOST), else ``inconclusive``.
  The family's verdict (:func:`family_verdict`, fixed in advance): ``worse`` if an endpoint is
  worse and none better; ``better`` ("better or more diverse") if one is better and none worse;
  ``mixed`` if one is better and another worse (a trade-off, never averaged away); ``equivalent``
  only if every endpoint is; otherwise ``inconclusive``.
- **secondary** (every other metric): exploratory, in their own family. Their intervals are at
  ``alpha / m`` (Bonferroni over the m secondary metrics), their verdicts only ``better``,
  ``worse`` or ``inconclusive`` (no margin); fixed-n t-test p-values are shown Holm-adjusted.

Each endpoint also carries what the design can see at its n: the minimum detectable effect
(power 0.8) and the seeds needed to detect ``delta`` or show equivalence, at the observed sd and
at the ends of the sd's 95% interval (:mod:`qgan.core.power`), at the endpoint's first Holm level.
"""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qgan.core import power, stats
from qgan.core.errors import QganError
from qgan.core.metric_registry import METRICS
from qgan.noise.arms import BASELINE_ARM
from qgan.params import EvaluateConfig

POWER = 0.8  # power at which the minimum detectable effect and the seeds needed are stated
CSV_COLUMNS = ("arm", "seed", "metric", "value")


@dataclass(frozen=True)
class Design:
    """How arms are judged. Defaults are ``evaluate.*``'s (declared once, in :mod:`qgan.params`); values
    are checked where they are read (``params.yaml`` or a command's options, by :class:`EvaluateConfig`)."""
    primary: str = EvaluateConfig.primary                    # the family's quality endpoint
    margin: float = EvaluateConfig.margin                    # its equivalence margin, in its units
    diversity: str | None = EvaluateConfig.diversity         # the family's diversity endpoint (None: primary alone)
    diversity_margin: float = EvaluateConfig.diversity_margin  # its equivalence margin, in its units
    alpha: float = EvaluateConfig.alpha        # family-wise level of the primary family (and of the secondary)
    inference: str = EvaluateConfig.inference  # anytime (median, any distribution), anytime_gaussian or fixed
    baseline: str = BASELINE_ARM               # differences are arm - baseline

    @classmethod
    def from_params(cls, cfg: EvaluateConfig, baseline: str = BASELINE_ARM) -> "Design":
        """The design ``evaluate.*`` states, against ``baseline``."""
        return cls(primary=cfg.primary, margin=cfg.margin, diversity=cfg.diversity,
                   diversity_margin=cfg.diversity_margin, alpha=cfg.alpha, inference=cfg.inference, baseline=baseline)

    @property
    def endpoints(self) -> dict[str, float]:
        """``{metric: margin}`` of the primary family, quality first."""
        out = {self.primary: self.margin}
        if self.diversity is not None:
            out[self.diversity] = self.diversity_margin
        return out

    @property
    def first_level(self) -> float:
        """Holm's first level, ``alpha / m``: what an endpoint is first judged at."""
        return self.alpha / len(self.endpoints)


def interval_to_verdict(low: float, high: float, delta: float | None, lower_is_better: bool,
                        eq_low: float | None = None, eq_high: float | None = None) -> str:
    """The verdict of an interval for ``arm - baseline``: it excludes 0 (better/worse), lies inside
    ``(-delta, delta)`` (equivalent; ``eq_low, eq_high`` if the equivalence interval differs), or
    neither (inconclusive)."""
    if low > 0 or high < 0:
        return "better" if (high < 0) == lower_is_better else "worse"
    eq_low, eq_high = (low, high) if eq_low is None else (eq_low, eq_high)
    if delta is not None and -delta < eq_low and eq_high < delta:
        return "equivalent"
    return "inconclusive"


def endpoint_interval(d: np.ndarray, level: float, margin: float, metric: str, inference: str
                      ) -> tuple[str, tuple[float, float]]:
    """One endpoint's verdict and ``1 - level`` interval for differences ``d (n,)``."""
    if len(d) < 2:
        return "inconclusive", (-math.inf, math.inf)
    low, high = stats.interval(d, level, inference)
    eq = stats.t_interval(d, 2 * level) if inference == "fixed" else (low, high)
    return interval_to_verdict(low, high, margin, METRICS[metric][1], *eq), (low, high)


def holm_intervals(diffs: dict[str, np.ndarray], design: Design) -> dict[str, tuple[float, str, tuple[float, float]]]:
    """Holm's step-down over the family: ``{metric: (level, verdict, interval)}``. Every endpoint
    is judged at ``alpha / m``; those whose interval excludes 0 are rejected, the rest re-judged
    at ``alpha / m'`` with ``m'`` the endpoints not yet rejected, until no new one is rejected."""
    margins, open_, out = design.endpoints, list(diffs), {}
    while open_:
        level = design.alpha / len(open_)
        judged = {m: endpoint_interval(diffs[m], level, margins[m], m, design.inference) for m in open_}
        rejected = [m for m, (v, _) in judged.items() if v in ("better", "worse")]
        for m, (verdict, bounds) in judged.items():
            out[m] = (level, verdict, bounds)
        if not rejected or len(rejected) == len(open_):
            break
        open_ = [m for m in open_ if m not in rejected]
    return {m: out[m] for m in diffs}


def family_verdict(verdicts: list[str]) -> str:
    """The family's verdict from its endpoints' (the rule in the module docstring)."""
    better, worse = "better" in verdicts, "worse" in verdicts
    if better and worse:
        return "mixed"
    if better or worse:
        return "better" if better else "worse"
    return "equivalent" if all(v == "equivalent" for v in verdicts) else "inconclusive"


def _bounds(low: float, high: float) -> list[float | None]:
    """An interval for JSON: an infinite end (too few seeds to bound it) is null."""
    return [x if math.isfinite(x) else None for x in (low, high)]


def paired_differences(values: dict, arm: str, baseline: str, metric: str) -> tuple[list[int], np.ndarray]:
    """The seeds both arms have ``metric`` for, and ``arm - baseline`` on each ``(n,)``."""
    seeds = sorted(s for s in set(values[arm]) & set(values[baseline])
                   if metric in values[arm][s] and metric in values[baseline][s])
    return seeds, np.array([values[arm][s][metric] - values[baseline][s][metric] for s in seeds], np.float64)


def _describe(seeds: list[int], d: np.ndarray, alpha: float, inference: str) -> dict:
    n = len(d)
    out = {"n_seeds": n, "seeds": seeds, "differences": d.tolist(), "mean": float(d.mean()) if n else None,
           "median": float(np.median(d)) if n else None, "sd": float(d.std(ddof=1)) if n > 1 else None,
           "estimand": stats.ESTIMANDS[inference], "estimate": stats.estimate(d, inference) if n else None}
    if n > 1:
        out.update(t_interval=list(stats.t_interval(d, alpha)), t_pvalue=stats.t_pvalue(d),
                   wilcoxon_pvalue=stats.wilcoxon_pvalue(d, alpha), bca_interval=stats.bca_interval(d, alpha))
    return out


def design_reach(sd: float | None, n: int, margin: float, level: float, inference: str) -> dict:
    """What one endpoint sees at the observed sd and level: MDE at n, seeds needed to detect
    ``margin`` or show equivalence within it, and both again at the ends of the sd's 95%
    chi-square interval (the pilot's own uncertainty)."""
    if sd is None or n < 2:
        return {"mde": None, "seeds_needed": None, "sd_interval": None, "seeds_needed_range": None}
    bounds, need = power.seeds_needed_over_sd(sd, n, margin, level, inference, POWER)
    mde = power.minimum_detectable_effect(n, sd, level, inference, POWER)
    return {"mde": mde if math.isfinite(mde) else None,
            "seeds_needed": need["sd"], "sd_interval": list(bounds),
            "seeds_needed_range": {"sd_low": need["sd_low"], "sd_high": need["sd_high"]}}


def compare_arm(values: dict, arm: str, design: Design) -> dict:
    """The primary family and the secondary comparisons of ``arm`` against ``design.baseline``:
    ``{"arm", "baseline", "verdict" (the family's), "primary": {...}, "diversity": {...} or None,
    "secondary": {metric: {...}}}``."""
    diffs = {m: paired_differences(values, arm, design.baseline, m) for m in design.endpoints}
    judged = holm_intervals({m: d for m, (_, d) in diffs.items()}, design)
    entries = {}
    for metric, margin in design.endpoints.items():
        seeds, d = diffs[metric]
        level, verdict, (low, high) = judged[metric]
        entries[metric] = {
            "metric": metric, **_describe(seeds, d, design.alpha, design.inference), "interval": _bounds(low, high),
            "inference": design.inference, "alpha": level, "margin": margin, "verdict": verdict,
            "within_margin": bool(-margin < low and high < margin),
            "tost_pvalue": stats.tost_pvalue(d, margin) if len(d) > 1 else None,
            **design_reach(float(d.std(ddof=1)) if len(d) > 1 else None, len(d), margin, design.first_level,
                           design.inference)}
    others = [m for m in METRICS if m not in design.endpoints and any(m in v for v in values[arm].values())]
    level = design.alpha / max(1, len(others))
    secondary = {}
    for metric in others:
        s, dm = paired_differences(values, arm, design.baseline, metric)
        low, high = stats.interval(dm, level, design.inference) if len(dm) > 1 else (-math.inf, math.inf)
        secondary[metric] = {**_describe(s, dm, design.alpha, design.inference), "interval": _bounds(low, high),
                             "alpha": level,
                             "verdict": interval_to_verdict(low, high, None, METRICS[metric][1])}
    adjusted = stats.holm({m: c.get("t_pvalue", math.nan) for m, c in secondary.items()}, design.alpha)
    for metric, (p, _) in adjusted.items():
        secondary[metric]["t_pvalue_holm"] = p
    verdict = family_verdict([e["verdict"] for e in entries.values()])
    return {"arm": arm, "baseline": design.baseline, "verdict": verdict, "primary": entries[design.primary],
            "diversity": entries[design.diversity] if design.diversity is not None else None,
            "secondary": secondary}


def values_to_verdicts(values: dict[str, dict[int, dict[str, float]]], design: Design) -> dict:
    """Every arm but the baseline against it: ``{"design": ..., "comparisons": {"<arm>_vs_<baseline>":
    :func:`compare_arm`}}``."""
    if design.baseline not in values:
        raise QganError(f"baseline arm {design.baseline!r} has no values (arms: {', '.join(values) or 'none'})")
    for metric, role in zip(design.endpoints, ("quality", "diversity")):
        if not any(metric in v for v in values[design.baseline].values()):
            raise QganError(f"{design.baseline} has no {metric} values: the family's {role} endpoint; judge another "
                            "metric (--primary, --diversity none)")
    comparisons = {f"{arm}_vs_{design.baseline}": compare_arm(values, arm, design)
                   for arm in values if arm != design.baseline}
    return {"design": asdict(design), "comparisons": comparisons}


def csv_to_values(path: Path) -> dict[str, dict[int, dict[str, float]]]:
    """Read ``arm,seed,metric,value`` rows; one line naming the row for anything wrong."""
    try:
        handle = open(path, newline="")
    except OSError as exc:
        raise QganError(f"{path}: cannot read ({exc.strerror})") from None
    values: dict[str, dict[int, dict[str, float]]] = {}
    with handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise QganError(f"{path}: columns must be {','.join(CSV_COLUMNS)}, got {','.join(reader.fieldnames or [])}")
        for line, row in enumerate(reader, start=2):
            try:
                seed, value = int(row["seed"]), float(row["value"])
            except (TypeError, ValueError):
                raise QganError(f"{path}:{line}: seed must be an integer and value a number, got "
                                f"{row['seed']!r}, {row['value']!r}") from None
            if row["metric"] not in METRICS:
                raise QganError(f"{path}:{line}: unknown metric {row['metric']!r} (known: {', '.join(METRICS)})")
            if not math.isfinite(value):
                raise QganError(f"{path}:{line}: value {row['value']!r} is not finite")
            cell = values.setdefault(row["arm"], {}).setdefault(seed, {})
            if row["metric"] in cell:
                raise QganError(f"{path}:{line}: {row['arm']} seed {seed} {row['metric']} appears twice")
            cell[row["metric"]] = value
    if not values:
        raise QganError(f"{path}: no rows")
    return values


def result_to_values(result: dict) -> dict[str, dict[int, dict[str, float]]]:
    """``values[arm][seed][metric]`` (int seeds) from ``metrics/evaluate.json``."""
    return {arm: {int(s): v for s, v in per.items()} for arm, per in result["values"].items()}


def values_to_summary(values: dict[str, dict[int, dict]]) -> dict:
    """``{arm: {metric: {"n", "mean", "sd"}}}`` over the arm's seeds (sd null below 2 seeds):
    ``metrics/evaluate.json``'s ``summary``."""
    out = {}
    for arm, per in values.items():
        out[arm] = {}
        for metric in METRICS:
            x = np.array([v[metric] for v in per.values()], dtype=np.float64)
            out[arm][metric] = {"n": len(x), "mean": float(x.mean()),
                                "sd": float(x.std(ddof=1)) if len(x) > 1 else None}
    return out


def values_to_csv_rows(values: dict) -> list[tuple]:
    """The inverse of :func:`csv_to_values`: ``(arm, seed, metric, value)`` rows."""
    return [(arm, seed, metric, repr(float(v))) for arm, per in values.items() for seed, ms in sorted(per.items())
            for metric, v in ms.items() if metric in METRICS]
