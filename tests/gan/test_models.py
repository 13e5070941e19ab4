import torch

from qgan.gan.models import Discriminator, Generator, state_dict_sha256, uint8_to_images
from qgan.scoring.classifier import Classifier


def test_shapes():
    g, d, c = Generator(10), Discriminator(), Classifier()
    g.eval(), d.eval()
    img = g(torch.zeros(3, 10))
    assert img.shape == (3, 1, 28, 28) and img.abs().max() <= 1
    assert d(img).shape == (3, 1)
    assert c(img).shape == (3, 10) and c.features(img).shape == (3, Classifier.FEATURE_DIM)


def test_pixels_map_to_unit_range():
    import numpy as np
    x = uint8_to_images(np.array([[[0] * 28] * 27 + [[255] * 28]], dtype=np.uint8))
    assert x.shape == (1, 1, 28, 28) and x.min() == -1 and x.max() == 1


def test_state_dict_sha256_sees_one_weight():
    torch.manual_seed(0)
    g = Generator(4)
    before = state_dict_sha256(g)
    assert before == state_dict_sha256(g)
    with torch.no_grad():
        g.model[0].weight[0, 0] += 1e-7
    assert state_dict_sha256(g) != before
