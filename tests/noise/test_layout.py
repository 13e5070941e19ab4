import pytest

from qgan.core.errors import ConfigError
from qgan.noise.layout import GRID_SIZE, budget_report, noise_layout, run_demand


def test_demand_counts_two_latent_batches_per_step(tiny_params):
    d = run_demand(tiny_params.noise_plan, n_train=256)  # 256 // 32 = 8 steps, 1 epoch
    assert d.train_normals == 8 * 2 * 32 * 8
    assert d.grid_normals == GRID_SIZE * 8 and d.eval_normals == 64 * 8


def test_ranges_are_disjoint_and_cover_the_total(tiny_params):
    layout = noise_layout(tiny_params.noise_plan, 256)
    ranges = []
    for slot in range(layout.slots):
        ranges += [layout.train_range(slot), layout.grid_range(slot), layout.eval_range(slot)]
    ranges.sort()
    assert ranges[0][0] == 0 and ranges[-1][1] == layout.total_normals
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # back to back, no overlap


def test_bytes_needed_and_deficit(tiny_params):
    r = budget_report(tiny_params.noise_plan, 256, pool_bytes=1000)
    per_run = run_demand(tiny_params.noise_plan, 256).total
    assert r["bytes_needed"] == 2 * per_run * 3 and r["deficit_bytes"] == r["bytes_needed"] - 1000
    assert budget_report(tiny_params.noise_plan, 256, pool_bytes=10 ** 9)["deficit_bytes"] == 0


def test_no_entropy_arm_needs_no_bytes(tiny_params):
    import dataclasses
    params = dataclasses.replace(tiny_params, train=dataclasses.replace(tiny_params.train, arms=("prng",)))
    assert budget_report(params.noise_plan, 256, 0)["bytes_needed"] == 0


def test_batch_larger_than_data(tiny_params):
    with pytest.raises(ConfigError, match="train.batch_size"):
        run_demand(tiny_params.noise_plan, n_train=10)


def test_odd_sizes_round_up_so_ranges_never_share_a_byte_pair(tiny_params):
    import dataclasses
    odd = dataclasses.replace(tiny_params, latent_dim=7,
                              evaluate=dataclasses.replace(tiny_params.evaluate, n_samples=65))
    layout = noise_layout(odd.noise_plan, 256)
    for slot in range(layout.slots):
        for start, stop in (layout.train_range(slot), layout.grid_range(slot), layout.eval_range(slot)):
            assert start % 2 == 0 and stop % 2 == 0
    assert layout.demand.eval_normals >= 65 * 7


def _with(params, **train):
    import dataclasses
    return dataclasses.replace(params, train=dataclasses.replace(params.train, **train))


def test_short_pool_stops_with_the_numbers_by_default(tiny_params):
    from qgan.noise.layout import PoolTooSmall
    layout = noise_layout(tiny_params.noise_plan, 256)
    need = 3 * layout.total_normals
    assert noise_layout(tiny_params.noise_plan, 256, need) == layout  # enough: the planned layout
    assert noise_layout(tiny_params.noise_plan, 256, 10 * need) == layout  # more (a grown pool): the same ranges
    with pytest.raises(PoolTooSmall) as err:
        noise_layout(tiny_params.noise_plan, 256, need - 3)
    msg = str(err.value)
    assert f"the pool holds {need - 3:,} bytes ({layout.total_normals - 2:,} normals)" in msg
    assert f"draw {layout.total_normals:,} normals ({need:,} bytes)" in msg
    assert f"set harvest.bytes: {need} (or auto)" in msg and "train.on_exhausted: cycle" in msg
    assert "\n" not in msg


def test_cycle_shrinks_only_the_training_span(tiny_params):
    from qgan.noise.layout import PoolTooSmall
    params = _with(tiny_params, on_exhausted="cycle")
    full = noise_layout(params.noise_plan, 256)
    d = full.demand
    step = 2 * 32 * 8  # normals of one training step
    # room for 3 steps and 100 normals more per slot, and one odd normal: the span is 3 whole steps
    pool_normals = full.slots * (d.grid_normals + d.eval_normals) + full.slots * (3 * step + 100) + 1
    layout = noise_layout(params.noise_plan, 256, 3 * pool_normals)
    assert layout.train_span == 3 * step and layout.cycles and layout.reuse_factor == d.train_normals / (3 * step)
    assert layout.demand == d and layout.total_normals <= pool_normals
    ranges = sorted(layout.region_range(r, s) for s in range(layout.slots) for r in ("train", "grid", "eval"))
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    with pytest.raises(PoolTooSmall, match="too few even to cycle"):
        noise_layout(params.noise_plan, 256, 3 * full.slots * (d.grid_normals + d.eval_normals + 2 * 32 * 8 - 2))
    assert noise_layout(params.noise_plan, 256, 0, reading=False) == full  # an arm that does not read an empty pool
    prng_only = _with(params, arms=("prng",))
    # arms never move the layout
    assert noise_layout(prng_only.noise_plan, 256, 3 * pool_normals, reading=False) == layout


def test_budget_report_shows_reuse(tiny_params):
    params = _with(tiny_params, on_exhausted="cycle")
    need = budget_report(params.noise_plan, 256, 0)["bytes_needed"]
    assert budget_report(params.noise_plan, 256, need)["reuse_factor"] == 1.0
    assert budget_report(params.noise_plan, 256, need * 3 // 4)["reuse_factor"] > 1.0
    assert budget_report(tiny_params.noise_plan, 256, need // 2)["reuse_factor"] is None
