import pytest

from qgan.budget import GRID_SIZE, budget_report, noise_layout, run_demand
from qgan.errors import ConfigError


def test_demand_counts_two_latent_batches_per_step(tiny_params):
    d = run_demand(tiny_params, n_train=256)  # 256 // 32 = 8 steps, 1 epoch
    assert d.train_normals == 8 * 2 * 32 * 8
    assert d.grid_normals == GRID_SIZE * 8 and d.eval_normals == 64 * 8


def test_ranges_are_disjoint_and_cover_the_total(tiny_params):
    layout = noise_layout(tiny_params, 256)
    ranges = []
    for slot in range(layout.slots):
        ranges += [layout.train_range(slot), layout.grid_range(slot), layout.eval_range(slot)]
    ranges.sort()
    assert ranges[0][0] == 0 and ranges[-1][1] == layout.total_normals
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # back to back, no overlap


def test_bytes_needed_and_deficit(tiny_params):
    r = budget_report(tiny_params, 256, pool_bytes=1000)
    per_run = run_demand(tiny_params, 256).total
    assert r["bytes_needed"] == 2 * per_run * 3 and r["deficit_bytes"] == r["bytes_needed"] - 1000
    assert budget_report(tiny_params, 256, pool_bytes=10 ** 9)["deficit_bytes"] == 0


def test_no_entropy_arm_needs_no_bytes(tiny_params):
    import dataclasses
    params = dataclasses.replace(tiny_params, train=dataclasses.replace(tiny_params.train, arms=("prng",)))
    assert budget_report(params, 256, 0)["bytes_needed"] == 0


def test_batch_larger_than_data(tiny_params):
    with pytest.raises(ConfigError, match="train.batch_size"):
        run_demand(tiny_params, n_train=10)


def test_odd_sizes_round_up_so_ranges_never_share_a_byte_pair(tiny_params):
    import dataclasses
    odd = dataclasses.replace(tiny_params, latent_dim=7,
                              evaluate=dataclasses.replace(tiny_params.evaluate, n_samples=65))
    layout = noise_layout(odd, 256)
    for slot in range(layout.slots):
        for start, stop in (layout.train_range(slot), layout.grid_range(slot), layout.eval_range(slot)):
            assert start % 2 == 0 and stop % 2 == 0
    assert layout.demand.eval_normals >= 65 * 7
