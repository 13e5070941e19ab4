"""Score generators with the classifier's features and compare arms seed by seed.

For each (arm, seed) run: draw ``n_samples`` latent vectors from the run's own ``eval``
noise region, generate images, take the classifier's penultimate features and class
probabilities, and compute every metric of :data:`qgan.evaluation.metrics.METRICS` against the real
test split at that N. The floors are the same metrics for ``min(n_samples, n_train)`` real
training images (``reference``). Every other arm is compared with ``prng`` seed by seed
(:func:`qgan.core.stats.paired_comparison`), each metric getting a verdict.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qgan.core import tracking
from qgan.core.atomic import read_json, write_json_atomic, write_text_atomic
from qgan.core.errors import QganError
from qgan.core.plots import rows_to_csv, save_metric_panels
from qgan.core.runtime import make_deterministic, select_device
from qgan.core.stats import judge, paired_comparison
from qgan.entropy.archive import read_manifest
from qgan.evaluation.classifier import EXTRACTOR_NAME, Classifier, images_to_outputs, same_extractor
from qgan.evaluation.metrics import METRICS, features_to_metrics, features_to_reference
from qgan.evaluation.report import write_report
from qgan.gan.data import Split, load_split, stratified_order
from qgan.gan.models import Generator, state_dict_sha256, uint8_to_images
from qgan.gan.run import checkpoint_path, figures_path
from qgan.gan.training import generate_images
from qgan.noise.convert import load_normals
from qgan.noise.layout import records_to_accounting
from qgan.noise.streams import POOL_ARMS, make_noise, noise_context
from qgan.params import Params

BASELINE_ARM = "prng"  # paired differences are taken as ``arm - BASELINE_ARM``


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
    """Every metric of every run, the floors, the paired comparisons and each run's noise
    accounting (training, grid and evaluation ranges, reuse factor): ``metrics/evaluate.json``."""
    cfg = params.evaluate
    n, batch = cfg.n_samples, cfg.batch_size
    test_feats, _ = images_to_outputs(classifier, uint8_to_images(test.images), batch)
    reference = features_to_reference(test_feats)  # the real side, once for every run
    real = train.take(np.sort(stratified_order(train.labels, params.data.split_seed)[:n]))
    real_feats, real_probs = images_to_outputs(classifier, uint8_to_images(real.images), batch)

    def score(feats, probs):
        return features_to_metrics(reference, feats, probs, cfg.kid_subsets, cfg.kid_subset_size)

    scores: dict[str, dict[int, dict]] = {}
    noise_records = {}
    for (arm, seed), checkpoint in sorted(checkpoints.items()):
        generator = checkpoint_to_generator(checkpoint, device)
        ctx = noise_context(params.noise_plan, len(train.labels), seed, pool_bytes, normals, reading=arm in POOL_ARMS)
        same_training_noise(arm, seed, make_noise(arm, "train", ctx).info, checkpoint["noise"]["train"], params)
        noise = make_noise(arm, "eval", ctx)
        feats, probs = images_to_outputs(classifier, generate_images(generator, noise, n, batch), batch)
        scores.setdefault(arm, {})[seed] = score(feats, probs)
        noise_records[f"{arm}-{seed}"] = {**checkpoint["noise"], "eval": noise.record()}

    extractor = {"name": EXTRACTOR_NAME, "sha256": state_dict_sha256(classifier)}
    result = {"n_samples": n, "n_test": int(len(test.labels)), "extractor": extractor,
              "reference": {**{k: v for k, v in score(real_feats, real_probs).items() if k in METRICS},
                            "n_real": int(len(real.labels))},
              "class_counts": {arm: {str(s): m["class_counts"] for s, m in per.items()} for arm, per in scores.items()},
              "noise": noise_records, "paired": {}, "verdicts": {}}
    for metric in (*METRICS, "kid_std"):
        result[metric] = {arm: {**{str(s): m[metric] for s, m in per.items()},
                                "mean": float(np.mean([m[metric] for m in per.values()]))}
                          for arm, per in scores.items()}
    result["accounting"] = records_to_accounting(noise_records, pool_bytes)
    if result["accounting"]["overlaps"] or result["accounting"]["outside_pool"]:
        raise QganError(f"noise accounting: pool ranges overlap or lie outside the pool: {result['accounting']}")
    result["paired"], result["verdicts"] = compare_arms(scores, cfg.margin, cfg.alpha)
    return result


def compare_arms(scores: dict[str, dict[int, dict]], margin: float, alpha: float) -> tuple[dict, dict]:
    """Each arm against ``prng``, every metric, from ``scores[arm][seed][metric]``:
    ``({"<arm>_vs_prng": {metric: comparison}}, {"<arm>_vs_prng": {metric: verdict}})``."""
    paired, verdicts = {}, {}
    for arm in scores:
        if arm == BASELINE_ARM or BASELINE_ARM not in scores:
            continue
        name = f"{arm}_vs_{BASELINE_ARM}"
        paired[name] = {metric: paired_comparison({s: m[metric] for s, m in scores[arm].items()},
                                                  {s: m[metric] for s, m in scores[BASELINE_ARM].items()}, margin)
                        for metric in METRICS}
        verdicts[name] = judge(paired[name], {m: lower for m, (_, lower) in METRICS.items()}, alpha,
                               names=(arm, BASELINE_ARM))
    return paired, verdicts


def per_seed(result: dict, metric: str) -> dict[str, dict[int, float]]:
    """``{arm: {seed: value}}`` from an evaluate result (drops the ``mean`` entry)."""
    return {arm: {int(s): v for s, v in values.items() if s != "mean"} for arm, values in result[metric].items()}


def per_seed_csv(result: dict) -> str:
    """One row per run (``arm-seed``) and one column per metric, for ``dvc plots``."""
    rows = ([f"{arm}-{seed}", arm, seed, *(f"{result[m][arm][seed]:.6g}" for m in METRICS)]
            for arm, values in result["fid"].items() for seed in values if seed != "mean")
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
    train_figures: Path  # the train stages' figure folders, <arm>-<block>/<arm>-<seed>/ (linked from the report)


@dataclass(frozen=True)
class ReportInputs:
    noise_metrics: Path       # metrics/noise.json (normality of the normals)
    entropy_metrics: Path     # metrics/entropy_tests.json (tests of the pool's bytes)
    noise_figure: Path        # reports/noise/noise.png
    classifier_metrics: Path  # metrics/classifier.json


@dataclass(frozen=True)
class EvaluateOutputs:
    metrics: Path   # metrics/evaluate.json
    report: Path    # reports/report.md
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


def write_figures_and_report(result: dict, runs: list[tuple[str, int]], manifest: dict, params: Params,
                             inputs: EvaluateInputs, report: ReportInputs, outputs: EvaluateOutputs) -> None:
    """``per_seed.csv``, ``metrics.png`` and the report, whose figures link relative to it."""
    write_text_atomic(outputs.figures / "per_seed.csv", per_seed_csv(result))
    save_metric_panels({m: per_seed(result, m) for m in METRICS}, outputs.figures / "metrics.png",
                       {m: label for m, (label, _) in METRICS.items()})
    folder = {(a, s): figures_path(inputs.train_figures, params, a, s) for a, s in runs}
    figures = {"metrics": outputs.figures / "metrics.png", "noise": report.noise_figure,
               **{f"{kind}:{a}-{s}": folder[(a, s)] / f"{name}.png" for a, s in runs
                  for kind, name in (("grid", "samples"), ("losses", "losses"), ("epochs", "epochs"))}}
    figures = {k: os.path.relpath(p, outputs.report.parent) for k, p in figures.items() if p.exists()}
    write_report(outputs.report, result, manifest, read_json(report.noise_metrics),
                 read_json(report.entropy_metrics), read_json(report.classifier_metrics), runs, figures)


def run_evaluation(params: Params, inputs: EvaluateInputs, report: ReportInputs, outputs: EvaluateOutputs) -> dict:
    """Score every (arm, seed) run, write metrics, figures and the report; log each run's metrics
    to its MLflow run and the comparison to the pipeline's parent run (:func:`log_evaluation`)."""
    make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    train, test = load_split(inputs.data, "train"), load_split(inputs.data, "test")
    classifier, checkpoints = load_scoring(params, inputs, device)
    same_extractor({str(inputs.classifier): state_dict_sha256(classifier),
                    str(report.classifier_metrics): read_json(report.classifier_metrics).get("extractor_sha256")
                    or "unrecorded"})
    manifest = read_manifest(inputs.manifest)
    normals = load_normals(inputs.normals) if params.reads_pool else None
    result = evaluate_runs(checkpoints, classifier, train, test, params, int(manifest["total_bytes"]), normals,
                           device)
    write_json_atomic(outputs.metrics, result)
    write_figures_and_report(result, list(checkpoints), manifest, params, inputs, report, outputs)
    log_evaluation(result, checkpoints, params, manifest, read_json(inputs.data / "meta.json")["digest"],
                   [outputs.report, outputs.metrics, outputs.figures / "metrics.png", report.noise_figure])
    return result


def log_evaluation(result: dict, checkpoints: dict[tuple[str, int], dict], params: Params, manifest: dict,
                   data_digest: str, artifacts: list[Path]) -> None:
    """Each run's metrics and evaluation noise on its own MLflow run; on the pipeline's parent run
    the per-arm means (``<arm>/<metric>``), each comparison's difference, CI and p-value
    (``<arm>_vs_prng/<metric>_diff``, ...), verdict tags, the report and figures; then the
    parent is finished."""
    children = []
    for (arm, seed), checkpoint in checkpoints.items():
        run = tracking.RunLogger.find_training(arm, seed, checkpoint["generator_sha256"])
        if run is None:  # the store may have been reset since training
            print(f"warning: no MLflow training run of {arm}-{seed} with this generator; metrics not logged")
            continue
        children.append(run.run_id)
        run.log_metrics([("fid_lenet", result["fid"][arm][str(seed)], 0), ("eval_n_samples", result["n_samples"], 0),
                         *((f"eval_{m}", result[m][arm][str(seed)], 0) for m in (*METRICS, "kid_std"))])
        run.set_tags({"noise_eval": json.dumps(result["noise"][f"{arm}-{seed}"]["eval"]),
                      tracking.TAG_EXTRACTOR: result["extractor"]["sha256"]})
    parent = tracking.RunLogger.open_pipeline(params.flat(), manifest, data_digest)
    rows = [(f"{arm}/{m}", result[m][arm]["mean"], 0) for m in METRICS for arm in result[m]]
    tags = {"evaluated_runs": ",".join(children), "eval_n_samples": result["n_samples"],
            tracking.TAG_EXTRACTOR: result["extractor"]["sha256"]}
    for pair, comparisons in result["paired"].items():
        for m, c in comparisons.items():
            rows += [(f"{pair}/{m}_{k}", c[key], 0) for k, key in (
                ("diff", "mean"), ("ci_low", "bootstrap_ci95_low"), ("ci_high", "bootstrap_ci95_high"),
                ("p_t", "t_pvalue"), ("p_tost", "tost_pvalue")) if key in c]
            tags[f"verdict.{pair}.{m}"] = result["verdicts"][pair][m]
    parent.log_metrics(rows)
    parent.set_tags(tags)
    for path in artifacts:
        if path.exists():
            parent.log_artifact(path, "evaluation")
    parent.finish()
