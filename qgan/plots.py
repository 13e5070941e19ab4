"""Figures people look at: sample grids, loss curves, noise histograms and Q-Q plots, metric charts.

All writers are atomic (temp file, fsync, rename) and use matplotlib's Agg backend.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from qgan.atomic import write_bytes_atomic, write_text_atomic


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    write_bytes_atomic(path, buf.getvalue())


def images_to_grid(images: np.ndarray, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """``(N, 1, 28, 28)`` in [-1, 1] -> one ``(H, W) uint8`` tile image (rows of ``nrow``)."""
    n = len(images)
    rows = -(-n // nrow)
    tile = 28 + pad
    grid = np.zeros((rows * tile + pad, nrow * tile + pad), dtype=np.uint8)
    pixels = np.clip((np.asarray(images)[:, 0] + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    for i, img in enumerate(pixels):
        r, c = divmod(i, nrow)
        grid[pad + r * tile: pad + r * tile + 28, pad + c * tile: pad + c * tile + 28] = img
    return grid


def save_grid_png(images: np.ndarray, path: Path, nrow: int = 8) -> None:
    from PIL import Image
    grid = images_to_grid(images, nrow)
    buf = io.BytesIO()
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(buf, "PNG")
    write_bytes_atomic(path, buf.getvalue())


def save_losses(losses: np.ndarray, csv_path: Path, png_path: Path, title: str) -> None:
    """Per-step losses ``(steps, 3)`` (D real, D fake, G) as CSV for ``dvc plots`` and a PNG."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["step", "d_loss", "g_loss"])
    d_loss, g_loss = losses[:, 0] + losses[:, 1], losses[:, 2]
    for step, (d, g) in enumerate(zip(d_loss, g_loss)):
        writer.writerow([step, f"{d:.6f}", f"{g:.6f}"])
    write_text_atomic(csv_path, out.getvalue())

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    window = max(1, len(d_loss) // 50)
    kernel = np.ones(window) / window
    for series, label in ((d_loss, "D loss"), (g_loss, "G loss")):
        ax.plot(series, alpha=0.25, linewidth=0.6)
        ax.plot(np.arange(window - 1, len(series)), np.convolve(series, kernel, "valid"),
                label=f"{label} (mean of {window})", color=ax.lines[-1].get_color())
    ax.set(xlabel="step", ylabel="BCE loss", title=title)
    ax.legend(frameon=False)
    _save(fig, png_path)


def save_noise_figure(normals: np.ndarray, path: Path, max_points: int = 200_000) -> None:
    """Histogram over the N(0, 1) density and a normal Q-Q plot of evenly spaced normals."""
    from scipy import stats
    plt = _pyplot()
    step = max(1, len(normals) // max_points)
    x = np.sort(np.asarray(normals[::step][:max_points], dtype=np.float64))
    fig, (h, q) = plt.subplots(1, 2, figsize=(9, 3.5))
    h.hist(x, bins=120, density=True, alpha=0.6, label=f"normals (n={len(x):,})")
    grid = np.linspace(-5, 5, 400)
    h.plot(grid, stats.norm.pdf(grid), "k", linewidth=1, label="N(0, 1)")
    h.set(xlabel="z", ylabel="density", title="Histogram")
    h.legend(frameon=False, fontsize=8)
    theory = stats.norm.ppf((np.arange(len(x)) + 0.5) / len(x))
    q.plot(theory, x, ".", markersize=1)
    q.plot([-5, 5], [-5, 5], "k", linewidth=0.8)
    q.set(xlabel="N(0, 1) quantile", ylabel="sample quantile", title="Normal Q-Q")
    _save(fig, path)


def save_metric_chart(values: dict[str, dict[int, float]], path: Path, metric: str) -> None:
    """Per-seed values of ``metric`` for each arm (dots) with the arm mean (bar)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.8 + 1.4 * len(values), 3.2))
    for i, per_seed in enumerate(values.values()):
        ys = np.array(list(per_seed.values()))
        ax.bar(i, ys.mean(), color=f"C{i}", alpha=0.35, width=0.6)
        ax.scatter(np.full(len(ys), i), ys, color=f"C{i}", zorder=3)
        for seed, y in per_seed.items():
            ax.annotate(str(seed), (i, y), xytext=(5, 0), textcoords="offset points", fontsize=7)
    ax.set_xticks(range(len(values)), list(values))
    ax.set(ylabel=metric, title=f"{metric} per seed (bar = mean)")
    _save(fig, path)
