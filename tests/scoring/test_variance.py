"""Redraws of the primary metric: fresh PCG64 latents through the run's own conversion."""
import numpy as np
import pytest
import torch

from qgan.gan.models import Generator
from qgan.gan.training import generate_images
from qgan.noise.streams import PrngNoise
from qgan.scoring.classifier import Classifier, images_to_outputs
from qgan.scoring.frechet import features_to_statistics, statistics_to_fid
from qgan.scoring.metrics import features_to_reference
from qgan.scoring.variance import REDRAW_SPAWN_KEY, redraw_family

R = 3  # redraws in these tests

N, BATCH = 200, 100


@pytest.fixture(scope="module")
def scoring():
    torch.manual_seed(0)
    generator, classifier = Generator(8).eval(), Classifier().eval()
    real = images_to_outputs(classifier, torch.rand(N, 1, 28, 28) * 2 - 1, BATCH)[0]
    return generator, classifier, features_to_reference(real)


def redraws(scoring, arm, bits, method):
    generator, classifier, reference = scoring
    out = redraw_family(generator, classifier, reference, arm, 3, N, BATCH, torch.device("cpu"), ("fid", "coverage"),
                        R, bits, method)
    return None if out is None else out["fid"]


def test_redraws_use_the_runs_conversion(scoring):
    """The default (24-bit Box-Muller) redraws are exactly that conversion of the redraw streams; an
    inverse-CDF run gets inverse-CDF redraws (they used to be Box-Muller whatever convert.method said)."""
    generator, classifier, reference = scoring
    box = redraws(scoring, "prng", 24, "box_muller")
    expected = []
    for r in range(R):
        noise = PrngNoise(np.random.SeedSequence(3, spawn_key=(REDRAW_SPAWN_KEY, r)), 24, "box_muller")
        feats, _ = images_to_outputs(classifier, generate_images(generator, noise, N, BATCH), BATCH)
        expected.append(float(statistics_to_fid(*features_to_statistics(feats), reference.mean, reference.cov)))
    assert box == expected and len(set(box)) == R  # R different fresh draws
    family = redraw_family(generator, classifier, reference, "prng", 3, N, BATCH, torch.device("cpu"),
                           ("fid", "coverage"), R, 24, "box_muller")
    assert family["fid"] == box and len(family["coverage"]) == R  # the diversity endpoint too
    inverse = redraws(scoring, "prng", 24, "inverse_cdf")
    assert len(inverse) == R and all(a != b for a, b in zip(inverse, box))
    assert redraws(scoring, "entropy", 16, "box_muller") != box  # the bit depth matters too


def test_only_standard_normal_arms_are_redrawn(scoring):
    assert redraws(scoring, "torch", 24, "box_muller") is not None
    for arm in ("legacy8", "distinct-64", "rank-4", "scale-50"):
        assert redraws(scoring, arm, 24, "box_muller") is None, arm


def test_zero_redraws_make_none(scoring):
    generator, classifier, reference = scoring
    assert redraw_family(generator, classifier, reference, "prng", 3, N, BATCH, torch.device("cpu"),
                         ("fid", "coverage"), 0, 24, "box_muller") is None
