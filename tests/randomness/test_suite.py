import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from qgan.core.errors import QganError
from qgan.noise.convert import bytes_to_normals
from qgan.randomness.suite import check_randomness, pool_to_byte_histogram, pool_to_sample_bits, randomness_report
from tests.conftest import ROOT

NORMAL_TESTS = {"kolmogorov_smirnov", "anderson_darling", "dagostino_k2", "jarque_bera", "shapiro_wilk", "tail_mass"}
BYTE_TESTS = {"byte_histogram_chi2", "frequency", "block_frequency", "runs", "longest_run", "cumulative_sums_forward",
              "cumulative_sums_reverse", "approximate_entropy", "serial_1", "serial_2"}


def write_pool(path, data: bytes):
    path.write_bytes(data)
    return path


def test_sample_bits_are_evenly_spaced_blocks(tmp_path):
    data = np.arange(10 * 4096, dtype=np.uint32).astype(np.uint8).tobytes()
    pool = write_pool(tmp_path / "pool.bin", data)
    bits = pool_to_sample_bits(pool, 3 * 4096 * 8, block=4096)
    first, middle, last = (np.packbits(bits[i * 4096 * 8:(i + 1) * 4096 * 8]).tobytes() for i in range(3))
    assert first == data[:4096] and last == data[-4096:] and middle == data[18432:18432 + 4096]
    assert len(pool_to_sample_bits(pool, 10 ** 9)) == len(data) * 8  # a small pool is used whole


def test_report_on_good_entropy_passes_with_every_test_judged(tmp_path):
    raw = np.random.default_rng(0).bytes(3 * 400_000)
    pool = write_pool(tmp_path / "pool.bin", raw)
    normals = bytes_to_normals(np.frombuffer(raw, dtype=np.uint8), 24)
    noise, entropy = randomness_report(pool, pool_to_byte_histogram(pool), normals, 400_000, 1_000_000, 0.01)
    assert set(noise["tests"]) == NORMAL_TESTS and set(entropy["tests"]) == BYTE_TESTS
    assert noise["randomness"] == {"alpha": 0.01, "correction": "holm", "tests": 16, "rejected": 0,
                                   "rejected_tests": []}
    for test in [*noise["tests"].values(), *entropy["tests"].values()]:
        assert test["pvalue"] <= test["pvalue_holm"] <= 1 and test["reject"] is False and test["n"] > 0
    assert entropy["bits_tested"] == 1_000_000 and entropy["bytes"] == len(raw)
    assert 7.8 < entropy["min_entropy_mcv"]["bits_per_byte"] <= 8  # a 99.5% lower bound
    assert check_randomness(noise, entropy, fail_on_reject=True) is None
    json.dumps([noise, entropy])  # the metrics files are plain JSON


def test_report_rejects_stuck_bytes_and_fail_on_reject_stops(tmp_path):
    raw = bytearray(np.random.default_rng(1).bytes(3 * 100_000))
    raw[::2] = bytes(len(raw[::2]))  # every other byte stuck at zero
    pool = write_pool(tmp_path / "pool.bin", bytes(raw))
    normals = bytes_to_normals(np.frombuffer(bytes(raw), dtype=np.uint8), 24)
    noise, entropy = randomness_report(pool, pool_to_byte_histogram(pool), normals, 100_000, 100_000, 0.01)
    assert noise["randomness"]["rejected"] >= 5 and "bytes/frequency" in noise["randomness"]["rejected_tests"]
    assert entropy["min_entropy_mcv"]["bits_per_byte"] < 1.1  # p(0) > 1/2
    warning = check_randomness(noise, entropy, fail_on_reject=False)
    assert warning.startswith(f"{noise['randomness']['rejected']} of 16 randomness tests reject")
    with pytest.raises(QganError, match=r"^convert.fail_on_reject: \d+ of 16 randomness tests reject"):
        check_randomness(noise, entropy, fail_on_reject=True)


def test_tutorial_conversion_through_the_report_shows_infinities_and_rejection(tmp_path):
    """Regression: the tutorial's ``byte / 255.0`` + Box-Muller, fed to the report."""
    raw = np.frombuffer(np.random.default_rng(2).bytes(1_000_000), dtype=np.uint8)
    u = raw / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(-2 * np.log(u[0::2]))
        seed = np.stack([r * np.cos(2 * np.pi * u[1::2]), r * np.sin(2 * np.pi * u[1::2])], 1).ravel()
    pool = write_pool(tmp_path / "pool.bin", raw.tobytes())
    noise, _ = randomness_report(pool, pool_to_byte_histogram(pool), seed.astype(np.float32), 1_000_000, 10_000, 0.01)
    assert noise["nonfinite"] > 1000  # log(0): about 12 per 64 x 100 batch
    assert noise["tests"]["tail_mass"]["reject"] and "normals/tail_mass" in noise["randomness"]["rejected_tests"]


def test_empty_pool_reports_no_tests(tmp_path):
    pool = write_pool(tmp_path / "pool.bin", b"")
    noise, entropy = randomness_report(pool, pool_to_byte_histogram(pool), np.zeros(0, np.float32), 1000, 1000, 0.01)
    assert noise["randomness"]["tests"] == 0 and entropy["tests"] == {} and entropy["bits_tested"] == 0


def _convert(tmp_path, fail_on_reject: bool, data: bytes):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"convert": {"fail_on_reject": fail_on_reject,
                                                                      "test_size": 10_000, "test_bits": 100_000}}))
    write_pool(tmp_path / "pool.bin", data)
    args = ["--params", "params.yaml", "--pool", "pool.bin", "--out", "noise/normals.npy", "--metrics", "noise.json",
            "--entropy-metrics", "entropy.json", "--plots", "plots"]
    return subprocess.run([sys.executable, "-m", "stages.convert", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": ""})


@pytest.mark.integration
def test_stage_stops_on_rejection_and_writes_nothing(tmp_path):
    out = _convert(tmp_path, True, bytes(3 * 20_000))  # all zero bytes
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("qgan: error: convert.fail_on_reject: ")
    assert not (tmp_path / "noise" / "normals.npy").exists() and not (tmp_path / "noise.json").exists()
    assert not list(tmp_path.rglob(".*.tmp"))


@pytest.mark.integration
def test_stage_warns_by_default_and_writes_report_and_plots(tmp_path):
    out = _convert(tmp_path, False, bytes(3 * 20_000))
    assert out.returncode == 0, out.stderr
    assert "convert: warning: " in out.stderr and "randomness tests reject" in out.stderr
    noise = json.loads((tmp_path / "noise.json").read_text())
    assert noise["bits"] == 24 and noise["randomness"]["rejected"] > 0
    assert np.load(tmp_path / "noise" / "normals.npy").shape == (20_000,)
    for name in ("histogram.csv", "qq.csv", "bytes.csv", "noise.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 0
    e = 60_000 / 256  # all 60,000 bytes are 0: residual (count - E) / sqrt(E)
    expected = f"0,60000,234.4,{(60_000 - e) / e ** 0.5:.4f}"
    assert (tmp_path / "plots" / "bytes.csv").read_text().splitlines()[1] == expected
