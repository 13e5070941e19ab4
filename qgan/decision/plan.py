"""``qgan plan``: from a pilot, the seeds a verdict needs and what they cost on this machine.

The pilot's paired differences of the primary metric give the sd per comparison; with the
margin delta, alpha, power and inference of the design, :func:`qgan.core.power.seeds_needed`
gives the seeds to detect a true difference of delta and to show equivalence when there is
none, at the sd and at both ends of its 95% chi-square interval (a pilot of n seeds knows its
sd only to within that: :func:`qgan.core.power.seeds_needed_over_sd`). Training runs are seeds x
arms; wall time is runs x the seconds per run given (``qgan plan`` takes the median the MLflow
store recorded on this machine: :mod:`qgan.pipeline.runs`).
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


def plan_design(values: dict, design: Design, power_: float, arms: int, seconds: float | None) -> dict:
    """Per comparison: pilot n, sd of the differences, its 95% interval, and seeds needed (detect,
    equivalent) at the sd and at the interval's ends; with the runs and wall time they mean."""
    if design.baseline not in values:
        raise QganError(f"pilot has no {design.baseline!r} arm (arms: {', '.join(values)})")
    out = {"design": {**design.__dict__, "power": power_}, "arms": arms, "seconds_per_run": seconds,
           "comparisons": {}}
    for arm in values:
        if arm == design.baseline:
            continue
        _, d = paired_differences(values, arm, design.baseline, design.primary)
        if len(d) < 2:
            raise QganError(f"{arm} vs {design.baseline}: the pilot needs at least 2 paired seeds, has {len(d)}")
        sd = float(d.std(ddof=1))
        bounds, need = power.seeds_needed_over_sd(sd, len(d), design.margin, design.alpha, design.inference, power_)

        def cost(n):
            return None if n is None else {"seeds": n, "runs": n * arms,
                                           "hours": None if seconds is None else n * arms * seconds / 3600}
        out["comparisons"][f"{arm}_vs_{design.baseline}"] = {
            "pilot_seeds": len(d), "sd": sd, "sd_interval": list(bounds), "seeds_needed": need,
            "cost": {goal: cost(need["sd"][goal]) for goal in ("detect", "equivalent")}}
    return out
