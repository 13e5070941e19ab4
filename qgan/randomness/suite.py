"""The convert stage's randomness report: tests on the normals and on the raw pool bytes,
judged together at one family-wise error rate.

Family: the five normality tests of :mod:`qgan.randomness.normality`, the byte-histogram chi^2 and the
SP 800-22 tests of :mod:`qgan.randomness.sp800` (serial contributes both of its p-values). With m tests
and family-wise rate ``alpha``, Holm's step-down procedure rejects the i-th smallest p-value
while ``p_(i) <= alpha / (m - i + 1)``; its adjusted p-values
``max_{j <= i} min(1, (m - j + 1) p_(j))`` are compared with ``alpha`` directly. Holm holds
the family-wise rate under any dependence between the tests (these are dependent: they
share the same bytes).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qgan.core.errors import QganError
from qgan.core.stats import holm
from qgan.randomness import normality, sp800

SAMPLE_BLOCK = 4096           # bytes per evenly spaced block of the SP 800-22 sample
HISTOGRAM_CHUNK = 1 << 24     # bytes per read when counting the byte histogram


def pool_to_byte_histogram(pool: Path) -> np.ndarray:
    """``(256,) int64`` counts of each byte value, streamed."""
    counts = np.zeros(256, dtype=np.int64)
    with open(pool, "rb") as fh:
        while chunk := fh.read(HISTOGRAM_CHUNK):
            counts += np.bincount(np.frombuffer(chunk, dtype=np.uint8), minlength=256)
    return counts


def pool_to_sample_bits(pool: Path, n_bits: int, block: int = SAMPLE_BLOCK) -> np.ndarray:
    """At most ``n_bits`` bits of the pool: all of it if small, else ``ceil(n_bits / 8 / block)``
    blocks of ``block`` bytes at evenly spaced offsets, concatenated (MSB first)."""
    size = pool.stat().st_size
    want = -(-n_bits // 8)
    with open(pool, "rb") as fh:
        if size <= want:
            data = fh.read()
        else:
            blocks = -(-want // block)
            offsets = np.linspace(0, size - block, blocks).astype(np.int64) if blocks > 1 else [0]
            parts = []
            for offset in offsets:
                fh.seek(int(offset))
                parts.append(fh.read(block))
            data = b"".join(parts)
    return sp800.bytes_to_bits(np.frombuffer(data, dtype=np.uint8))[:n_bits]


def _flatten(sp: dict) -> dict[str, dict]:
    """SP 800-22 results as single-p-value tests (serial's two p-values become two tests)."""
    tests = {}
    for name, result in sp.items():
        extra = {k: v for k, v in result.items() if k not in ("statistic", "pvalue", "statistic2", "pvalue2")}
        if name == "serial":
            tests["serial_1"] = {"statistic": result["statistic"], "pvalue": result["pvalue"], **extra}
            tests["serial_2"] = {"statistic": result["statistic2"], "pvalue": result["pvalue2"], **extra}
        else:
            tests[name] = {"statistic": result["statistic"], "pvalue": result["pvalue"], **extra}
    return tests


def randomness_report(pool: Path, counts: np.ndarray, normals: np.ndarray, test_size: int, test_bits: int,
                      alpha: float) -> tuple[dict, dict]:
    """``(noise, entropy_tests)``: the contents of ``metrics/noise.json`` and
    ``metrics/entropy_tests.json``. ``counts`` is the pool's byte histogram
    (:func:`pool_to_byte_histogram`). Every test carries ``n``, ``statistic``, ``pvalue``,
    ``pvalue_holm`` and ``reject``; ``noise["randomness"]`` sums up the family."""
    noise = {"n": len(normals), **normality.normals_to_moments(normals),
             "tests": normality.normals_to_tests(normals, test_size)}
    entropy = {"bytes": int(counts.sum()), "tests": {}}
    if counts.sum() >= 2:
        entropy["byte_histogram"] = sp800.byte_histogram_chi2(counts)
        entropy["min_entropy_mcv"] = sp800.most_common_value_min_entropy(counts)
        chi2 = entropy["byte_histogram"]
        entropy["tests"]["byte_histogram_chi2"] = {k: chi2[k] for k in ("n", "statistic", "pvalue")}
    eps = pool_to_sample_bits(pool, test_bits)
    entropy["bits_tested"] = len(eps)
    if len(eps) >= 128:
        entropy["tests"].update({name: {"n": len(eps), **t} for name, t in _flatten(sp800.sp800_22_suite(eps)).items()})
    family = {**{f"normals/{k}": t["pvalue"] for k, t in noise["tests"].items()},
              **{f"bytes/{k}": t["pvalue"] for k, t in entropy["tests"].items()}}
    judged = holm(family, alpha)
    for name, (adjusted, reject) in judged.items():
        part, test = name.split("/")
        target = (noise if part == "normals" else entropy)["tests"][test]
        target["pvalue_holm"], target["reject"] = adjusted, reject
    rejected = sorted(name for name, (_, reject) in judged.items() if reject)
    noise["randomness"] = {"alpha": alpha, "correction": "holm", "tests": len(family),
                           "rejected": len(rejected), "rejected_tests": rejected}
    return noise, entropy


def rejection_message(noise: dict, entropy: dict) -> str | None:
    """One line naming the rejected tests with their adjusted p-values, or None if none."""
    summary = noise["randomness"]
    if not summary["rejected"]:
        return None
    parts = []
    for name in summary["rejected_tests"]:
        part, test = name.split("/")
        adjusted = (noise if part == "normals" else entropy)["tests"][test]["pvalue_holm"]
        parts.append(f"{name} (Holm p = {adjusted:.2g})")
    return (f"{summary['rejected']} of {summary['tests']} randomness tests reject at family-wise "
            f"alpha = {summary['alpha']}: " + ", ".join(parts))


def check_randomness(noise: dict, entropy: dict, fail_on_reject: bool) -> str | None:
    """Raise if a test rejects and ``fail_on_reject``; else return the warning line (or None)."""
    message = rejection_message(noise, entropy)
    if message and fail_on_reject:
        raise QganError(f"convert.fail_on_reject: {message}")
    return message
