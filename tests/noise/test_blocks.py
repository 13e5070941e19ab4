import hashlib
from dataclasses import replace

import numpy as np
import pytest

from qgan.core.errors import QganError
from qgan.noise.blocks import ShiftedNormals, cut_block, read_block, write_block
from qgan.noise.convert import bytes_to_normals
from qgan.noise.layout import noise_layout


def _pool(tmp_path, params, n_normals: int, name: str):
    """A pool file of ``n_normals`` normals' bytes (the same bytes for every size: a longer pool
    extends a shorter one), its manifest of 1 KiB chunks and its normals."""
    raw = np.random.default_rng(5).bytes(3 * n_normals)
    path = tmp_path / name
    path.write_bytes(raw)
    chunks = [{"offset": o, "length": min(1024, len(raw) - o), "source": "system", "quantum": False}
              for o in range(0, len(raw), 1024)]
    manifest = {"total_bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(), "chunks": chunks}
    return path, manifest, bytes_to_normals(np.frombuffer(raw, np.uint8), params.convert.bits)


def _hasher(pool):
    return lambda n: hashlib.sha256(pool.read_bytes()[:n]).hexdigest()


def _params(tiny_params, seeds):
    return replace(tiny_params, train=replace(tiny_params.train, seeds=seeds))


def test_appending_seeds_leaves_every_existing_block_byte_identical(tiny_params, tmp_path):
    """The slice stage's promise: with seeds and pool appended, old blocks cut the same normals
    and the same record, so DVC re-trains none of them."""
    small, big = _params(tiny_params, ("0-1", 2)), _params(tiny_params, ("0-1", 2, "3-5"))
    n_small = noise_layout(small.noise_plan, 256).total_normals
    n_big = noise_layout(big.noise_plan, 256).total_normals
    pool_a, manifest_a, normals_a = _pool(tmp_path, small, n_small, "a.bin")
    pool_b, manifest_b, normals_b = _pool(tmp_path, big, n_big, "b.bin")
    assert manifest_a["sha256"] != manifest_b["sha256"]
    for block, seeds in (("0-1", (0, 1)), ("2", (2,))):
        values_a, record_a = cut_block(small.noise_plan, block, seeds, 256, manifest_a, _hasher(pool_a), normals_a)
        values_b, record_b = cut_block(big.noise_plan, block, seeds, 256, manifest_b, _hasher(pool_b), normals_b)
        assert np.array_equal(values_a, values_b) and record_a == record_b, block
        write_block(tmp_path / "a" / block, values_a, record_a)
        write_block(tmp_path / "b" / block, values_b, record_b)
        for name in ("normals.npy", "block.json"):
            assert (tmp_path / "a" / block / name).read_bytes() == (tmp_path / "b" / block / name).read_bytes()
    values, record = cut_block(big.noise_plan, "3-5", (3, 4, 5), 256, manifest_b, _hasher(pool_b), normals_b)
    layout = noise_layout(big.noise_plan, 256)
    assert record["offset"] == 3 * layout.slot_size and len(values) == 3 * layout.slot_size
    assert record["pool"]["total_bytes"] == manifest_b["total_bytes"]  # the last block ends the pool
    assert record["pool"]["sha256"] == manifest_b["sha256"]


def test_a_block_reads_in_pool_coordinates_and_records_its_prefix(tiny_params, tmp_path):
    params = _params(tiny_params, (0, "1-2"))
    layout = noise_layout(params.noise_plan, 256)
    pool, manifest, normals = _pool(tmp_path, params, layout.total_normals, "pool.bin")
    values, record = cut_block(params.noise_plan, "1-2", (1, 2), 256, manifest, _hasher(pool), normals)
    write_block(tmp_path / "blk", values, record)
    shifted, back = read_block(tmp_path / "blk")
    assert back == record and len(shifted) == len(normals)
    start, stop = layout.train_range(2)
    assert np.array_equal(shifted[start:stop], normals[start:stop])
    with pytest.raises(QganError, match="before this block's slice"):
        shifted[0:10]
    _, first = cut_block(params.noise_plan, "0", (0,), 256, manifest, _hasher(pool), normals)
    n = first["pool"]["total_bytes"]
    assert n == 3 * layout.slot_size and first["pool"]["sha256"] == hashlib.sha256(pool.read_bytes()[:n]).hexdigest()
    assert first["pool"]["sources"] == ["system"] and first["pool"]["quantum"] is False


def test_no_block_noise_is_one_line(tmp_path):
    with pytest.raises(QganError, match="not found; run the stage"):
        read_block(tmp_path / "missing")
    assert isinstance(ShiftedNormals(np.zeros(4, np.float32), 10)[10:12], np.ndarray)
