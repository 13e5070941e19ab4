"""Score generators with the classifier's features and judge each arm against the baseline.

For each (arm, seed) run: draw ``n_samples`` latent vectors from the run's own ``eval`` noise
region, generate images, take the classifier's penultimate features and class probabilities,
and compute every metric of :data:`qgan.evaluation.metrics.METRICS` against the real test split
at that N. The floors are the same metrics for ``min(n_samples, n_train)`` real training images
(``reference``). The per-seed values ``values[arm][seed][metric]`` go to
:func:`qgan.evaluation.verdict.values_to_verdicts` (the code ``qgan compare`` runs), and the
primary metric's evaluation-sampling variance to :mod:`qgan.evaluation.variance`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qgan.core.atomic import read_json, write_json_atomic, write_text_atomic
from qgan.core.errors import QganError
from qgan.core.plots import rows_to_csv, save_metric_panels
from qgan.core.runtime import make_deterministic, select_device
from qgan.entropy.archive import read_manifest
from qgan.evaluation.classifier import EXTRACTOR_NAME, Classifier, images_to_outputs, same_extractor
from qgan.evaluation.metrics import METRICS, features_to_metrics, features_to_reference
from qgan.evaluation.mlflow_log import log_evaluation
from qgan.evaluation.variance import EVAL_REDRAWS, redraw_primary, variance_components
from qgan.evaluation.verdict import Design, values_to_verdicts
from qgan.gan.data import Split, load_split, stratified_order
from qgan.gan.models import Generator, state_dict_sha256, uint8_to_images
from qgan.gan.run import checkpoint_path
from qgan.gan.training import generate_images
from qgan.noise.convert import load_normals
from qgan.noise.layout import records_to_accounting
from qgan.noise.streams import POOL_ARMS, make_noise, noise_context
from qgan.params import Params

BASELINE_ARM = "prng"  # paired differences are taken as ``arm - BASELINE_ARM``


def params_to_design(params: Params) -> Design:
    """The verdict's design from ``evaluate.*``."""
    e = params.evaluate
    return Design(primary=e.primary, margin=e.margin, alpha=e.alpha, inference=e.inference, baseline=BASELINE_ARM)


def checkpoint_to_generator(checkpoint: dict, device: torch.device) -> Generator:
    generator = Generator(checkpoint["latent_dim"]).to(device)
    generator.load_state_dict(checkpoint["generator"])
    return generator.eval()


def same_training_noise(arm: str, seed: int, planned: dict, recorded: dict, params: Params) -> None:
    """Refuse a checkpoint trained on other noise than ``train.seeds`` now assigns the run (the
    train stage does not depend on ``train.seeds``, so a reordered list would go unnoticed)."""
    if planned != {k: recorded.get(k) for k in planned}:
        raise QganError(f"{arm}-{seed}: trained on noise {recorded.get('normals')} but train.seeds now gives it "
                        f"{planned.get('normals')}; append new seeds instead of reordering, or re-run "
                        f"`dvc repro -f train@{arm}-{params.train.block_of(seed)}`")


def evaluate_runs(checkpoints: dict[tuple[str, int], dict], classifier: Classifier, train: Split,
                  test: Split, params: Params, pool_bytes: int, normals: np.ndarray | None,
                  device: torch.device) -> dict:
    """Every metric of every run, the floors, the verdicts, the primary metric's variance
    components and each run's noise accounting: ``metrics/evaluate.json``."""
    cfg = params.evaluate
    n, batch = cfg.n_samples, cfg.batch_size
    test_feats, _ = images_to_outputs(classifier, uint8_to_images(test.images), batch)
    reference = features_to_reference(test_feats)  # the real side, once for every run
    real = train.take(np.sort(stratified_order(train.labels, params.data.split_seed)[:n]))
    real_feats, real_probs = images_to_outputs(classifier, uint8_to_images(real.images), batch)

    def score(feats, probs):
        return features_to_metrics(reference, feats, probs, cfg.kid_subsets, cfg.kid_subset_size)

    values: dict[str, dict[int, dict]] = {}
    extra: dict[str, dict] = {}
    redraws: dict[str, dict[int, list[float]]] = {}
    noise_records = {}
    for (arm, seed), checkpoint in sorted(checkpoints.items()):
        generator = checkpoint_to_generator(checkpoint, device)
        ctx = noise_context(params.noise_plan, len(train.labels), seed, pool_bytes, normals, reading=arm in POOL_ARMS)
        same_training_noise(arm, seed, make_noise(arm, "train", ctx).info, checkpoint["noise"]["train"], params)
        noise = make_noise(arm, "eval", ctx)
        feats, probs = images_to_outputs(classifier, generate_images(generator, noise, n, batch), batch)
        m = score(feats, probs)
        values.setdefault(arm, {})[seed] = {k: m[k] for k in METRICS}
        extra[f"{arm}-{seed}"] = {"kid_std": m["kid_std"], "class_counts": m["class_counts"]}
        noise_records[f"{arm}-{seed}"] = {**checkpoint["noise"], "eval": noise.record()}
        fids = redraw_primary(generator, classifier, reference, arm, seed, n, batch, device, cfg.primary)
        if fids is not None:
            redraws.setdefault(arm, {})[seed] = extra[f"{arm}-{seed}"]["redraws"] = fids

    extractor = {"name": EXTRACTOR_NAME, "sha256": state_dict_sha256(classifier)}
    result = {"n_samples": n, "n_test": int(len(test.labels)), "extractor": extractor,
              "reference": {**{k: v for k, v in score(real_feats, real_probs).items() if k in METRICS},
                            "n_real": int(len(real.labels))},
              "values": {arm: {str(s): v for s, v in per.items()} for arm, per in values.items()},
              "summary": values_to_summary(values), "runs": extra, "noise": noise_records}
    result["accounting"] = records_to_accounting(noise_records, pool_bytes)
    if result["accounting"]["overlaps"] or result["accounting"]["outside_pool"]:
        raise QganError(f"noise accounting: pool ranges overlap or lie outside the pool: {result['accounting']}")
    result["variance"] = variance_components(values, redraws, cfg.primary, BASELINE_ARM, EVAL_REDRAWS)
    result["verdicts"] = values_to_verdicts(values, params_to_design(params)) if BASELINE_ARM in values else None
    return result


def values_to_summary(values: dict[str, dict[int, dict]]) -> dict:
    """``{arm: {metric: {"n", "mean", "sd"}}}`` over the arm's seeds (sd null below 2 seeds)."""
    out = {}
    for arm, per in values.items():
        out[arm] = {}
        for metric in METRICS:
            x = np.array([v[metric] for v in per.values()], dtype=np.float64)
            out[arm][metric] = {"n": len(x), "mean": float(x.mean()),
                                "sd": float(x.std(ddof=1)) if len(x) > 1 else None}
    return out


def result_to_values(result: dict) -> dict[str, dict[int, dict[str, float]]]:
    """``values[arm][seed][metric]`` (int seeds) from ``metrics/evaluate.json``."""
    return {arm: {int(s): v for s, v in per.items()} for arm, per in result["values"].items()}


def per_seed_csv(result: dict) -> str:
    """One row per run (``arm-seed``) and one column per metric, for ``dvc plots``."""
    rows = ([f"{arm}-{seed}", arm, seed, *(f"{v[m]:.6g}" for m in METRICS)]
            for arm, per in result["values"].items() for seed, v in per.items())
    return rows_to_csv(["run", "arm", "seed", *METRICS], rows)


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


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


def load_scoring(params: Params, inputs: EvaluateInputs, device: torch.device
                 ) -> tuple[Classifier, dict[tuple[str, int], dict]]:
    """The classifier on ``device`` and every configured run's checkpoint (one line if one is missing)."""
    classifier = Classifier()
    classifier.load_state_dict(load_checkpoint(inputs.classifier)["state_dict"])
    classifier.to(device).eval()
    checkpoints = {}
    for arm in params.train.arms:
        for seed in params.train.seed_list:
            path = checkpoint_path(inputs.models, params, arm, seed)
            if not path.exists():
                raise QganError(f"{path}: not found; run the train stage train@{arm}-{params.train.block_of(seed)}")
            checkpoints[(arm, seed)] = load_checkpoint(path)
    return classifier, checkpoints


def write_figures(result: dict, outputs: EvaluateOutputs) -> None:
    """``per_seed.csv`` (for ``dvc plots``) and ``metrics.png`` (every metric per seed and arm)."""
    write_text_atomic(outputs.figures / "per_seed.csv", per_seed_csv(result))
    per = {m: {arm: {s: v[m] for s, v in vals.items()} for arm, vals in result_to_values(result).items()}
           for m in METRICS}
    save_metric_panels(per, outputs.figures / "metrics.png", {m: label for m, (label, _) in METRICS.items()})


def run_evaluation(params: Params, inputs: EvaluateInputs, classifier_metrics: Path, outputs: EvaluateOutputs
                   ) -> dict:
    """Score every (arm, seed) run, judge them, write metrics and figures; log each run's metrics
    to its MLflow run and the verdicts to the pipeline's parent run
    (:func:`qgan.evaluation.mlflow_log.log_evaluation`)."""
    make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    train, test = load_split(inputs.data, "train"), load_split(inputs.data, "test")
    classifier, checkpoints = load_scoring(params, inputs, device)
    same_extractor({str(inputs.classifier): state_dict_sha256(classifier),
                    str(classifier_metrics): read_json(classifier_metrics).get("extractor_sha256") or "unrecorded"})
    manifest = read_manifest(inputs.manifest)
    normals = load_normals(inputs.normals) if params.reads_pool else None
    result = evaluate_runs(checkpoints, classifier, train, test, params, int(manifest["total_bytes"]), normals,
                           device)
    write_json_atomic(outputs.metrics, result)
    write_figures(result, outputs)
    log_evaluation(result, checkpoints, params, manifest, read_json(inputs.data / "meta.json")["digest"],
                   [outputs.metrics, outputs.figures / "metrics.png"])
    return result
