import numpy as np
import pytest
from scipy import stats

from qgan.convert import bytes_to_normals, bytes_to_uniforms, normals_in_pool, normals_to_stats, \
    pool_to_normals_file
from qgan.errors import QganError

BITS = (8, 16, 24, 32)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_uniforms_strictly_inside_unit_interval(bits, fill):
    u = bytes_to_uniforms(np.full(bits // 8 * 10, fill, dtype=np.uint8), bits)
    assert len(u) == 10 and np.all(u > 0) and np.all(u < 1)
    assert np.all(np.isfinite(bytes_to_normals(np.full(bits // 4 * 10, fill, dtype=np.uint8), bits)))


def test_packing_is_big_endian_and_exact():
    u = bytes_to_uniforms(np.array([0x01, 0x02, 0x03], dtype=np.uint8), 24)
    assert u[0] == (0x010203 + 0.5) / 2 ** 24


def test_normal_depends_only_on_its_own_bytes():
    raw = np.random.default_rng(0).integers(0, 256, 6 * 100, dtype=np.uint8)
    z = bytes_to_normals(raw, 24)
    changed = raw.copy()
    changed[6 * 40 + 2] ^= 0x80  # inside the pair that makes normals 80 and 81
    z2 = bytes_to_normals(changed, 24)
    differs = np.flatnonzero(z != z2)
    assert set(differs) <= {80, 81} and len(differs) >= 1
    assert np.array_equal(bytes_to_normals(raw[6 * 40:], 24), z[80:])  # byte offset -> noise offset


def test_million_normals_have_standard_moments_and_pass_ks():
    raw = np.frombuffer(np.random.default_rng(1).bytes(3 * 1_000_000), dtype=np.uint8)
    z = bytes_to_normals(raw, 24)
    s = normals_to_stats(z, ks_size=len(z))
    assert s["n"] == 1_000_000 and s["nonfinite"] == 0
    assert abs(s["mean"]) < 4 * s["mean_se"]
    assert abs(s["variance"] - 1) < 4 * s["variance_se"]
    assert s["ks_pvalue"] > 1e-3


def test_seed_tutorial_conversion_gives_infinities():
    """Regression: the seed's ``byte / 255`` reaches 0, so Box-Muller takes log(0)."""
    raw = np.frombuffer(np.random.default_rng(2).bytes(64 * 100 * 20), dtype=np.uint8)
    u = raw.astype(np.float64) / 255.0  # the seed's uniforms, then its Box-Muller
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(-2 * np.log(u[0::2]))
        seed_normals = np.stack([r * np.cos(2 * np.pi * u[1::2]), r * np.sin(2 * np.pi * u[1::2])], 1).ravel()
    assert normals_to_stats(seed_normals.astype(np.float32), ks_size=10_000)["nonfinite"] > 0
    assert normals_to_stats(bytes_to_normals(raw, 8), ks_size=10_000)["nonfinite"] == 0  # ours, even at 8 bits


def test_streaming_file_equals_in_memory(tmp_path):
    raw = np.frombuffer(np.random.default_rng(3).bytes(6 * 1000 + 5), dtype=np.uint8)
    pool = tmp_path / "pool.bin"
    pool.write_bytes(raw.tobytes())
    n = pool_to_normals_file(pool, tmp_path / "normals.npy", 24, "box_muller", chunk_normals=64)
    on_disk = np.load(tmp_path / "normals.npy")
    assert n == normals_in_pool(len(raw), 24) == 2000 and on_disk.dtype == np.float32
    assert np.array_equal(on_disk, bytes_to_normals(raw, 24))
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_inputs():
    with pytest.raises(QganError, match="uint8"):
        bytes_to_uniforms(np.zeros(3, dtype=np.int16), 24)
    with pytest.raises(QganError, match="convert.bits"):
        bytes_to_uniforms(np.zeros(3, dtype=np.uint8), 7)
    with pytest.raises(QganError, match="convert.method"):
        bytes_to_normals(np.zeros(6, dtype=np.uint8), 24, "ziggurat")


def test_ks_rejects_a_shifted_sample():
    z = stats.norm.rvs(loc=0.05, size=200_000, random_state=4).astype(np.float32)
    assert normals_to_stats(z, ks_size=200_000)["ks_pvalue"] < 1e-6


def test_inverse_cdf_passes_and_maps_each_normal_to_its_own_bytes():
    raw = np.frombuffer(np.random.default_rng(6).bytes(3 * 1_000_000 + 2), dtype=np.uint8)
    z = bytes_to_normals(raw, 24, "inverse_cdf")
    assert len(z) == 1_000_000 == normals_in_pool(len(raw), 24, "inverse_cdf")
    s = normals_to_stats(z, ks_size=len(z))
    assert abs(s["mean"]) < 4 * s["mean_se"] and abs(s["variance"] - 1) < 4 * s["variance_se"]
    assert s["ks_pvalue"] > 1e-3 and s["nonfinite"] == 0
    assert np.array_equal(bytes_to_normals(raw[3 * 7:], 24, "inverse_cdf"), z[7:])  # byte offset -> noise offset
    assert z[0] == np.float32(stats.norm.ppf((int.from_bytes(raw[:3].tobytes(), "big") + 0.5) / 2 ** 24))


@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_inverse_cdf_is_finite_at_the_extremes(fill):
    assert np.isfinite(bytes_to_normals(np.full(8, fill, dtype=np.uint8), 32, "inverse_cdf")).all()


@pytest.mark.parametrize("method", ["box_muller", "inverse_cdf"])
def test_streaming_equals_in_memory_for_each_method(tmp_path, method):
    raw = np.frombuffer(np.random.default_rng(7).bytes(3 * 501 + 1), dtype=np.uint8)
    (tmp_path / "pool.bin").write_bytes(raw.tobytes())
    n = pool_to_normals_file(tmp_path / "pool.bin", tmp_path / "z.npy", 24, method, chunk_normals=64)
    assert np.array_equal(np.load(tmp_path / "z.npy"), bytes_to_normals(raw, 24, method))
    assert n == (500 if method == "box_muller" else 501)
