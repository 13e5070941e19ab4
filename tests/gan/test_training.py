import numpy as np
import pytest
import torch

from qgan.core.runtime import make_deterministic
from qgan.gan.data import Split
from qgan.gan.models import state_dict_sha256
from qgan.gan.training import generate_images, train_gan
from qgan.noise.layout import run_demand
from qgan.noise.streams import make_noise, noise_context


@pytest.fixture
def small_split():
    rng = np.random.default_rng(0)
    return Split(rng.integers(0, 256, (96, 28, 28), dtype=np.uint8), (np.arange(96) % 10).astype(np.uint8))


def _train(params, split, arm, seed):
    make_deterministic(2)
    normals = _normals(params)
    ctx = noise_context(params.noise_plan, len(split.labels), seed, 3 * len(normals), normals)
    noise = make_noise(arm, "train", ctx)
    return train_gan(split, params.train, params.latent_dim, seed, noise, torch.device("cpu"), progress=False), noise


def _normals(params):
    from qgan.noise.convert import bytes_to_normals
    from qgan.noise.layout import noise_layout
    n = noise_layout(params.noise_plan, 96).total_normals
    return bytes_to_normals(np.frombuffer(np.random.default_rng(9).bytes(3 * n + 6), dtype=np.uint8), 24)


def test_arms_share_init_and_data_order(tiny_params, small_split):
    """First-step D loss on real images depends on init, data order and dropout, not on noise."""
    ent, _ = _train(tiny_params, small_split, "entropy", 0)
    prn, _ = _train(tiny_params, small_split, "prng", 0)
    other, _ = _train(tiny_params, small_split, "prng", 1)
    assert ent.losses[0, 0] == prn.losses[0, 0]
    assert ent.losses[0, 0] != other.losses[0, 0]
    assert ent.losses[0, 1] != prn.losses[0, 1]  # fake loss sees the noise
    assert state_dict_sha256(ent.generator) != state_dict_sha256(prn.generator)


def test_same_inputs_give_bit_identical_generator(tiny_params, small_split):
    a, noise = _train(tiny_params, small_split, "entropy", 1)
    b, _ = _train(tiny_params, small_split, "entropy", 1)
    assert state_dict_sha256(a.generator) == state_dict_sha256(b.generator)
    assert noise.drawn == run_demand(tiny_params.noise_plan, 96).train_normals
    assert a.losses.shape == (3, 3)  # 96 // 32 steps x (d_real, d_fake, g)


def test_generate_images_in_batches(tiny_params, small_split):
    trained, _ = _train(tiny_params, small_split, "prng", 0)
    ctx = noise_context(tiny_params.noise_plan, 96, 0, None, None)
    noise = make_noise("prng", "eval", ctx)
    imgs = generate_images(trained.generator, noise, 60, batch_size=32)
    whole = generate_images(trained.generator, make_noise("prng", "eval", ctx), 60, batch_size=60)
    assert imgs.shape == (60, 1, 28, 28) and noise.drawn == 60 * tiny_params.latent_dim
    assert torch.allclose(imgs, whole, atol=1e-6)  # eval mode: batching does not change an image


def test_epoch_callback_sees_eval_mode_and_does_not_change_training(tiny_params, small_split):
    from dataclasses import replace
    params = replace(tiny_params, train=replace(tiny_params.train, epochs=2))
    seen = []

    def on_epoch_end(epoch, generator):
        seen.append((epoch, generator.training, torch.is_grad_enabled()))
        generator(torch.zeros(4, params.latent_dim))  # what the grid logger does

    make_deterministic(2)
    ctx = noise_context(params.noise_plan, 96, 0, None, None)
    with_cb = train_gan(small_split, params.train, params.latent_dim, 0, make_noise("prng", "train", ctx),
                        torch.device("cpu"), progress=False, on_epoch_end=on_epoch_end)
    make_deterministic(2)
    without = train_gan(small_split, params.train, params.latent_dim, 0, make_noise("prng", "train", ctx),
                        torch.device("cpu"), progress=False)
    assert seen == [(1, False, False), (2, False, False)]
    assert state_dict_sha256(with_cb.generator) == state_dict_sha256(without.generator)
    assert np.array_equal(with_cb.losses, without.losses)


def test_pairing_seeds_are_independent_per_purpose_and_seed():
    from qgan.gan.training import pairing_seeds
    a, b = pairing_seeds(0), pairing_seeds(1)
    assert set(a) == {"init", "order", "dropout"} and len(set(a.values()) | set(b.values())) == 6
    assert pairing_seeds(0) == a and all(0 <= v < 2 ** 63 for v in a.values())


def test_dropout_masks_do_not_depend_on_how_much_init_drew():
    """Dropout draws from torch's global generator, re-seeded after init: a model with more
    weights to initialise (a larger latent_dim) still gets the same dropout masks."""
    from qgan.gan.training import build_pair
    masks = []
    for latent_dim in (8, 100):
        _, discriminator = build_pair(latent_dim, 3, torch.device("cpu"))
        dropout = discriminator.model[2]
        masks.append(dropout(torch.ones(16, 512)) == 0)  # train mode: a fresh mask
    assert torch.equal(masks[0], masks[1]) and 0 < masks[0].float().mean() < 1
