"""Score generators: every metric of every run against the real test digits, at one N.

For each (arm, seed) run: draw ``n_samples`` latent vectors from the run's own ``eval`` noise
region, generate images, take the classifier's penultimate features and class probabilities,
and compute every metric of :data:`qgan.core.metric_registry.METRICS` against the real test
split at that N (:func:`qgan.scoring.metrics.features_to_metrics`). The floors are the same
metrics for ``min(n_samples, holdout)`` real training digits the extractor never saw
(:func:`qgan.scoring.classifier.split_holdout`); the primary family's endpoints are also redrawn
``evaluate.redraws`` times (:func:`~qgan.scoring.variance.redraw_family`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qgan.core.metric_registry import METRICS
from qgan.gan.data import Split, stratified_order
from qgan.gan.models import checkpoint_to_generator, state_dict_sha256, uint8_to_images
from qgan.gan.training import generate_images
from qgan.noise.arms import POOL_ARMS
from qgan.noise.streams import make_noise, noise_context
from qgan.params import Params
from qgan.scoring.classifier import EXTRACTOR_NAME, Classifier, images_to_outputs, split_holdout
from qgan.scoring.metrics import RealReference, features_to_metrics, features_to_reference
from qgan.scoring.variance import redraw_family


@dataclass
class Scores:
    """What scoring every run gives, in the shapes ``metrics/evaluate.json`` holds them."""
    values: dict[str, dict[int, dict[str, float]]]  # values[arm][seed][metric]
    runs: dict[str, dict]                            # per "<arm>-<seed>": KID's std, class counts, redraws
    noise: dict[str, dict]                           # per "<arm>-<seed>": the checkpoint's accounting + eval read
    redraws: dict[str, dict[str, dict[int, list]]]   # redraws[metric][arm][seed]: a family endpoint per redraw
    reference: dict[str, float]                      # every metric for unseen real training digits (the floor)
    extractor: dict[str, str]                        # the extractor's name and weight digest


def split_to_reference(classifier: Classifier, split: Split, batch: int) -> RealReference:
    """The real side every metric compares with: the extractor's features of ``split`` (the test digits)."""
    return features_to_reference(images_to_outputs(classifier, uint8_to_images(split.images), batch)[0])


def score_runs(checkpoints: dict[tuple[str, int], dict], classifier: Classifier, train: Split, test: Split,
               params: Params, pool_bytes: int, normals: np.ndarray | None, device: torch.device) -> Scores:
    """Score each checkpoint's generator (``checkpoints[(arm, seed)]``) on its own evaluation noise."""
    cfg = params.evaluate
    n, batch = cfg.n_samples, cfg.batch_size
    reference = split_to_reference(classifier, test, batch)  # the real side, once for every run
    _, held = split_holdout(train, params.classifier.holdout)  # digits the extractor never saw
    real = held.take(np.sort(stratified_order(held.labels, params.data.split_seed)[:n]))
    real_feats, real_probs = images_to_outputs(classifier, uint8_to_images(real.images), batch)

    def score(feats, probs):
        return features_to_metrics(reference, feats, probs, cfg.kid_subsets, cfg.kid_subset_size)

    scores = Scores({}, {}, {}, {}, {}, {"name": EXTRACTOR_NAME, "sha256": state_dict_sha256(classifier)})
    for (arm, seed), checkpoint in sorted(checkpoints.items()):
        generator = checkpoint_to_generator(checkpoint, device)
        ctx = noise_context(params.noise_plan, len(train.labels), seed, pool_bytes, normals, reading=arm in POOL_ARMS)
        noise = make_noise(arm, "eval", ctx)
        feats, probs = images_to_outputs(classifier, generate_images(generator, noise, n, batch), batch)
        m = score(feats, probs)
        name = f"{arm}-{seed}"
        scores.values.setdefault(arm, {})[seed] = {k: m[k] for k in METRICS}
        scores.runs[name] = {"kid_std": m["kid_std"], "class_counts": m["class_counts"]}
        scores.noise[name] = {**checkpoint["noise"], "eval": noise.record()}
        redrawn = redraw_family(generator, classifier, reference, arm, seed, n, batch, device, cfg.family,
                                cfg.redraws, params.convert.bits, params.convert.method)
        if redrawn is not None:
            scores.runs[name]["redraws"] = redrawn
            for metric, per in redrawn.items():
                scores.redraws.setdefault(metric, {}).setdefault(arm, {})[seed] = per
    scores.reference = {**{k: v for k, v in score(real_feats, real_probs).items() if k in METRICS},
                        "n_real": int(len(real.labels))}
    return scores
