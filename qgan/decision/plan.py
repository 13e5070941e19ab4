"""``qgan plan``: from a pilot, the seeds a verdict needs and what they cost on this machine.

The pilot's paired differences of each primary-family endpoint give its sd per comparison; with
the endpoint's margin delta, its first Holm level (alpha / m), power and inference,
:func:`qgan.core.power.seeds_needed` gives the seeds to detect a true difference of delta and to
show equivalence when there is none, at the sd and at both ends of its 95% chi-square interval
(a pilot of n seeds knows its sd only to within that: :func:`qgan.core.power.seeds_needed_over_sd`).
The family needs the most any endpoint needs. Training runs are seeds x arms; wall time is runs x
the seconds per run given (``qgan plan`` takes the median the MLflow store recorded on this
machine: :mod:`qgan.pipeline.runs`).
"""
from __future__ import annotations

from pathlib import Path

from qgan.core import power
from qgan.core.atomic import read_json
from qgan.core.errors import QganError
from qgan.decision.verdict import Design, csv_to_values, paired_differences, result_to_values


def pilot_to_values(path: Path) -> dict[str, dict[int, dict[str, float]]]:
    """``values[arm][seed][metric]`` from an ``evaluate.json`` or an ``arm,seed,metric,value`` CSV."""
    if path.suffix == ".csv":
        return csv_to_values(path)
    result = read_json(path)
    if "values" not in result:
        raise QganError(f"{path}: no per-seed values (an evaluate.json of this version, or a CSV)")
    return result_to_values(result)


def _most(a: int | None, b: int | None) -> int | None:
    """The larger seed count; None (more than the design considers) is larger than any."""
    return None if a is None or b is None else max(a, b)


def plan_design(values: dict, design: Design, power_: float, arms: int, seconds: float | None) -> dict:
    """Per comparison and family endpoint: pilot n, sd of the differences, its 95% interval, and
    seeds needed (detect, equivalent) at the sd and at the interval's ends; the family's seeds
    (the most any endpoint needs), with the runs and wall time they mean."""
    if design.baseline not in values:
        raise QganError(f"pilot has no {design.baseline!r} arm (arms: {', '.join(values)})")
    out = {"design": {**design.__dict__, "power": power_}, "arms": arms, "seconds_per_run": seconds,
           "comparisons": {}}

    def cost(n):
        return None if n is None else {"seeds": n, "runs": n * arms,
                                       "hours": None if seconds is None else n * arms * seconds / 3600}
    for arm in values:
        if arm == design.baseline:
            continue
        endpoints = {}
        for metric, margin in design.endpoints.items():
            _, d = paired_differences(values, arm, design.baseline, metric)
            if len(d) < 2:
                raise QganError(f"{arm} vs {design.baseline}: the pilot needs at least 2 paired seeds of {metric}, "
                                f"has {len(d)}")
            sd = float(d.std(ddof=1))
            bounds, need = power.seeds_needed_over_sd(sd, len(d), margin, design.first_level, design.inference,
                                                      power_)
            endpoints[metric] = {"pilot_seeds": len(d), "sd": sd, "sd_interval": list(bounds), "margin": margin,
                                 "seeds_needed": need}
        family = {which: {goal: None for goal in ("detect", "equivalent")} for which in ("sd", "sd_low", "sd_high")}
        for which, goals in family.items():
            for goal in goals:
                counts = [e["seeds_needed"][which][goal] for e in endpoints.values()]
                goals[goal] = counts[0]
                for n in counts[1:]:
                    goals[goal] = _most(goals[goal], n)
        out["comparisons"][f"{arm}_vs_{design.baseline}"] = {
            "endpoints": endpoints, "seeds_needed": family,
            "cost": {goal: cost(family["sd"][goal]) for goal in ("detect", "equivalent")}}
    return out
