"""Rebuild the README's figures in docs/ from the outputs of `make run`.

Run from the repo root after `dvc repro`: ``.venv/bin/python docs/make_figures.py``; with
``--study REPO`` it copies a study's results instead (``docs/study/``: the verdict figure,
``evaluate.json`` and its per-seed values as ``values.csv`` for ``qgan compare``).
"""
import csv
import json
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

DOCS, TRAIN = Path("docs"), Path("reports/train")
BLOCK = "0-3"  # the default block of train.seeds (reports/train/<arm>-<block>/<arm>-<seed>/)


def main() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    for ax, arm in zip(axes, ("entropy", "prng")):
        grid = Image.open(TRAIN / f"{arm}-{BLOCK}" / f"{arm}-0" / "samples.png")
        ax.imshow(grid, cmap="gray", interpolation="nearest")
        ax.set_title(f"{arm}, seed 0", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(DOCS / "samples-seed0.png", dpi=100, bbox_inches="tight")
    shutil.copyfile(TRAIN / f"entropy-{BLOCK}" / "entropy-0" / "epochs.png", DOCS / "epochs-entropy-0.png")
    shutil.copyfile("reports/noise/noise.png", DOCS / "noise.png")
    shutil.copyfile("reports/figures/metrics.png", DOCS / "metrics.png")
    shutil.copyfile("reports/verdicts.png", DOCS / "verdicts.png")


def study(repo: Path) -> None:
    from qgan.decision.verdict import CSV_COLUMNS, result_to_values, values_to_csv_rows

    out = DOCS / "study"
    out.mkdir(exist_ok=True)
    for name in ("reports/verdicts.png", "metrics/evaluate.json"):
        shutil.copyfile(repo / name, out / Path(name).name)
    result = json.loads((repo / "metrics/evaluate.json").read_text())
    with open(out / "values.csv", "w", newline="") as f:
        csv.writer(f).writerows([CSV_COLUMNS, *values_to_csv_rows(result_to_values(result))])


if __name__ == "__main__":
    study(Path(sys.argv[2])) if sys.argv[1:2] == ["--study"] else main()
