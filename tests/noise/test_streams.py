import numpy as np
import pytest
import torch

from qgan.noise.convert import bytes_to_normals
from qgan.noise.layout import noise_layout
from qgan.noise.streams import ArrayNoise, NoiseExhausted, PrngNoise, make_noise, noise_context


def _pool_normals(tiny_params, raw):
    return bytes_to_normals(raw, tiny_params.convert.bits)


@pytest.fixture
def pool_bytes(tiny_params):
    layout = noise_layout(tiny_params.noise_plan, 256)
    return np.frombuffer(np.random.default_rng(5).bytes(layout.total_normals * 3), dtype=np.uint8).copy()


def test_one_pool_byte_changes_entropy_batch_not_prng(tiny_params, pool_bytes):
    """The entropy arm's noise really comes from the pool; the prng arm's does not."""
    def first_batches(raw, seed=1):
        ctx = noise_context(tiny_params.noise_plan, 256, seed, len(raw), _pool_normals(tiny_params, raw))
        ent = make_noise("entropy", "train", ctx)
        prn = make_noise("prng", "train", ctx)
        return ent.sample(32, 8), prn.sample(32, 8)

    slot_start = noise_layout(tiny_params.noise_plan, 256).train_range(1)[0]  # seed 1 sits in slot 1
    ent_a, prn_a = first_batches(pool_bytes)
    changed = pool_bytes.copy()
    changed[slot_start * 3] ^= 0x01  # first byte of the run's first normal pair
    ent_b, prn_b = first_batches(changed)
    assert not torch.equal(ent_a, ent_b)
    assert torch.equal(prn_a, prn_b)
    assert ent_a.shape == (32, 8) and ent_a.dtype == torch.float32


def test_regions_and_arms_are_independent(tiny_params, pool_bytes):
    ctx = noise_context(tiny_params.noise_plan, 256, 0, len(pool_bytes), _pool_normals(tiny_params, pool_bytes))
    draws = {(arm, region): make_noise(arm, region, ctx).take(100)
             for arm in ("entropy", "prng") for region in ("train", "grid", "eval")}
    values = list(draws.values())
    assert all(not np.array_equal(a, b) for i, a in enumerate(values) for b in values[i + 1:])
    again = make_noise("prng", "train", ctx).take(100)
    assert np.array_equal(again, draws[("prng", "train")])  # seeded: reproducible


def test_prng_serves_same_numbers_whatever_the_batching():
    whole = PrngNoise(np.random.SeedSequence(4), 24, "box_muller").take(200_000)
    parts = PrngNoise(np.random.SeedSequence(4), 24, "box_muller")
    pieces = np.concatenate([parts.take(n) for n in (7, 70_000, 129_993)])
    assert np.array_equal(whole, pieces) and parts.drawn == 200_000


@pytest.mark.parametrize("bits", [8, 53])
def test_prng_arm_converts_with_every_bit_width(tiny_params, bits):
    from dataclasses import replace
    params = replace(tiny_params, convert=replace(tiny_params.convert, bits=bits))
    ctx = noise_context(params.noise_plan, 256, 0, None, None)
    z = make_noise("prng", "train", ctx).take(4096)
    assert z.dtype == np.float32 and np.isfinite(z).all() and abs(z.mean()) < 0.1 and 0.9 < z.var() < 1.1
    assert np.array_equal(z, make_noise("prng", "train", ctx).take(4096))


def test_entropy_range_is_bounded(tiny_params, pool_bytes):
    normals = _pool_normals(tiny_params, pool_bytes)
    src = ArrayNoise(normals, 10, 20)
    src.take(10)
    with pytest.raises(NoiseExhausted, match="exhausted"):
        src.take(1)
    prng = make_noise("prng", "grid", noise_context(tiny_params.noise_plan, 256, 0, None, None))
    prng.take(64 * 8)  # the grid region: exactly one 8 x 8 grid of latent_dim 8
    with pytest.raises(NoiseExhausted, match="PCG64: range of 512 normals exhausted"):
        prng.take(2)  # bounded like the pool range it stands beside
    with pytest.raises(NoiseExhausted, match=r"pool gives only"):
        ArrayNoise(normals[:5], 0, 20)


def test_unknown_arm(tiny_params):
    from qgan.core.errors import QganError
    with pytest.raises(QganError, match="unknown arm 'torch2'"):
        make_noise("torch2", "train", noise_context(tiny_params.noise_plan, 256, 0, None, None))


def test_every_arm_is_registered_and_serves_standard_normals(tiny_params):
    from dataclasses import replace

    from qgan.noise.arms import ARMS
    assert set(ARMS) == {"entropy", "prng", "prng2", "legacy8", "torch"}
    assert len({a.spawn_key for a in ARMS.values()}) == len(ARMS)  # one independent stream per arm
    params = replace(tiny_params, train=replace(tiny_params.train, epochs=50))  # 204,800 training normals
    ctx = noise_context(params.noise_plan, 256, 0, None, None)
    draws = {arm: make_noise(arm, "train", ctx).take(200_000) for arm in ARMS if not ARMS[arm].reads_pool}
    for arm, z in draws.items():
        assert z.dtype == np.float32 and abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.02, arm
        assert np.array_equal(z, make_noise(arm, "train", ctx).take(200_000)), arm  # seeded
    assert not np.array_equal(draws["prng"], draws["prng2"])  # an independent stream
    assert np.abs(draws["legacy8"]).max() < 3.54 < np.abs(draws["prng"]).max()  # 256 radii only
    legacy = draws["legacy8"].astype(np.float64)
    assert len(np.unique(np.round(np.hypot(legacy[0::2], legacy[1::2]), 4))) <= 256  # one radius per byte value
    assert not np.array_equal(make_noise("torch", "grid", ctx).take(10), draws["torch"][:10])
    state = torch.get_rng_state()
    make_noise("torch", "eval", ctx).take(500)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is untouched


def test_cycling_stream_restarts_exactly_at_its_size(tiny_params, pool_bytes):
    normals = _pool_normals(tiny_params, pool_bytes)
    src = ArrayNoise(normals, 100, 110, {"source": "pool"}, cycle=True)
    got = np.concatenate([src.take(n) for n in (3, 9, 14)])  # 26 normals from a range of 10
    assert np.array_equal(got, np.tile(normals[100:110], 3)[:26])
    assert src.record()["drawn"] == 26 and src.record()["reuse_factor"] == 2.6
    assert src.take(0).shape == (0,) and src.drawn == 26


def test_cycled_layout_reuses_identically_in_every_arm(tiny_params, pool_bytes):
    """With a short pool and on_exhausted: cycle, each arm's training stream repeats after the
    same number of normals: the prng arms reuse exactly as the entropy arm does."""
    from dataclasses import replace
    params = replace(tiny_params, train=replace(tiny_params.train, on_exhausted="cycle"))
    layout = noise_layout(params.noise_plan, 256)
    step = 2 * 32 * 8  # one training step: two batches of (32, 8)
    # a pool with room for half the training normals plus 100: the span rounds down to whole steps
    short = pool_bytes[:3 * (layout.total_normals - layout.slots * (layout.demand.train_normals // 2 - 100))]
    ctx = noise_context(params.noise_plan, 256, 1, len(short), _pool_normals(params, short))
    span = ctx.layout.train_span
    assert ctx.layout.cycles and span == layout.demand.train_normals // 2 and span % step == 0
    records = {}
    for arm in ("entropy", "prng", "prng2", "legacy8", "torch"):
        src = make_noise(arm, "train", ctx)
        z = np.concatenate([src.take(32 * 8) for _ in range(layout.demand.train_normals // (32 * 8))])  # batches
        assert np.array_equal(z[:span], z[span:]), arm  # pass 2 repeats pass 1, batch for batch
        records[arm] = src.record()
    assert {r["reuse_factor"] for r in records.values()} == {2.0}
    assert {r["size"] for r in records.values()} == {span}
    slot = ctx.layout.slot_size  # seed 1 sits in slot 1, after slot 0's train, grid and eval ranges
    assert records["entropy"]["normals"] == [slot, slot + span]
    assert records["entropy"]["bytes"] == [3 * slot, 3 * (slot + span)]
