"""The ``evaluate`` stage: score every run, judge each arm against the baseline, write and log it.

:func:`run_evaluate` loads the classifier and every configured run's checkpoint
(:func:`load_scoring`), refuses a checkpoint trained on other noise than ``train.seeds`` now
assigns it (:func:`check_training_noise`), scores the runs (:func:`qgan.scoring.score.score_runs`),
and assembles ``metrics/evaluate.json`` (:func:`scores_to_result`): per-seed values, per-arm
summaries, the floors, the verdicts (:func:`qgan.decision.verdict.values_to_verdicts`, the code
``qgan compare`` runs), each family endpoint's variance components and the noise accounting. Then
the figures, and each run's metrics on MLflow (:func:`qgan.pipeline.evaluate_log.log_evaluation`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qgan.core.atomic import read_json, write_json_atomic, write_text_atomic
from qgan.core.errors import QganError
from qgan.core.metric_registry import METRICS
from qgan.core.plots import rows_to_csv
from qgan.core.runtime import make_deterministic, select_device
from qgan.core.torch_io import load_checkpoint
from qgan.decision.figures import save_metric_panels
from qgan.decision.verdict import Design, result_to_values, values_to_summary, values_to_verdicts
from qgan.entropy.archive import read_manifest
from qgan.gan.data import load_split
from qgan.gan.models import state_dict_sha256
from qgan.noise.arms import BASELINE_ARM, POOL_ARMS
from qgan.noise.convert import load_normals
from qgan.noise.layout import records_to_accounting
from qgan.noise.streams import make_noise, noise_context
from qgan.params import Params
from qgan.pipeline.evaluate_log import log_evaluation
from qgan.pipeline.paths import checkpoint_path, train_stage
from qgan.scoring.classifier import Classifier, same_extractor
from qgan.scoring.score import Scores, score_runs
from qgan.scoring.variance import variance_components


@dataclass(frozen=True)
class EvaluateInputs:
    data: Path           # the data stage's folder (train and test splits, meta.json)
    models: Path         # the train stages' folders, <arm>-<block>/<arm>-<seed>.pt
    classifier: Path     # the feature extractor's checkpoint
    normals: Path        # normals.npy (the evaluation noise of arms that read the pool)
    manifest: Path       # the pool's manifest.json


@dataclass(frozen=True)
class EvaluateOutputs:
    metrics: Path   # metrics/evaluate.json
    figures: Path   # folder of metrics.png and per_seed.csv


def load_extractor(classifier: Path, classifier_metrics: Path, device: torch.device) -> Classifier:
    """The classifier stage's extractor on ``device``, in eval mode; one line if it is missing, not a
    classifier checkpoint, or not the one ``classifier_metrics`` records (metrics of two extractors
    are never compared)."""
    if not classifier.is_file():
        raise QganError(f"{classifier}: no feature extractor; run the classifier stage (`dvc repro classifier`)")
    try:
        model = Classifier()
        model.load_state_dict(load_checkpoint(classifier)["state_dict"])
    except (KeyError, RuntimeError, OSError, EOFError) as exc:
        raise QganError(f"{classifier}: not a classifier checkpoint of this version ({type(exc).__name__})") from None
    same_extractor({str(classifier): state_dict_sha256(model),
                    str(classifier_metrics): read_json(classifier_metrics).get("extractor_sha256") or "unrecorded"})
    return model.to(device).eval()


def load_scoring(params: Params, inputs: EvaluateInputs, classifier_metrics: Path, device: torch.device
                 ) -> tuple[Classifier, dict[tuple[str, int], dict]]:
    """The extractor on ``device`` (:func:`load_extractor`) and every configured run's checkpoint
    (one line if one is missing)."""
    classifier = load_extractor(inputs.classifier, classifier_metrics, device)
    checkpoints = {}
    for arm in params.train.arms:
        for seed in params.train.seed_list:
            path = checkpoint_path(inputs.models, params, arm, seed)
            if not path.exists():
                raise QganError(f"{path}: not found; run the train stage {train_stage(params, arm, seed)}")
            checkpoints[(arm, seed)] = load_checkpoint(path)
    return classifier, checkpoints


def check_training_noise(checkpoints: dict[tuple[str, int], dict], params: Params, n_train: int, pool_bytes: int,
                         normals: np.ndarray | None) -> None:
    """Refuse a checkpoint trained on other noise than ``train.seeds`` now assigns the run (the
    train stage does not depend on ``train.seeds``, so a reordered list would go unnoticed)."""
    for (arm, seed), checkpoint in sorted(checkpoints.items()):
        ctx = noise_context(params.noise_plan, n_train, seed, pool_bytes, normals, reading=arm in POOL_ARMS)
        planned, recorded = make_noise(arm, "train", ctx).info, checkpoint["noise"]["train"]
        if planned != {k: recorded.get(k) for k in planned}:
            raise QganError(f"{arm}-{seed}: trained on noise {recorded.get('normals')} but train.seeds now gives it "
                            f"{planned.get('normals')}; append new seeds instead of reordering, or re-run "
                            f"`dvc repro -f {train_stage(params, arm, seed)}`")


def scores_to_result(scores: Scores, params: Params, n_test: int, pool_bytes: int) -> dict:
    """``metrics/evaluate.json``: the scores with the per-arm summary, the noise accounting (checked:
    no overlap, nothing outside the pool), the variance components and the verdicts (None without
    the baseline arm)."""
    cfg = params.evaluate
    result = {"n_samples": cfg.n_samples, "n_test": n_test, "extractor": scores.extractor,
              "reference": scores.reference,
              "values": {arm: {str(s): v for s, v in per.items()} for arm, per in scores.values.items()},
              "summary": values_to_summary(scores.values), "runs": scores.runs, "noise": scores.noise}
    result["accounting"] = records_to_accounting(scores.noise, pool_bytes)
    if result["accounting"]["overlaps"] or result["accounting"]["outside_pool"]:
        raise QganError(f"noise accounting: pool ranges overlap or lie outside the pool: {result['accounting']}")
    result["variance"] = {metric: variance_components(scores.values, scores.redraws.get(metric, {}), metric,
                                                      BASELINE_ARM, cfg.redraws) for metric in cfg.family}
    result["verdicts"] = (values_to_verdicts(scores.values, Design.from_params(cfg))
                          if BASELINE_ARM in scores.values else None)
    return result


def per_seed_csv(result: dict) -> str:
    """One row per run (``arm-seed``) and one column per metric, for ``dvc plots``."""
    rows = ([f"{arm}-{seed}", arm, seed, *(f"{v[m]:.6g}" for m in METRICS)]
            for arm, per in result["values"].items() for seed, v in per.items())
    return rows_to_csv(["run", "arm", "seed", *METRICS], rows)


def write_figures(result: dict, outputs: EvaluateOutputs) -> None:
    """``per_seed.csv`` (for ``dvc plots``) and ``metrics.png`` (every metric per seed and arm)."""
    write_text_atomic(outputs.figures / "per_seed.csv", per_seed_csv(result))
    per = {m: {arm: {s: v[m] for s, v in vals.items()} for arm, vals in result_to_values(result).items()}
           for m in METRICS}
    save_metric_panels(per, outputs.figures / "metrics.png", {m: label for m, (label, _) in METRICS.items()})


def run_evaluate(params: Params, inputs: EvaluateInputs, classifier_metrics: Path, outputs: EvaluateOutputs) -> dict:
    """Score every (arm, seed) run, judge them, write metrics and figures; log each run's metrics
    to its MLflow run and the verdicts to the pipeline's parent run."""
    make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    train, test = load_split(inputs.data, "train"), load_split(inputs.data, "test")
    classifier, checkpoints = load_scoring(params, inputs, classifier_metrics, device)
    manifest = read_manifest(inputs.manifest)
    pool_bytes = int(manifest["total_bytes"])
    normals = load_normals(inputs.normals) if params.reads_pool else None
    check_training_noise(checkpoints, params, len(train.labels), pool_bytes, normals)
    scores = score_runs(checkpoints, classifier, train, test, params, pool_bytes, normals, device)
    result = scores_to_result(scores, params, int(len(test.labels)), pool_bytes)
    write_json_atomic(outputs.metrics, result)
    write_figures(result, outputs)
    log_evaluation(result, checkpoints, params, manifest, read_json(inputs.data / "meta.json")["digest"],
                   [outputs.metrics, outputs.figures / "metrics.png"])
    return result
