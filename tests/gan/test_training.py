import numpy as np
import pytest
import torch

from qgan.core.runtime import make_deterministic
from qgan.gan.data import Split
from qgan.gan.models import state_dict_sha256
from qgan.gan.training import generate_images, train_gan, train_group
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

    def on_epoch_end(epoch, generate, losses):
        images = generate([torch.zeros(4, params.latent_dim)])  # what the grid logger does
        seen.append((epoch, images[0].shape, torch.is_grad_enabled()))
        again = generate([torch.zeros(4, params.latent_dim)])
        assert torch.equal(images[0], again[0])  # eval mode: BatchNorm's running stats, no update

    make_deterministic(2)
    ctx = noise_context(params.noise_plan, 96, 0, None, None)
    with_cb = train_gan(small_split, params.train, params.latent_dim, 0, make_noise("prng", "train", ctx),
                        torch.device("cpu"), progress=False, on_epoch_end=on_epoch_end)
    make_deterministic(2)
    without = train_gan(small_split, params.train, params.latent_dim, 0, make_noise("prng", "train", ctx),
                        torch.device("cpu"), progress=False)
    assert seen == [(1, (4, 1, 28, 28), False), (2, (4, 1, 28, 28), False)]
    assert state_dict_sha256(with_cb.generator) == state_dict_sha256(without.generator)
    assert np.array_equal(with_cb.losses, without.losses)
    with torch.no_grad():  # the last grid equals the trained module's output in eval mode
        final = []
        on_epoch_end_last = lambda e, g, losses: final.append(g([torch.zeros(4, params.latent_dim)])[0])  # noqa: E731
        make_deterministic(2)
        train_gan(small_split, params.train, params.latent_dim, 0, make_noise("prng", "train", ctx),
                  torch.device("cpu"), progress=False, on_epoch_end=on_epoch_end_last)
        assert torch.equal(final[-1], without.generator(torch.zeros(4, params.latent_dim)))


def _group(params, split, arm, seeds, normals):
    """Train ``seeds`` of ``arm`` as one group; returns {seed: TrainedGan}."""
    make_deterministic(2)
    noises = [make_noise(arm, "train", noise_context(params.noise_plan, len(split.labels), s, 3 * len(normals),
                                                     normals)) for s in seeds]
    return dict(zip(seeds, train_group(split, params.train, params.latent_dim, list(seeds), noises,
                                       torch.device("cpu"), progress=False)))


@pytest.fixture
def wide_params(tiny_params):
    from dataclasses import replace
    return replace(tiny_params, train=replace(tiny_params.train, seeds=("0-3", 5, 7, 9)))


def test_a_model_does_not_depend_on_its_group_or_position(wide_params, small_split):
    """Composition and position independence on the CPU, bit for bit: seed 0 trained alone, with
    other seeds, first or last, gives the same generator, discriminator and per-step losses."""
    normals = _normals(wide_params)
    alone = _group(wide_params, small_split, "entropy", [0], normals)[0]
    groups = [[0, 5, 7], [9, 3, 0], [2, 0], [0, 1, 2, 3, 5, 7, 9]]
    for seeds in groups:
        run = _group(wide_params, small_split, "entropy", seeds, normals)[0]
        assert state_dict_sha256(run.generator) == state_dict_sha256(alone.generator), seeds
        assert state_dict_sha256(run.discriminator) == state_dict_sha256(alone.discriminator), seeds
        assert np.array_equal(run.losses, alone.losses), seeds
    mates = _group(wide_params, small_split, "entropy", [5, 0], normals)
    assert state_dict_sha256(mates[5].generator) != state_dict_sha256(mates[0].generator)


def test_paired_design_holds_inside_groups(wide_params, small_split):
    """Arms of a seed share init, data order and dropout masks wherever the seed sits in its
    group: the first D loss on real images is identical across arms, and differs across seeds."""
    normals = _normals(wide_params)
    entropy = _group(wide_params, small_split, "entropy", [0, 1, 2], normals)
    prng = _group(wide_params, small_split, "prng", [2, 0, 1], normals)
    torch_arm = _group(wide_params, small_split, "torch", [1, 2, 0], normals)
    for seed in (0, 1, 2):
        assert entropy[seed].losses[0, 0] == prng[seed].losses[0, 0] == torch_arm[seed].losses[0, 0]
        assert entropy[seed].losses[0, 1] != prng[seed].losses[0, 1]  # the fake loss sees the noise
    assert len({entropy[s].losses[0, 0] for s in (0, 1, 2)}) == 3


def test_pairing_seeds_are_independent_per_purpose_and_seed():
    from qgan.gan.training import pairing_seeds
    a, b = pairing_seeds(0), pairing_seeds(1)
    assert set(a) == {"init", "order", "dropout"} and len(set(a.values()) | set(b.values())) == 6
    assert pairing_seeds(0) == a and all(0 <= v < 2 ** 63 for v in a.values())
