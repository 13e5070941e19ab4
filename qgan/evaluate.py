"""Score generators with the classifier's features and compare arms seed by seed.

For each (arm, seed) run: draw ``n_samples`` latent vectors from the run's own ``eval``
noise region, generate images, take the classifier's penultimate features, and compute
the Frechet distance (FID-LeNet) to the real test split at that N. The floor is the same
distance for min(n_samples, n_train) real training images (``reference.n_real``). Arms are compared by the paired
difference ``arm - prng`` per seed.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from qgan import tracking
from qgan.atomic import read_json, write_json_atomic
from qgan.classifier import images_to_outputs
from qgan.convert import load_normals
from qgan.data import Split, load_split, stratified_order
from qgan.errors import QganError
from qgan.archive import read_manifest
from qgan.metrics import FID, FID_REFERENCE, features_to_fid, features_to_statistics, paired_differences, \
    statistics_to_fid
from qgan.models import Classifier, Generator, uint8_to_images
from qgan.noise import make_noise, noise_context
from qgan.params import POOL_ARMS, Params
from qgan.plots import save_metric_chart
from qgan.report import write_report
from qgan.runtime import make_deterministic, select_device
from qgan.train import generate_images

BASELINE_ARM = "prng"  # paired differences are taken as ``arm - BASELINE_ARM``


def checkpoint_to_generator(checkpoint: dict, device: torch.device) -> Generator:
    generator = Generator(checkpoint["latent_dim"]).to(device)
    generator.load_state_dict(checkpoint["generator"])
    return generator.eval()


def evaluate_runs(checkpoints: dict[tuple[str, int], dict], classifier: Classifier, train: Split,
                  test: Split, params: Params, normals: np.ndarray | None, device: torch.device) -> dict:
    """FID of every run and the reference floor; returns the ``metrics/evaluate.json`` content."""
    n = params.evaluate.n_samples
    batch = params.evaluate.batch_size
    test_feats, _ = images_to_outputs(classifier, uint8_to_images(test.images), batch)
    test_stats = features_to_statistics(test_feats)
    real = train.take(np.sort(stratified_order(train.labels, params.data.split_seed)[:n]))
    real_feats, _ = images_to_outputs(classifier, uint8_to_images(real.images), batch)

    fid: dict[str, dict[int, float]] = {}
    for (arm, seed), checkpoint in sorted(checkpoints.items()):
        generator = checkpoint_to_generator(checkpoint, device)
        ctx = noise_context(params, len(train.labels), seed, normals)
        noise, _ = make_noise(arm, "eval", ctx)
        images = generate_images(generator, noise, n, batch)
        feats, _ = images_to_outputs(classifier, images, batch)
        fid.setdefault(arm, {})[seed] = statistics_to_fid(*features_to_statistics(feats), *test_stats)

    result = {"n_samples": n, "n_test": int(len(test.labels)), "extractor": "classifier penultimate (128-d)",
              FID: {arm: {**{str(s): v for s, v in per_seed.items()}, "mean": float(np.mean(list(per_seed.values())))}
                    for arm, per_seed in fid.items()},
              "reference": {FID_REFERENCE: features_to_fid(real_feats, test_feats), "n_real": int(len(real.labels))},
              "paired": {}}
    if BASELINE_ARM in fid:
        for arm in fid:
            if arm != BASELINE_ARM:
                result["paired"][f"{arm}_minus_{BASELINE_ARM}"] = {FID: paired_differences(fid[arm], fid[BASELINE_ARM])}
    return result


def per_seed(result: dict, metric: str = FID) -> dict[str, dict[int, float]]:
    """``{arm: {seed: value}}`` from an evaluate result (drops the ``mean`` entry)."""
    return {arm: {int(s): v for s, v in values.items() if s != "mean"} for arm, values in result[metric].items()}


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def run_evaluation(params: Params, data_dir: Path, models_dir: Path, classifier_path: Path,
                   normals_path: Path, manifest_path: Path, noise_metrics: Path, entropy_metrics: Path,
                   noise_figure: Path, classifier_metrics: Path, train_dir: Path, out_metrics: Path, out_report: Path,
                   figures_dir: Path) -> dict:
    """Score every (arm, seed) run, write metrics, figures and the report, log to MLflow."""
    make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    train, test = load_split(data_dir, "train"), load_split(data_dir, "test")
    classifier = Classifier()
    classifier.load_state_dict(load_checkpoint(classifier_path)["state_dict"])
    classifier.to(device).eval()
    runs = [(a, s) for a in params.train.arms for s in params.train.seeds]
    checkpoints = {}
    for arm, seed in runs:
        path = models_dir / f"{arm}-{seed}.pt"
        if not path.exists():
            raise QganError(f"{path}: not found; run the train stage for {arm}-{seed}")
        checkpoints[(arm, seed)] = load_checkpoint(path)
    normals = load_normals(normals_path) if set(POOL_ARMS) & set(params.train.arms) else None
    result = evaluate_runs(checkpoints, classifier, train, test, params, normals, device)
    write_json_atomic(out_metrics, result)

    save_metric_chart(per_seed(result, FID), figures_dir / "fid.png", "FID-LeNet")
    figures = {"fid": figures_dir / "fid.png", "noise": noise_figure,
               **{f"grid:{a}-{s}": train_dir / f"{a}-{s}" / "samples.png" for a, s in runs}}
    figures = {k: os.path.relpath(p, out_report.parent) for k, p in figures.items() if p.exists()}
    write_report(out_report, result, read_manifest(manifest_path), read_json(noise_metrics),
                 read_json(entropy_metrics), read_json(classifier_metrics), runs, figures)

    for (arm, seed), checkpoint in checkpoints.items():
        try:
            run = tracking.RunLogger.resume(checkpoint["mlflow_run_id"])
        except Exception as exc:  # the store may have been reset since training
            print(f"warning: MLflow run of {arm}-{seed} not found ({exc.__class__.__name__}); metrics not logged")
            continue
        run.log_metrics([(f"{FID}_lenet", result[FID][arm][str(seed)], 0),
                         (f"{FID}_lenet_n", result["n_samples"], 0)])
    return result
