"""The evaluation's figures: every metric per seed and arm (:func:`save_metric_panels`), and the
verdicts, each comparison's primary-family differences with their intervals and margin bands
(:func:`save_verdict_plot`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qgan.core.metric_registry import METRICS
from qgan.core.plots import pyplot, save_png
from qgan.core.stats import t_halfwidth


def save_verdict_plot(verdicts: dict, path: Path) -> None:
    """One panel per primary-family endpoint, one row per comparison (arm - baseline): point at the
    estimate (median or mean), bar over its interval at the endpoint's Holm level (clipped to the
    plot where it is infinite), the ``+-delta`` band shaded, 0 dashed; the family's verdict on the right."""
    plt = pyplot()
    design, comps = verdicts["design"], list(verdicts["comparisons"].values())
    metrics = [m for m in (design["primary"], design.get("diversity")) if m]
    colours = {"better": "C0", "worse": "C3", "equivalent": "C2", "inconclusive": "0.4", "mixed": "C1"}
    kind = {"anytime": "anytime-valid, distribution-free CS for the median",
            "anytime_gaussian": "anytime-valid Gaussian CS for the mean",
            "fixed": "fixed-n t interval for the mean"}[design["inference"]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 0.55 * len(comps) + 1.8), squeeze=False)
    for j, (ax, metric) in enumerate(zip(axes[0], metrics)):
        entries = [c["primary"] if j == 0 else c["diversity"] for c in comps]
        delta = entries[0]["margin"] if entries else design["margin"]
        finite = [x for e in entries for x in e["interval"] if x is not None]
        span = max([abs(x) for x in finite] + [2 * delta])
        ax.axvspan(-delta, delta, color="C2", alpha=0.15, label=f"equivalence margin ±{delta:g}")
        ax.axvline(0, color="k", linestyle="--", linewidth=0.8)
        for i, e in enumerate(entries):
            if e["estimate"] is None:
                continue
            low, high = e["interval"]  # null: unbounded (too few seeds), drawn to the plot's edge
            low = -1.1 * span if low is None else max(-1.1 * span, low)
            high = 1.1 * span if high is None else min(1.1 * span, high)
            ax.plot([low, high], [i, i], color=colours[e["verdict"]], linewidth=2.5)
            ax.plot(e["estimate"], i, "o", color=colours[e["verdict"]])
        if j == len(metrics) - 1:
            for i, c in enumerate(comps):
                ax.annotate(f"{c['verdict']} (n={c['primary']['n_seeds']})", (1.12 * span, i), va="center",
                            fontsize=8, annotation_clip=False)
        ax.set_yticks(range(len(comps)), [f"{c['arm']} − {c['baseline']}" if j == 0 else "" for c in comps])
        ax.set_xlim(-1.15 * span, 1.15 * span)
        ax.invert_yaxis()
        label, lower = METRICS[metric]
        level = sorted({e["alpha"] for e in entries}) or [design["alpha"]]
        ax.set_xlabel(f"difference in {label} ({'lower' if lower else 'higher'} is better)\n"
                      f"{kind}, level {'/'.join(f'{a:g}' for a in level)}", fontsize=8)
        ax.legend(loc="lower left", fontsize=7)
    fig.suptitle("Primary family, each arm − " + design["baseline"] + " (colour: the endpoint's verdict; right: the "
                 "family's)", fontsize=9)
    fig.tight_layout()
    save_png(fig, path, tight=False)


def save_metric_panels(values: dict[str, dict[str, dict[int, float]]], path: Path, labels: dict[str, str]) -> None:
    """One panel per metric: each arm's per-seed values (dots, seed numbers beside them) and its
    mean with a Student-t 95% confidence interval (bar and error bar). ``values[metric][arm][seed]``."""
    plt = pyplot()
    cols = 4
    rows = -(-len(values) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.9 * rows), squeeze=False)
    for ax, (metric, per_arm) in zip(axes.ravel(), values.items()):
        for i, per_seed in enumerate(per_arm.values()):
            ys = np.array(list(per_seed.values()), dtype=float)
            half = t_halfwidth(ys, 0.05) if len(ys) > 1 else 0.0
            ax.bar(i, ys.mean(), color=f"C{i}", alpha=0.3, width=0.6)
            ax.errorbar(i, ys.mean(), yerr=half, color="k", capsize=4, linewidth=1)
            ax.scatter(np.full(len(ys), i), ys, color=f"C{i}", zorder=3, s=14)
            for seed, y in per_seed.items():
                ax.annotate(str(seed), (i, y), xytext=(4, 0), textcoords="offset points", fontsize=6)
        ax.set_xticks(range(len(per_arm)), list(per_arm))
        ax.set_title(labels.get(metric, metric), fontsize=9)
    for ax in axes.ravel()[len(values):]:
        ax.axis("off")
    fig.suptitle("Per seed (dots), mean and 95% t-interval (bar, whiskers)", fontsize=10)
    fig.tight_layout()
    save_png(fig, path)
