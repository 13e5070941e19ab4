"""Cost of evaluating one generator at the default N against the cost of training it, side by side.

Ours: everything the evaluate stage does per generator at ``evaluate.n_samples`` (10,000): draw
N latents, generate, extract features and class probabilities, every metric against the 10,000
test-digit reference (FID, KID over 100 subsets of 1,000, precision/recall/density/coverage in
one pass of distances, class statistics), and the ``evaluate.redraws`` redraws of the primary
family (FID and coverage, which needs no radii of the generated set). The reference's own
features and radii, computed once per evaluation, are timed apart. Baseline: one run's
training on the default recipe, timed as a block of 4 trains it (the train stage's unit) for
``--steps`` steps and scaled to the recipe's 4 x 938 steps; random pixels (speed does not
depend on them). Goal: evaluation at most a quarter of training.
Prints each part and last ``ratio <evaluation seconds / training seconds per run>``.
Run: ``.venv/bin/python benchmarks/evaluate_cost.py [--steps 300]``
"""
from qgan.core.numerics import pin_cpu_numerics

pin_cpu_numerics()

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from qgan.core.runtime import make_deterministic  # noqa: E402
from qgan.gan.data import Split  # noqa: E402
from qgan.gan.models import Generator  # noqa: E402
from qgan.gan.training import generate_images, train_group  # noqa: E402
from qgan.noise.layout import steps_per_epoch  # noqa: E402
from qgan.noise.streams import PrngNoise, TorchNoise  # noqa: E402
from qgan.params import Params, dict_to_params  # noqa: E402
from qgan.scoring.classifier import Classifier, images_to_outputs  # noqa: E402
from qgan.scoring.metrics import features_to_metrics, features_to_reference  # noqa: E402
from qgan.scoring.variance import redraw_family  # noqa: E402

BLOCK = 4  # the default block: one train stage trains 4 seeds together


def training_seconds_per_run(params: Params, steps: int) -> float:
    """Seconds of one run's training on the default recipe: a block of ``BLOCK`` for ``steps`` steps,
    per run, scaled to ``epochs x steps_per_epoch(60,000)``."""
    cfg = params.train
    n = steps * cfg.batch_size
    rng = np.random.default_rng(0)
    train = Split(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8))
    seeds = list(range(BLOCK))
    runs = train_group(train, replace(cfg, epochs=1), params.latent_dim, seeds, [TorchNoise(s) for s in seeds],
                       torch.device("cpu"), progress=False)
    recipe_steps = cfg.epochs * steps_per_epoch(60_000, cfg.batch_size)
    return runs[0].seconds / BLOCK * recipe_steps / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300, help="training steps timed (default: %(default)s)")
    args = ap.parse_args()
    params = dict_to_params({})
    make_deterministic(params.train.threads)
    cfg, device = params.evaluate, torch.device("cpu")
    torch.manual_seed(0)
    generator, classifier = Generator(params.latent_dim).eval(), Classifier().eval()
    times = {}

    def timed(name, fn):
        start = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - start
        return out

    real_noise = PrngNoise(np.random.SeedSequence(99), 24, "box_muller")
    real_images = generate_images(generator, real_noise, cfg.n_samples, cfg.batch_size)
    start = time.perf_counter()
    reference = features_to_reference(images_to_outputs(classifier, real_images, cfg.batch_size)[0])
    once = time.perf_counter() - start
    noise = PrngNoise(np.random.SeedSequence(1), 24, "box_muller")
    images = timed("generate N images", lambda: generate_images(generator, noise, cfg.n_samples, cfg.batch_size))
    feats, probs = timed("features and class probabilities",
                         lambda: images_to_outputs(classifier, images, cfg.batch_size))
    timed("every metric (FID, KID, k-NN, classes)",
          lambda: features_to_metrics(reference, feats, probs, cfg.kid_subsets, cfg.kid_subset_size))
    timed(f"{cfg.redraws} redraws of the family ({', '.join(cfg.family)})",
          lambda: redraw_family(generator, classifier, reference, "prng", 0, cfg.n_samples, cfg.batch_size, device,
                                cfg.family, cfg.redraws, params.convert.bits, params.convert.method))
    evaluation = sum(times.values())
    training = training_seconds_per_run(params, args.steps)
    print(f"one generator at N = {cfg.n_samples:,} vs {cfg.n_samples:,} reference features; torch threads "
          f"{torch.get_num_threads()}")
    for name, seconds in times.items():
        print(f"  {name:<42} {seconds:>7.2f} s")
    print(f"  {'evaluation per generator':<42} {evaluation:>7.2f} s  (+ {once:.2f} s once per evaluation: the "
          "reference's features and radii)")
    print(f"training per run (default recipe, block of {BLOCK}, from {args.steps} steps) {training:>7.2f} s")
    print(f"ratio {evaluation / training:.3f}")


if __name__ == "__main__":
    main()
