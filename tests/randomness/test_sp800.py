"""The SP 800-22 tests against the worked examples of NIST SP 800-22 Rev. 1a (section 2 and
the 10^6 bits of e of section 2.11.8 / appendix B), and SP 800-90B's most-common-value estimate."""
import math

import numpy as np
import pytest

from qgan.randomness import sp800

PI100 = ("11001001000011111101101010100010001000010110100011"
         "00001000110100110001001100011001100010100010111000")
LR128 = ("11001100000101010110110001001100111000000000001001"
         "00110101010001000100111101011010000000110101111100"
         "1100111001101101100010110010")


def bits(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8) - ord("0")


def e_bits(n: int) -> np.ndarray:
    """The first n bits of e's binary expansion (10.1011011111...), as NIST's data.e, by
    binary splitting of sum 1/k!: e = 1 + P/Q."""
    def split(a, b):  # sum_{k=a+1}^{b} a!/k! = P/Q with Q = (a+1)...b
        if b - a == 1:
            return 1, b
        m = (a + b) // 2
        p1, q1 = split(a, m)
        p2, q2 = split(m, b)
        return p1 * q2 + p2, q1 * q2
    terms = 1
    while math.lgamma(terms + 1) / math.log(2) < n + 64:
        terms += 1
    p, q = split(0, terms)
    return bits(bin(((p + q) << (n - 1)) // q)[2:n + 2])[:n]


@pytest.fixture(scope="module")
def e_million():
    return e_bits(1_000_000)


# (test, input, printed P-value(s)): section 2.x.4 (small) and 2.x.8 (examples) of SP 800-22
@pytest.mark.parametrize("name, run, printed", [
    ("frequency 2.1.4", lambda: sp800.frequency(bits("1011010101")), [0.527089]),
    ("frequency 2.1.8", lambda: sp800.frequency(bits(PI100)), [0.109599]),
    ("block frequency 2.2.4", lambda: sp800.block_frequency(bits("0110011010"), 3), [0.801252]),
    ("block frequency 2.2.8", lambda: sp800.block_frequency(bits(PI100), 10), [0.706438]),
    ("runs 2.3.4", lambda: sp800.runs(bits("1001101011")), [0.147232]),
    ("runs 2.3.8", lambda: sp800.runs(bits(PI100)), [0.500798]),
    ("longest run 2.4.8", lambda: sp800.longest_run(bits(LR128)), [0.180609]),
    ("serial 2.11.6", lambda: sp800.serial(bits("0011011101"), 3), [0.808792, 0.670320]),
    ("approximate entropy 2.12.4", lambda: sp800.approximate_entropy(bits("0100110101"), 3), [0.261961]),
    ("approximate entropy 2.12.8", lambda: sp800.approximate_entropy(bits(PI100), 2), [0.235301]),
    ("cumulative sums 2.13.8 forward", lambda: sp800.cumulative_sums(bits(PI100)), [0.219194]),
    ("cumulative sums 2.13.8 reverse", lambda: sp800.cumulative_sums(bits(PI100), reverse=True), [0.114866]),
])
def test_worked_examples_to_the_printed_precision(name, run, printed):
    result = run()
    got = [result["pvalue"]] + ([result["pvalue2"]] if "pvalue2" in result else [])
    assert [round(p, 6) for p in got] == printed, name


def test_worked_example_intermediates():
    assert sp800.frequency(bits(PI100))["statistic"] == pytest.approx(1.6)
    assert sp800.block_frequency(bits(PI100), 10)["statistic"] == pytest.approx(7.2)
    assert sp800.runs(bits(PI100))["statistic"] == 52
    lr = sp800.longest_run(bits(LR128))
    assert lr["block"] == 8 and lr["counts"] == [4, 9, 3, 0] and round(lr["statistic"], 6) == 4.882457
    ap = sp800.approximate_entropy(bits(PI100), 2)
    assert round(ap["apen"], 6) == 0.665393 and round(ap["statistic"], 6) == 5.550792
    assert sp800.cumulative_sums(bits(PI100))["statistic"] == 16  # z = 1.6 sqrt(100)
    assert sp800.cumulative_sums(bits(PI100), reverse=True)["statistic"] == 19


def test_cumulative_sums_small_example_within_nist_normal_cdf_precision():
    # printed 0.4116588; NIST's Phi approximation differs from scipy's in the 7th digit
    assert sp800.cumulative_sums(bits("1011010111"))["pvalue"] == pytest.approx(0.4116588, abs=1e-6)


def test_million_bits_of_e(e_million):
    """SP 800-22 2.11.8 (serial, m = 2) and the appendix B table for data.e."""
    assert int(e_million.sum()) == 500029 and sp800.pattern_counts(e_million, 2).tolist() == [
        250116, 249855, 249855, 250174]
    serial = sp800.serial(e_million, 2)
    assert round(serial["statistic"], 6) == 0.339764 and round(serial["statistic2"], 6) == 0.3364
    assert round(serial["pvalue"], 6) == 0.843764 and round(serial["pvalue2"], 6) == 0.561915
    assert round(sp800.frequency(e_million)["pvalue"], 6) == 0.953749
    assert round(sp800.block_frequency(e_million, 128)["pvalue"], 6) == 0.211072
    assert round(sp800.runs(e_million)["pvalue"], 6) == 0.561917
    assert round(sp800.longest_run(e_million)["pvalue"], 6) == 0.718945
    assert round(sp800.approximate_entropy(e_million, 10)["pvalue"], 6) == 0.700073
    assert sp800.cumulative_sums(e_million)["pvalue"] == pytest.approx(0.669887, abs=1e-6)
    assert sp800.cumulative_sums(e_million, reverse=True)["pvalue"] == pytest.approx(0.724266, abs=1e-6)


def test_suite_flags_biased_and_patterned_bits():
    rng = np.random.default_rng(0)
    biased = (rng.random(100_000) < 0.51).astype(np.uint8)
    assert sp800.frequency(biased)["pvalue"] < 1e-6
    alternating = np.tile(np.array([0, 1], dtype=np.uint8), 50_000)  # balanced, but far too many runs
    suite = sp800.sp800_22_suite(alternating)
    assert suite["frequency"]["pvalue"] == 1.0 and suite["runs"]["pvalue"] < 1e-12
    assert suite["serial"]["pvalue"] < 1e-12 and suite["approximate_entropy"]["pvalue"] < 1e-12
    good = sp800.sp800_22_suite(sp800.bytes_to_bits(np.frombuffer(rng.bytes(125_000), dtype=np.uint8)))
    assert min(t["pvalue"] for t in good.values()) > 1e-4


def test_bytes_to_bits_is_msb_first():
    assert sp800.bytes_to_bits(np.array([0x80, 0x01], dtype=np.uint8)).tolist() == [1] + [0] * 14 + [1]


def test_most_common_value_matches_nist_reference_output():
    """SP800-90B_EntropyAssessment selftest truerand_1bit: L = 10^6, mode count 500,433."""
    est = sp800.most_common_value_min_entropy(np.array([1_000_000 - 500_433, 500_433]))
    assert est["p_upper"] == pytest.approx(0.50172091481279224, rel=1e-12)
    assert est["bits_per_byte"] == pytest.approx(0.99504301513122573, rel=1e-12)


def test_byte_histogram_chi2():
    flat = np.full(256, 1000)
    assert sp800.byte_histogram_chi2(flat)["statistic"] == 0.0 and sp800.byte_histogram_chi2(flat)["pvalue"] == 1.0
    moved = flat.copy()
    moved[0], moved[1] = 1100, 900
    assert sp800.byte_histogram_chi2(moved)["statistic"] == pytest.approx(20.0)  # (100^2 + 100^2) / 1000
    skewed = flat.copy()
    skewed[0] = 2000
    assert sp800.byte_histogram_chi2(skewed)["pvalue"] < 1e-6


def test_suite_refuses_too_short_sequences():
    with pytest.raises(ValueError, match="128 bits"):
        sp800.sp800_22_suite(np.zeros(100, dtype=np.uint8))
