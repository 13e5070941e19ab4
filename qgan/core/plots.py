"""Figures people look at: sample grids, loss curves, noise histograms and Q-Q plots; and the
matplotlib set-up every figure of qgan uses (:func:`pyplot`, :func:`save_png`).

All writers are atomic (temp file, fsync, rename) and use matplotlib's Agg backend. The
evaluation's figures (per-seed metric panels, the verdict plot) are in :mod:`qgan.decision.figures`.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from qgan.core.atomic import write_bytes_atomic, write_text_atomic


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed): every figure of qgan starts here."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path: Path, tight: bool = True) -> None:
    """``fig`` as a 110-dpi PNG at ``path`` (atomically), cropped to its content when ``tight``; closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if tight else None)
    pyplot().close(fig)
    write_bytes_atomic(path, buf.getvalue())


def rows_to_csv(header: list[str], rows) -> str:
    """A header and rows as CSV text (the files ``dvc plots`` reads)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


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


def evenly_spaced(items: list, most: int) -> list:
    """At most ``most`` of ``items``, evenly spaced, the first and last included."""
    picks = np.linspace(0, len(items) - 1, min(most, len(items))).round().astype(int)
    return [items[i] for i in sorted(set(picks))]


def save_epoch_grids(grids: dict[int, np.ndarray], path: Path, title: str, most: int = 6) -> None:
    """Sample grids ``{epoch: (H, W) uint8}`` (one fixed noise) at up to ``most`` evenly spaced
    epochs, first and last included, side by side: how the samples formed."""
    picked = evenly_spaced(sorted(grids), most)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(picked), figsize=(2.2 * len(picked), 2.5), squeeze=False)
    for ax, epoch in zip(axes[0], picked):
        ax.imshow(grids[epoch], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"epoch {epoch}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def save_losses(losses: np.ndarray, csv_path: Path, png_path: Path, title: str) -> None:
    """Per-step losses ``(steps, 3)`` (D real, D fake, G) as CSV for ``dvc plots`` and a PNG."""
    d_loss, g_loss = losses[:, 0] + losses[:, 1], losses[:, 2]
    write_text_atomic(csv_path, rows_to_csv(["step", "d_loss", "g_loss"],
                                          ([step, f"{d:.6f}", f"{g:.6f}"] for step, (d, g) in
                                           enumerate(zip(d_loss, g_loss)))))

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    window = max(1, len(d_loss) // 50)
    kernel = np.ones(window) / window
    for series, label in ((d_loss, "D loss"), (g_loss, "G loss")):
        ax.plot(series, alpha=0.25, linewidth=0.6)
        ax.plot(np.arange(window - 1, len(series)), np.convolve(series, kernel, "valid"),
                label=f"{label} (mean of {window})", color=ax.lines[-1].get_color())
    ax.set(xlabel="step", ylabel="BCE loss", title=title)
    ax.legend(frameon=False)
    save_png(fig, png_path)


def noise_to_plot_tables(normals: np.ndarray, counts: np.ndarray, max_points: int = 1_000_000,
                         bins: int = 120, qq_points: int = 400) -> dict[str, tuple[list[str], list]]:
    """The data behind the noise plots, as ``{name: (header, rows)}``:

    - ``histogram``: density of evenly spaced normals in ``bins`` bins on [-5, 5] beside the
      N(0, 1) density at the bin centre;
    - ``qq``: sample quantile vs N(0, 1) quantile at ``qq_points`` plotting positions
      ``(i + 0.5) / n`` chosen evenly in the normal quantile, so the tails are shown;
    - ``bytes``: count of each byte value of the pool, its expectation ``E = total / 256`` and
      the standardised residual ``(count - E) / sqrt(E)`` (about N(0, 1) each for uniform bytes;
      their squares sum to the byte chi^2).
    """
    from scipy import stats
    step = max(1, len(normals) // max_points)
    x = np.sort(np.asarray(normals[::step][:max_points], dtype=np.float64))
    x = x[np.isfinite(x)]
    tables: dict[str, tuple[list[str], list]] = {}
    if len(x):
        edges = np.linspace(-5, 5, bins + 1)
        hist, _ = np.histogram(x, edges)
        centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        tables["histogram"] = (["z", "sample_density", "normal_density"],
                               [[f"{c:.4f}", f"{h / (len(x) * width):.6f}", f"{stats.norm.pdf(c):.6f}"]
                                for c, h in zip(centres, hist)])
        n = len(x)
        grid = np.linspace(stats.norm.ppf(0.5 / n), stats.norm.ppf(1 - 0.5 / n), qq_points)
        index = np.unique(np.clip(np.round(stats.norm.cdf(grid) * n - 0.5), 0, n - 1).astype(np.int64))
        tables["qq"] = (["normal_quantile", "sample_quantile"],
                        [[f"{stats.norm.ppf((i + 0.5) / n):.5f}", f"{x[i]:.5f}"] for i in index])
    expected = counts.sum() / 256
    residual = (counts - expected) / np.sqrt(expected) if expected else np.zeros(256)
    tables["bytes"] = (["byte", "count", "expected", "residual"],
                       [[b, int(c), f"{expected:.1f}", f"{r:.4f}"] for b, (c, r) in enumerate(zip(counts, residual))])
    return tables


def save_noise_plots(tables: dict[str, tuple[list[str], list]], csv_dir: Path, png: Path) -> None:
    """Each table as ``csv_dir/<name>.csv`` (for ``dvc plots``) and one PNG of all three:
    histogram over the N(0, 1) density, normal Q-Q plot, byte residuals with +-3 lines."""
    for name, (header, rows) in tables.items():
        write_text_atomic(csv_dir / f"{name}.csv", rows_to_csv(header, rows))
    plt = pyplot()
    fig, (h, q, b) = plt.subplots(1, 3, figsize=(13, 3.5))
    if "histogram" in tables:
        z, sample, normal = np.array(tables["histogram"][1], dtype=float).T
        h.bar(z, sample, width=z[1] - z[0], alpha=0.6, label="normals")
        h.plot(z, normal, "k", linewidth=1, label="N(0, 1)")
        h.legend(frameon=False, fontsize=8)
        theory, sample_q = np.array(tables["qq"][1], dtype=float).T
        q.plot(theory, sample_q, ".", markersize=2)
        lim = max(abs(theory).max(), abs(sample_q).max())
        q.plot([-lim, lim], [-lim, lim], "k", linewidth=0.8)
    h.set(xlabel="z", ylabel="density", title="Histogram of the normals")
    q.set(xlabel="N(0, 1) quantile", ylabel="sample quantile", title="Normal Q-Q")
    byte, _, expected, residual = np.array(tables["bytes"][1], dtype=float).T
    b.bar(byte, residual, width=1.0, alpha=0.6)
    for level in (-3, 3):
        b.axhline(level, color="k", linewidth=0.6, linestyle="--")
    b.set(xlabel="byte value", ylabel="(count - E) / sqrt(E)",
          title=f"Pool bytes vs uniform (E = {expected[0]:,.0f} each)")
    save_png(fig, png)
