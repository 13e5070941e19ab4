"""The ``report`` stage: ``reports/report.md`` and the verdict figure from the metrics files alone.

Reads JSON and finds figures; imports nothing that loads torch (``tests/test_dvc_yaml.py``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qgan.core.atomic import read_json, write_text_atomic
from qgan.decision.figures import save_verdict_plot
from qgan.decision.report import result_to_markdown
from qgan.entropy.archive import read_manifest
from qgan.params import Params
from qgan.pipeline.paths import figures_path


@dataclass(frozen=True)
class ReportInputs:
    evaluation: Path          # metrics/evaluate.json
    noise_metrics: Path       # metrics/noise.json (normality of the normals)
    entropy_metrics: Path     # metrics/entropy_tests.json (tests of the pool's bytes)
    classifier_metrics: Path  # metrics/classifier.json
    manifest: Path            # the pool's manifest.json
    noise_figure: Path        # reports/noise/noise.png
    eval_figures: Path        # the evaluate stage's figures folder (metrics.png)
    train_figures: Path       # the train stages' figure folders, <arm>-<block>/<arm>-<seed>/


@dataclass(frozen=True)
class ReportOutputs:
    report: Path    # reports/report.md
    verdicts: Path  # reports/verdicts.png


def run_report(params: Params, inputs: ReportInputs, outputs: ReportOutputs) -> str:
    """Write the report (its figures linked relative to it) and the verdict figure; returns the text."""
    result = read_json(inputs.evaluation)
    runs = [(arm, int(seed)) for arm, per in result["values"].items() for seed in per]
    if result["verdicts"]:
        save_verdict_plot(result["verdicts"], outputs.verdicts)
    folder = {(a, s): figures_path(inputs.train_figures, params, a, s) for a, s in runs}
    figures = {"metrics": inputs.eval_figures / "metrics.png", "noise": inputs.noise_figure,
               "verdicts": outputs.verdicts,
               **{f"{kind}:{a}-{s}": folder[(a, s)] / f"{name}.png" for a, s in runs
                  for kind, name in (("grid", "samples"), ("losses", "losses"), ("epochs", "epochs"))}}
    figures = {k: os.path.relpath(p, outputs.report.parent) for k, p in figures.items() if p.exists()}
    text = result_to_markdown(result, read_manifest(inputs.manifest), read_json(inputs.noise_metrics),
                              read_json(inputs.entropy_metrics), read_json(inputs.classifier_metrics), runs, figures)
    write_text_atomic(outputs.report, text)
    return text
