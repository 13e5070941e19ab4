from fractions import Fraction

import numpy as np
import pytest
from scipy import special

from qgan.core.errors import QganError
from qgan.noise.convert import (
    CONVERT_BITS,
    CONVERT_METHODS,
    bytes_per_uniform,
    bytes_to_integers,
    bytes_to_normals,
    bytes_to_normals_float64,
    integers_to_uniforms,
    normals_in_pool,
    pool_to_normals_file,
)
from qgan.randomness.normality import normals_to_moments, normals_to_tests


def random_bytes(seed: int, n: int) -> np.ndarray:
    return np.frombuffer(np.random.default_rng(seed).bytes(n), dtype=np.uint8)


def exact_uniform(v: float, upper: bool) -> Fraction:
    return 1 - Fraction(v) if upper else Fraction(v)


@pytest.mark.parametrize("bits", CONVERT_BITS)
@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_uniforms_strictly_inside_unit_interval(bits, fill):
    w = bytes_per_uniform(bits)
    k = bytes_to_integers(np.full(w * 10, fill, dtype=np.uint8), bits)
    assert len(k) == 10 and int(k[0]) == (0 if fill == 0 else 2 ** bits - 1)
    v, upper = integers_to_uniforms(k, bits)
    u = exact_uniform(float(v[0]), bool(upper[0]))
    assert u == Fraction(2 * int(k[0]) + 1, 2 ** (bits + 1))  # (k + 0.5) / 2^bits, held exactly
    assert 0 < u < 1 and np.all(v > 0) and np.all(v < 0.5)
    for method in CONVERT_METHODS:
        assert np.all(np.isfinite(bytes_to_normals(np.full(w * 10, fill, dtype=np.uint8), bits, method)))


def test_packing_is_big_endian_and_53_bits_keep_the_top_bits():
    assert bytes_to_integers(np.array([0x01, 0x02, 0x03], dtype=np.uint8), 24)[0] == 0x010203
    seven = np.array([0xFF, 0, 0, 0, 0, 0, 0x0F], dtype=np.uint8)
    assert bytes_per_uniform(53) == 7 and bytes_to_integers(seven, 53)[0] == (0xFF << 45) | (0x0F >> 3)
    v, upper = integers_to_uniforms(np.array([3, 2 ** 24 - 4], dtype=np.uint64), 24)
    assert exact_uniform(v[0], upper[0]) == Fraction(7, 2 ** 25)
    assert exact_uniform(v[1], upper[1]) == Fraction(2 * (2 ** 24 - 4) + 1, 2 ** 25)


@pytest.mark.parametrize("bits", [8, 16, 24])
def test_float32_box_muller_matches_the_float64_evaluation(bits):
    w = bits // 8
    edges = [0, 1, 2 ** (bits - 1) - 1, 2 ** (bits - 1), 2 ** bits - 2, 2 ** bits - 1]
    pairs = np.array([(a, b) for a in edges for b in edges], dtype=np.uint64).ravel()
    crafted = np.concatenate([[(k >> np.uint64(8 * (w - 1 - j))) & np.uint64(0xFF) for j in range(w)]
                              for k in pairs]).astype(np.uint8)
    raw = np.concatenate([crafted, random_bytes(bits, 2 * w * 100_003)])
    fast, reference = bytes_to_normals(raw, bits), bytes_to_normals_float64(raw, bits, "box_muller")
    assert fast.dtype == np.float32 and len(fast) == len(reference)
    assert np.abs(fast - reference).max() < 4e-6
    # the u1 -> 1 end, where ln u1 loses digits in float32, is within float32 rounding
    # the u1 -> 1 end, where ln u1 loses digits in float32: the radius stays within float32 rounding
    radius_fast = np.hypot(fast[0::2].astype(np.float64), fast[1::2])
    radius_reference = np.hypot(reference[0::2], reference[1::2])
    near_one = pairs[0::2] >= 2 ** bits - 2
    assert np.allclose(radius_fast[:len(near_one)][near_one], radius_reference[:len(near_one)][near_one], rtol=1e-6)


def test_float64_evaluation_matches_the_definition_exactly_computed():
    raw = random_bytes(5, 7 * 20)
    z = bytes_to_normals_float64(raw, 53, "inverse_cdf")
    k = bytes_to_integers(raw, 53)
    for i in range(20):  # Phi^-1((k + 0.5) / 2^53), with u on its own side to full precision
        u = Fraction(2 * int(k[i]) + 1, 2 ** 54)
        expected = special.ndtri(float(u)) if u < Fraction(1, 2) else -special.ndtri(float(1 - u))
        assert z[i] == expected


@pytest.mark.parametrize("bits,method", [(24, "box_muller"), (16, "box_muller"), (24, "inverse_cdf"),
                                         (32, "box_muller"), (53, "inverse_cdf")])
def test_normal_depends_only_on_its_own_bytes(bits, method):
    w = bytes_per_uniform(bits)
    per = 2 if method == "box_muller" else 1  # normals made from one group of uniforms
    raw = random_bytes(0, w * 2 * 100)
    z = bytes_to_normals(raw, bits, method)
    changed = raw.copy()
    changed[w * 80 + 1] ^= 0x80  # inside uniform 80
    differs = np.flatnonzero(z != bytes_to_normals(changed, bits, method))
    assert len(differs) >= 1 and set(differs) <= set(range(80 // per * per, 80 // per * per + per))
    assert np.array_equal(bytes_to_normals(raw[w * 40:], bits, method), z[40:])  # byte offset -> noise offset


@pytest.mark.parametrize("bits,method", [(24, "box_muller"), (24, "inverse_cdf"), (53, "box_muller"),
                                         (16, "inverse_cdf")])
def test_million_normals_have_standard_moments_and_pass_the_tests(bits, method):
    z = bytes_to_normals(random_bytes(1, bytes_per_uniform(bits) * 1_000_000), bits, method)
    moments = normals_to_moments(z)
    assert len(z) == 1_000_000 and moments["nonfinite"] == 0
    for name in ("mean", "variance", "skewness", "excess_kurtosis"):
        assert abs(moments[name]["z"]) < 4, name  # within 4 standard errors of N(0, 1)
    tests = normals_to_tests(z, 1_000_000)
    assert tests["kolmogorov_smirnov"]["n"] == 1_000_000 and tests["kolmogorov_smirnov"]["pvalue"] > 1e-3
    assert tests["anderson_darling"]["pvalue"] > 1e-3


def test_eight_bits_is_a_positive_control_the_tests_reject():
    """8-bit uniforms give 256 radii, the largest sqrt(2 ln 512) = 3.53: no |z| > 4 ever, where
    N(0, 1) puts 63 of 10^6. Its KS distance from N(0, 1), computed exactly from all 2^16
    equally likely byte pairs, is 0.00142: about the 5% critical value at N = 10^6, far above
    the 1% critical value at N = 10^7 (so KS rejects it there)."""
    z = bytes_to_normals(random_bytes(2, 1_000_000), 8)
    assert len(z) == 1_000_000 and np.isfinite(z).all() and np.abs(z).max() < 3.54
    tests = normals_to_tests(z, 1_000_000)
    assert tests["tail_mass"]["statistic"] == 0 and tests["tail_mass"]["pvalue"] < 1e-20
    every_pair = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), -1).ravel().astype(np.uint8)
    exact = np.sort(bytes_to_normals(every_pair, 8).astype(np.float64))
    cdf, n = special.ndtr(exact), len(exact)
    d_inf = max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max())
    assert 1.36 / np.sqrt(10 ** 6) < d_inf < 1.63 / np.sqrt(10 ** 6)
    big = bytes_to_normals(random_bytes(3, 10_000_000), 8)
    assert normals_to_tests(big, 10_000_000)["kolmogorov_smirnov"]["pvalue"] < 1e-6
    assert normals_to_tests(bytes_to_normals(random_bytes(4, 3 * 10_000_000), 24), 10_000_000)[
        "kolmogorov_smirnov"]["pvalue"] > 1e-3


def test_tutorial_conversion_gives_infinities_and_is_rejected():
    """Regression: the tutorial's ``byte / 255`` reaches 0, so Box-Muller takes log(0) (about 12
    infinities per 64 x 100 batch), and its 8-bit uniforms fail the KS test."""
    raw = random_bytes(3, 1_000_000)
    u = raw.astype(np.float64) / 255.0  # the tutorial's uniforms, then its Box-Muller
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(-2 * np.log(u[0::2]))
        seed_normals = np.stack([r * np.cos(2 * np.pi * u[1::2]), r * np.sin(2 * np.pi * u[1::2])], 1).ravel()
    seed_normals = seed_normals.astype(np.float32)
    assert normals_to_moments(seed_normals)["nonfinite"] > 1000
    assert normals_to_tests(seed_normals, 1_000_000)["kolmogorov_smirnov"]["pvalue"] < 1e-6


@pytest.mark.parametrize("bits,method", [(24, "box_muller"), (24, "inverse_cdf"), (53, "box_muller")])
def test_streaming_file_equals_in_memory(tmp_path, bits, method):
    w = bytes_per_uniform(bits)
    raw = random_bytes(7, w * 501 + w - 1)  # a partial uniform at the end is ignored
    (tmp_path / "pool.bin").write_bytes(raw.tobytes())
    n = pool_to_normals_file(tmp_path / "pool.bin", tmp_path / "z.npy", bits, method, chunk_normals=64)
    on_disk = np.load(tmp_path / "z.npy")
    assert on_disk.dtype == np.float32 and np.array_equal(on_disk, bytes_to_normals(raw, bits, method))
    assert n == normals_in_pool(len(raw), bits, method) == (500 if method == "box_muller" else 501)
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_inputs():
    with pytest.raises(QganError, match="uint8"):
        bytes_to_integers(np.zeros(3, dtype=np.int16), 24)
    with pytest.raises(QganError, match="convert.bits"):
        bytes_to_integers(np.zeros(3, dtype=np.uint8), 7)
    with pytest.raises(QganError, match="convert.method"):
        bytes_to_normals(np.zeros(6, dtype=np.uint8), 24, "ziggurat")
    with pytest.raises(QganError, match="uint8"):
        bytes_to_normals(np.zeros(6, dtype=np.float32), 24)
