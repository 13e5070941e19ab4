"""The verdict figure: each comparison's primary difference with its interval, the margin band."""
from __future__ import annotations

import io
from pathlib import Path

from qgan.core.atomic import write_bytes_atomic
from qgan.core.endpoints import METRICS


def save_verdict_plot(verdicts: dict, path: Path) -> None:
    """One row per comparison (arm - baseline): point at the mean difference, bar over its
    interval (clipped to the plot where it is infinite), the ``+-delta`` band shaded, 0 dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    design, comps = verdicts["design"], list(verdicts["comparisons"].values())
    delta = design["margin"]
    finite = [x for c in comps for x in c["primary"]["interval"] if x is not None]
    span = max([abs(x) for x in finite] + [2 * delta])
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(comps) + 1.6))
    ax.axvspan(-delta, delta, color="C2", alpha=0.15, label=f"equivalence margin ±{delta:g}")
    ax.axvline(0, color="k", linestyle="--", linewidth=0.8)
    colours = {"better": "C0", "worse": "C3", "equivalent": "C2", "inconclusive": "0.4"}
    for i, c in enumerate(comps):
        p = c["primary"]
        if p["mean"] is None:
            continue
        low, high = p["interval"]  # null: unbounded (too few seeds), drawn to the plot's edge
        low = -1.1 * span if low is None else max(-1.1 * span, low)
        high = 1.1 * span if high is None else min(1.1 * span, high)
        ax.plot([low, high], [i, i], color=colours[p["verdict"]], linewidth=2.5)
        ax.plot(p["mean"], i, "o", color=colours[p["verdict"]])
        ax.annotate(f"{p['verdict']} (n={p['n_seeds']})", (1.12 * span, i), va="center", fontsize=8,
                    annotation_clip=False)
    ax.set_yticks(range(len(comps)), [f"{c['arm']} − {c['baseline']}" for c in comps])
    ax.set_xlim(-1.15 * span, 1.15 * span)
    ax.invert_yaxis()
    label, lower = METRICS[design["primary"]]
    kind = "anytime-valid confidence sequence" if design["inference"] == "anytime" else "fixed-n t interval"
    ax.set_xlabel(f"difference in {label} ({'lower' if lower else 'higher'} is better); "
                  f"{100 * (1 - design['alpha']):.0f}% {kind}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
