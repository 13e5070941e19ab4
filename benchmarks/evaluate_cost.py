"""Cost of evaluating one generator at 10,000 samples: every metric, on this machine's CPU.

Times each part (generation, classifier features, FID, KID, precision/recall,
density/coverage, class statistics) for N = 10,000 generated images against 10,000 reference
feature vectors (the reference set is made the same way, so its size and cost are those of
real data). Goal: all of it under a minute on 2 cores. No assertion: numbers to read.
Run: ``.venv/bin/python benchmarks/evaluate_cost.py``
"""
import time

import torch

from qgan.gan.models import Generator
from qgan.scoring.classifier import Classifier, images_to_outputs
from qgan.scoring.fidelity import class_statistics, density_coverage, kid, precision_recall
from qgan.scoring.frechet import features_to_fid

N, LATENT = 10_000, 100


def main() -> None:
    torch.manual_seed(0)
    generator, classifier = Generator(LATENT).eval(), Classifier().eval()
    times = {}

    def timed(name, fn):
        start = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - start
        return out

    with torch.no_grad():
        images = timed("generate 10,000 images", lambda: generator(torch.randn(N, LATENT)).reshape(N, 1, 28, 28))
        reference = generator(torch.randn(N, LATENT)).reshape(N, 1, 28, 28)
    feats, probs = timed("classifier features", lambda: images_to_outputs(classifier, images, 500))
    real, _ = images_to_outputs(classifier, reference, 500)
    timed("FID", lambda: features_to_fid(feats, real))
    timed("KID (100 subsets of 1,000)", lambda: kid(real, feats))
    timed("precision and recall (k=3)", lambda: precision_recall(real, feats))
    timed("density and coverage (k=5)", lambda: density_coverage(real, feats))
    timed("class histogram, Inception Score", lambda: class_statistics(probs))
    print(f"one generator, N = {N:,} generated vs {N:,} reference; torch threads {torch.get_num_threads()}")
    for name, seconds in times.items():
        print(f"{name:<36} {seconds:>7.2f} s")
    total = sum(times.values())
    print(f"{'total':<36} {total:>7.2f} s  ({total / 60:.2f} of the 1-minute goal)")


if __name__ == "__main__":
    main()
