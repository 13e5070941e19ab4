"""The verdicts in words: the primary family's verdicts, the ladder, the A/A check, what n seeds can show.

Everything here reads the typed ``verdicts`` of ``metrics/evaluate.json``
(:func:`qgan.decision.verdict.values_to_verdicts`) and the ladder's own data
(:class:`qgan.noise.ladder.Rung`); nothing is parsed back from text.
"""
from __future__ import annotations

import math

from qgan.core.formatting import num
from qgan.core.metric_registry import METRICS
from qgan.core.power import N_MAX, cs_min_seeds, minimum_detectable_effect
from qgan.noise.arms import BASELINE_ARM, NEGATIVE_CONTROL, is_rung
from qgan.noise.ladder import parse_rung


def interval_text(c: dict) -> str:
    low, high = c["interval"]  # null ends: unbounded
    return f"{num(c['estimate'])} [{num(-math.inf if low is None else low)}, {num(math.inf if high is None else high)}]"


def need_text(n: int | None) -> str:
    """Seeds needed, or ``more than N_MAX`` where the design would need more than it considers (None)."""
    return f"more than {N_MAX}" if n is None else f"{n}"


def reach_text(p: dict) -> str:
    """What the design sees: MDE at n and seeds needed (with the sd's 95% range)."""
    if p["seeds_needed"] is None:
        return "at least 2 seeds are needed to estimate the spread"
    need, rng = p["seeds_needed"], p["seeds_needed_range"]
    mde = "none (too few seeds to bound the interval)" if p["mde"] is None else num(p["mde"])
    return (f"smallest difference detected with power 0.8 at this n: {mde}; seeds to detect a true "
            f"difference of δ = {num(p['margin'])}: {need_text(need['detect'])} "
            f"({need_text(rng['sd_low']['detect'])}–{need_text(rng['sd_high']['detect'])} over the sd's 95% "
            f"interval); to show equivalence when there is none: {need_text(need['equivalent'])} "
            f"({need_text(rng['sd_low']['equivalent'])}–{need_text(rng['sd_high']['equivalent'])})")


def endpoints_of(c: dict) -> list[dict]:
    """A comparison's primary-family entries, quality first (the diversity one is absent when the
    design judges the primary alone)."""
    return [e for e in (c["primary"], c.get("diversity")) if e]


def endpoints_text(c: dict) -> str:
    """``FID-LeNet 1.2 [-0.5, 3.0], coverage (k=5) ...`` with each endpoint's own verdict."""
    return "; ".join(f"{METRICS[e['metric']][0]} {interval_text(e)} ({e['verdict']})" for e in endpoints_of(c))


def inference_text(design: dict) -> str:
    level = f"{100 * (1 - design['alpha']):.0f}%"
    if design["inference"] == "anytime":
        return (f"anytime-valid {level} confidence sequence for the median paired difference, free of any assumption "
                "on the differences' distribution (valid however often seeds were added and looked at)")
    if design["inference"] == "anytime_gaussian":
        return (f"anytime-valid {level} confidence sequence for the mean paired difference, assuming Gaussian "
                "differences (valid however often seeds were added and looked at)")
    return f"fixed-n {level} Student-t interval for the mean (valid only if the seed count was fixed in advance)"


def family_text(design: dict) -> str:
    """What the primary family is: endpoints with their margins and directions, and Holm."""
    family = ((design["primary"], design["margin"]), (design.get("diversity"), design.get("diversity_margin")))
    parts = [f"**{METRICS[m][0]}** ({'lower' if METRICS[m][1] else 'higher'} is better, margin δ = ±{num(d)})"
             for m, d in family if m]
    if len(parts) == 1:
        return f"Primary endpoint: {parts[0]}"
    return (f"Primary family: quality {parts[0]} and diversity {parts[1]}, Holm's step-down inside the "
            "anytime-valid design (each endpoint first at α/2). The family is *better* when one endpoint is better "
            "and none worse, *worse* when one is worse and none better, *mixed* when they disagree, *equivalent* only "
            "when both are")


def primary_lines(verdicts: dict) -> list[str]:
    """One line per comparison that is not a ladder rung or the A/A control."""
    design = verdicts["design"]
    lines = [f"{family_text(design)}; {inference_text(design)}. Differences are arm − {design['baseline']}, seed by "
             "seed; each is shown as its estimate [interval].", ""]
    for name, c in verdicts["comparisons"].items():
        if is_rung(c["arm"]) or c["arm"] == NEGATIVE_CONTROL:
            continue
        p = c["primary"]
        lines.append(f"- **{c['arm']} vs {c['baseline']}**: **{c['verdict']}** over {p['n_seeds']} paired seeds; "
                     f"{endpoints_text(c)}. {reach_text(p).capitalize()}.")
    return lines


def ladder_lines(verdicts: dict) -> list[str]:
    """The sensitivity ladder: per rung the family's differences, intervals and verdict; the mildest
    defect detected in each kind."""
    rungs = [(parse_rung(c["arm"]), c) for c in verdicts["comparisons"].values() if is_rung(c["arm"])]
    if not rungs:
        return ["No ladder rung in `train.arms` (add e.g. `distinct-64`, `rank-8`, `bits-2`, `scale-50`): the "
                "design's sensitivity is then unknown."]
    lines = ["| rung | defect | differences [intervals] | verdict |", "|---|---|---|---|"]
    mildest: dict[str, str] = {}
    for rung, c in sorted(rungs, key=lambda rc: (rc[0].kind, -rc[0].n if rc[0].kind != "scale" else rc[0].n)):
        lines.append(f"| `{rung.name}` | {rung.defect} | {endpoints_text(c)} | **{c['verdict']}** |")
        if c["verdict"] in ("better", "worse", "mixed"):
            mildest.setdefault(rung.kind, rung.name)
    lines += ["", "Smallest defect detected: " + (", ".join(f"`{v}`" for v in mildest.values()) if mildest
                                                   else f"none: no rung was told apart from "
                                                        f"{verdicts['design']['baseline']} at this n.")]
    return lines


def control_lines(verdicts: dict) -> list[str]:
    """The A/A check: the negative control (prng2) against the baseline must not be called different."""
    c = verdicts["comparisons"].get(f"{NEGATIVE_CONTROL}_vs_{verdicts['design']['baseline']}")
    if c is None:
        return [f"- A/A control (`{NEGATIVE_CONTROL}`): not in `train.arms`; add it to check the design's calibration."]
    if c["verdict"] in ("better", "worse", "mixed"):
        return [f"- A/A control `{NEGATIVE_CONTROL}` vs {c['baseline']}: called **{c['verdict']}** "
                f"({endpoints_text(c)}): **the design is miscalibrated** (two PRNG streams cannot differ); "
                "distrust every verdict."]
    return [f"- A/A control `{NEGATIVE_CONTROL}` vs {c['baseline']}: **{c['verdict']}**; {endpoints_text(c)} "
            "(as it should be: never better, worse or mixed)."]


def limits_lines(verdicts: dict) -> list[str]:
    """What this many seeds can and cannot show, from the main comparison's reach (the first that is
    neither a ladder rung nor the A/A control, else the first)."""
    comps = sorted(verdicts["comparisons"].values(),
                   key=lambda c: is_rung(c["arm"]) or c["arm"] == NEGATIVE_CONTROL)
    firsts = [c["primary"] for c in comps if c["primary"]["seeds_needed"] is not None]
    if not firsts:
        return ["With fewer than 2 paired seeds nothing can be shown."]
    p = firsts[0]
    if p["mde"] is None:
        fixed = minimum_detectable_effect(p["n_seeds"], p["sd"], p["alpha"], "fixed")
        return [f"With {p['n_seeds']} paired seeds the anytime-valid interval cannot bound the difference yet (it "
                f"needs at least {cs_min_seeds(p['alpha'], p['inference'])} seeds at alpha {p['alpha']:g}), so every "
                "verdict is "
                f"inconclusive whatever the data: this many seeds can show nothing. (A study that fixed n = "
                f"{p['n_seeds']} in advance, `evaluate.inference: fixed`, would detect only a difference of about "
                f"{num(fixed)} at the observed sd.) To detect δ = {num(p['margin'])}: about "
                f"{need_text(p['seeds_needed']['detect'])} seeds; to show equivalence: about "
                f"{need_text(p['seeds_needed']['equivalent'])}."]
    return [f"With {p['n_seeds']} paired seeds this design detects (power 0.8) only a difference of about "
            f"{num(p['mde'])} in {METRICS[p['metric']][0]}; anything smaller is likely to come out inconclusive, and "
            f"equivalence within ±{num(p['margin'])} needs about {need_text(p['seeds_needed']['equivalent'])} seeds. "
            "An inconclusive verdict here is the expected result of too few seeds, not evidence of no effect."]


def verdicts_to_markdown(result: dict) -> str:
    """The verdict summary: the report's lead and the MLflow parent run's description."""
    verdicts = result.get("verdicts")
    if not verdicts:
        return f"No `{BASELINE_ARM}` arm: nothing was compared."
    return "\n".join([*primary_lines(verdicts), "", *control_lines(verdicts), "", *limits_lines(verdicts)]) + "\n"
