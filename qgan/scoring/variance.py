"""How much of each primary-family endpoint's spread is evaluation sampling, and how much is training.

A run's value is ``y_s = mu + a_s + e_s``: ``a_s`` the training seed's effect (variance
``tau^2``), ``e_s`` the evaluation draw's (variance ``sigma_e^2``: which N latent vectors were
sampled). Re-evaluating each generator ``R`` times with fresh latent vectors
(:func:`redraw_family`) estimates ``sigma_e^2`` as the mean within-generator variance; the
variance of ``y_s`` across seeds estimates ``tau^2 + sigma_e^2``, so ``tau^2`` is the
difference (floored at 0), with ``seeds x (R - 1)`` degrees of freedom. For a paired
difference the evaluation part is the sum of the two arms'. Redraws use fresh PCG64 normals
(the same conversion as every arm), so they are made only for arms whose latents are standard
normal (not the ladder's rungs nor ``legacy8``). The real side stays the test digits (every
run is compared with the same real set), so the real set's own sampling is not in
``sigma_e^2``: it is common to every run and cancels from paired differences.
"""
from __future__ import annotations

import numpy as np
import torch

from qgan.gan.models import Generator
from qgan.gan.training import generate_images
from qgan.noise.arms import arm_info
from qgan.noise.streams import PrngNoise
from qgan.scoring.classifier import Classifier, images_to_outputs
from qgan.scoring.metrics import RealReference, features_to_endpoints

REDRAW_SPAWN_KEY = 90     # first SeedSequence spawn-key word of the redraws (above every arm's: qgan.noise.arms)


def redraw_family(generator: Generator, classifier: Classifier, reference: RealReference, arm: str, seed: int,
                  n: int, batch: int, device: torch.device, endpoints: tuple[str, ...], redraws: int, bits: int,
                  method: str) -> dict[str, list[float]] | None:
    """``{metric: [value per redraw]}`` of ``generator`` for each of the family's ``endpoints``, over
    ``redraws`` fresh sets of ``n`` latents (redraw ``r`` always the same set), each PCG64 bytes
    through ``bits``-bit uniforms and ``method`` (the conversion the arm's own noise had); None
    for an arm whose latents are not standard normal or when ``redraws`` is 0."""
    if not arm_info(arm).standard_normal or redraws == 0:
        return None
    out: dict[str, list[float]] = {m: [] for m in endpoints}
    for r in range(redraws):
        noise = PrngNoise(np.random.SeedSequence(seed, spawn_key=(REDRAW_SPAWN_KEY, r)), bits, method)
        feats, probs = images_to_outputs(classifier, generate_images(generator, noise, n, batch), batch)
        for metric, value in features_to_endpoints(reference, feats, probs, endpoints).items():
            out[metric].append(value)
    return out


def _var(x) -> float | None:
    x = np.asarray(x, dtype=np.float64)
    return float(x.var(ddof=1)) if len(x) > 1 else None


def variance_components(values: dict[str, dict[int, dict]], redraws: dict[str, dict[int, list[float]]],
                        metric: str, baseline: str, r: int) -> dict:
    """``{"metric", "redraws", "arms": {arm: {total_var, eval_var, train_var, eval_share}},
    "paired": {"<arm>_vs_<baseline>": {total_var, eval_var, eval_share, shared_latents_var}}}`` (null
    where unknown). ``shared_latents_var`` is the variance across seeds of the difference when both
    arms are scored on the *same* fresh latents, averaged over the R redraws: what sharing the
    evaluation noise across arms (common random numbers) and evaluating R times would leave."""
    arms = {}
    for arm, per in redraws.items():
        total = _var([values[arm][s][metric] for s in per])
        within = float(np.mean([_var(x) for x in per.values()])) if r > 1 and per else None
        arms[arm] = {"seeds": len(per), "total_var": total, "eval_var": within,
                     "train_var": None if total is None or within is None else max(0.0, total - within),
                     "eval_share": None if not total or within is None else min(1.0, within / total)}
    paired = {}
    if baseline in arms:
        for arm in arms:
            if arm == baseline:
                continue
            seeds = sorted(set(redraws[arm]) & set(redraws[baseline]))
            total = _var([values[arm][s][metric] - values[baseline][s][metric] for s in seeds])
            parts = (arms[arm]["eval_var"], arms[baseline]["eval_var"])
            within = None if None in parts else parts[0] + parts[1]
            # the same redraw latents for both arms (common random numbers), averaged over the redraws
            shared = _var([np.mean(np.subtract(redraws[arm][s], redraws[baseline][s])) for s in seeds])
            paired[f"{arm}_vs_{baseline}"] = {"seeds": len(seeds), "total_var": total, "eval_var": within,
                                              "eval_share": None if not total or within is None
                                              else min(1.0, within / total), "shared_latents_var": shared}
    return {"metric": metric, "redraws": r, "arms": arms, "paired": paired}
