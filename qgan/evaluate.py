"""Score generators with the classifier's features and compare arms seed by seed.

For each (arm, seed) run: draw ``n_samples`` latent vectors from the run's own ``eval``
noise region, generate images, take the classifier's penultimate features, and compute
the Frechet distance (FID-LeNet) to the real test split at that N. The floor is the same
distance for ``n_samples`` real training images. Arms are compared by the paired
difference ``arm - prng`` per seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from qgan.classifier import images_to_outputs
from qgan.data import Split, stratified_order
from qgan.metrics import FID, FID_REFERENCE, features_to_fid, features_to_statistics, paired_differences, \
    statistics_to_fid
from qgan.models import Classifier, Generator, uint8_to_images
from qgan.noise import make_noise, noise_context
from qgan.params import Params
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
    real = train.take(np.sort(stratified_order(train.labels, 0)[:n]))
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
