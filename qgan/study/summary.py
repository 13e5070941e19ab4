"""What a study knows, from its values file alone: ``qgan study show`` (verdicts, looks, the A/A check,
the ladder, what the design could see, the cost so far next to ``qgan plan``'s prediction) and the
forest plot; and that prediction itself, made once when a study starts.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from qgan.core.errors import QganError
from qgan.core.metric_registry import METRICS
from qgan.core.plots import pyplot, save_png
from qgan.decision.figures import save_verdict_plot
from qgan.decision.plan import pilot_to_values, plan_design
from qgan.decision.verdict import POWER, Design, values_to_verdicts
from qgan.decision.verdict_text import control_lines, ladder_lines, limits_lines, need_text, primary_lines
from qgan.params import EvaluateConfig
from qgan.study.record import hours_spent, record_values, seeds_recorded, utc_now
from qgan.study.runner import STOP_REASONS, look_line
from qgan.study.spec import Study


def record_design(record: dict) -> Design:
    """The design the values file was made under (its ``identity.design``: ``evaluate.*``)."""
    return Design.from_params(EvaluateConfig.from_dict(record["identity"]["design"], where="values file"))


def start_plan(study: Study, root: Path, seconds_per_run: float | None) -> dict | None:
    """``qgan plan``'s prediction for the study's comparison, from the spec's pilot (None without one):
    seeds needed to detect a difference of one margin or to show equivalence (at the pilot's sd and
    its 95% range), and the runs and hours that means with the arms trained every block."""
    if not study.spec.pilot:
        return None
    design = Design.from_params(study.params.evaluate)
    values = pilot_to_values(root / study.spec.pilot)
    if study.spec.arm not in values:
        raise QganError(f"{study.spec.pilot}: the pilot has no {study.spec.arm!r} arm (arms: {', '.join(values)})")
    pilot = {a: values[a] for a in (design.baseline, study.spec.arm)}
    arms = len(study.arms_of(study.spec.first_seed + study.spec.ladder_seeds))  # arms every block trains
    plan = plan_design(pilot, design, POWER, arms, seconds_per_run)
    return {"made": utc_now(), "pilot": study.spec.pilot,
            "power": POWER, "arms_per_seed": arms, "seconds_per_run": seconds_per_run,
            **plan["comparisons"][f"{study.spec.arm}_vs_{design.baseline}"]}


def record_verdicts(record: dict) -> dict:
    """Every arm against the baseline over the recorded seeds, as the evaluate stage judges them."""
    return values_to_verdicts(record_values(record), record_design(record))


def cost_lines(record: dict) -> list[str]:
    """Blocks, training runs and hours so far, per machine."""
    blocks = record["blocks"]
    if not blocks:
        return ["cost: nothing trained yet"]
    runs = sum(len(b["seeds"]) * len(b["arms"]) for b in blocks)
    machines = Counter(f"{b['host']['cpu']} ({b['host']['cores']} cores, {b.get('runner', 'dvc repro')})"
                       for b in blocks)
    n = len(seeds_recorded(record))
    return [f"cost: {len(blocks)} blocks, {runs} training runs, {hours_spent(record):.2f} h wall-clock "
            f"({60 * hours_spent(record) / n:.1f} min per paired seed with every arm)",
            *(f"  {count} block(s) on {where}" for where, count in machines.items())]


def plan_lines(record: dict) -> list[str]:
    """The prediction made at the start, next to what the study has spent."""
    plan = record.get("plan")
    if not plan:
        return ["plan: none recorded (the spec named no pilot)"]
    out = [f"plan, made {plan['made']} from {plan['pilot']} before any block ran (power {plan['power']:g}, "
           f"{plan['arms_per_seed']} arms per seed, "
           + (f"{plan['seconds_per_run']:.0f} s per run):" if plan["seconds_per_run"] else "no time per run known):")]
    for goal, words in (("detect", "detect a difference of one margin"), ("equivalent", "show equivalence")):
        need, cost = plan["seeds_needed"], plan["cost"][goal]
        spent = "" if cost is None else f" = {cost['runs']} runs" + (
            f" = {cost['hours']:.1f} h" if cost["hours"] is not None else "")
        out.append(f"  to {words}: {need_text(need['sd'][goal])} seeds{spent} (over the pilot sd's 95% range: "
                   f"{need_text(need['sd_low'][goal])}-{need_text(need['sd_high'][goal])})")
    runs = sum(len(b["seeds"]) * len(b["arms"]) for b in record["blocks"])
    out.append(f"  spent so far: {len(seeds_recorded(record))} seeds = {runs} runs = {hours_spent(record):.1f} h")
    return out


def status_line(study_name: str, record: dict, spec=None) -> str:
    n = len(seeds_recorded(record))
    stopped = record.get("stopped")
    if stopped:
        return (f"study {study_name}: stopped after look {stopped['look']} at n = {stopped['n']}: "
                f"{STOP_REASONS[stopped['reason']]}")
    cap = f" of at most {spec.max_seeds}; {hours_spent(record):.2f} h of {spec.budget_hours:g} h" if spec else ""
    return f"study {study_name}: in progress, n = {n}{cap}"


def show_lines(study_name: str, record: dict, spec=None) -> list[str]:
    """``qgan study show``: everything from the values file (``spec`` only adds the cap and budget)."""
    if not record["looks"]:
        return [status_line(study_name, record, spec), "no block recorded yet", *plan_lines(record)]
    verdicts = record_verdicts(record)
    looks = record["looks"]
    lines = [status_line(study_name, record, spec), "",
             *primary_lines({**verdicts, "comparisons": {
                 k: c for k, c in verdicts["comparisons"].items()
                 if c["arm"] == record["identity"]["arms"]["arm"]}}), "",
             f"looks: {len(looks)} (one per block; "
             + ("every one valid, the inference being anytime-valid):" if verdicts["design"]["inference"] != "fixed"
                else "fixed inference: only a look planned in advance is valid):"),
             *(f"  {look_line(e)}" for e in looks), "",
             *control_lines(verdicts), "", f"ladder (first {record['identity']['arms']['ladder_seeds']} seeds):",
             *ladder_lines(verdicts), "", *limits_lines(verdicts), "", *cost_lines(record), *plan_lines(record)]
    return lines


def save_study_figures(record: dict, folder: Path) -> list[Path]:
    """``verdicts.png``, the forest plot (each arm − baseline with its interval over the ±δ band), and
    ``looks.png``, the confidence sequence of the study's comparison at every look; their paths."""
    if not record["looks"]:
        return []
    save_verdict_plot(record_verdicts(record), folder / "verdicts.png")
    save_looks_plot(record, folder / "looks.png")
    return [folder / "verdicts.png", folder / "looks.png"]


def save_looks_plot(record: dict, path: Path) -> None:
    """One panel per family endpoint: the interval of ``arm − baseline`` at each look against n (clipped
    where unbounded), its estimate, the ``±delta`` band and 0; the study's stop marked."""
    plt = pyplot()
    looks, design = record["looks"], record["identity"]["design"]
    ends = [e["metric"] for e in looks[0]["endpoints"]]
    fig, axes = plt.subplots(1, len(ends), figsize=(5.6 * len(ends), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], ends):
        delta = design["margin"] if metric == design["primary"] else design["diversity_margin"]
        rows = [(look["n"], next(e for e in look["endpoints"] if e["metric"] == metric)) for look in looks]
        finite = [abs(x) for _, e in rows for x in e["interval"] if x is not None]
        span = max(finite + [3 * delta])
        n = [k for k, _ in rows]
        low = [max(-span, e["interval"][0]) if e["interval"][0] is not None else -span for _, e in rows]
        high = [min(span, e["interval"][1]) if e["interval"][1] is not None else span for _, e in rows]
        ax.fill_between(n, low, high, step="mid", color="0.6", alpha=0.4,
                        label="confidence sequence at each look (unbounded: to the edge)")
        ax.plot(n, [e["estimate"] for _, e in rows], "o-", color="k", markersize=3, linewidth=1, label="estimate")
        ax.axhspan(-delta, delta, color="C2", alpha=0.2, label=f"equivalence margin ±{delta:g}")
        ax.axhline(0, color="k", linestyle="--", linewidth=0.8)
        ax.set_ylim(-1.05 * span, 1.05 * span)
        label, lower = METRICS[metric]
        ax.set_xlabel("paired seeds (n) at each look")
        ax.set_ylabel(f"{record['identity']['arms']['arm']} − {design_baseline(record)}: {label}\n"
                      f"({'lower' if lower else 'higher'} is better)", fontsize=8)
        ax.legend(loc="lower right", fontsize=7)
    stopped = record.get("stopped")
    title = (f"stopped at n = {stopped['n']}: {STOP_REASONS[stopped['reason']]}" if stopped
             else f"in progress at n = {looks[-1]['n']}")
    fig.suptitle(f"study {record['study']}: the {design['inference']} confidence sequence after every block ({title})",
                 fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def design_baseline(record: dict) -> str:
    return record["identity"]["arms"]["baseline"]
