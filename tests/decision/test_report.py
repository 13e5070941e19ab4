import numpy as np

from qgan.core.metric_registry import METRICS
from qgan.decision.report import noise_line, randomness_table, secondary_table
from qgan.decision.verdict import Design, values_to_verdicts
from qgan.decision.verdict_text import control_lines, ladder_lines, limits_lines


def test_noise_line_without_normals():
    assert "no run reads the pool" in noise_line({"n": 0, "tests": {}})


def test_noise_line_states_ks_moments_and_the_family_verdict():
    stats = {"n": 2000, "bits": 24, "method": "box_muller",
             "mean": {"value": 0.01, "se": 0.02, "z": 0.5}, "variance": {"value": 1.01, "se": 0.03, "z": 0.3},
             "tests": {"kolmogorov_smirnov": {"n": 1000, "statistic": 0.02, "pvalue": 0.8}},
             "randomness": {"alpha": 0.01, "tests": 16, "rejected": 2}}
    line = noise_line(stats)
    assert "24-bit box_muller" in line and "D = 0.02000, p = 0.800 (n = 1,000)" in line
    assert "2 of 16 randomness tests reject at family-wise alpha = 0.01 (Holm)" in line


def _verdicts(arms: dict[str, list[float]], n: int = 12) -> dict:
    """Verdicts of arms whose FID is prng's plus a per-seed offset list (cycled to n seeds)."""
    rng = np.random.default_rng(0)
    base = {s: {m: 50.0 + rng.normal(0, 1) for m in METRICS} for s in range(n)}
    values = {"prng": base}
    for arm, offsets in arms.items():
        values[arm] = {s: {m: v + offsets[s % len(offsets)] for m, v in base[s].items()} for s in range(n)}
    return values_to_verdicts(values, Design(margin=8.0, diversity=None))  # FID alone: the family is tested apart


def test_secondary_table_has_floor_arms_and_verdicts():
    verdicts = _verdicts({"entropy": [0.1, -0.1, 0.2]})
    result = {"reference": dict.fromkeys(METRICS, 1.0), "verdicts": verdicts,
              "summary": {"prng": {m: {"mean": 2.0, "sd": 0.0, "n": 12} for m in METRICS},
                          "entropy": {m: {"mean": 2.5, "sd": 0.707, "n": 12} for m in METRICS}}}
    lines = secondary_table(result)
    assert len(lines) == 2 + len(METRICS) and "entropy − prng [interval]" in lines[0]
    fid = next(line for line in lines if line.startswith("| FID-LeNet ↓"))
    assert "| 1.000 | 2.000 ± 0.000 | 2.500 ± 0.707 | 0.10 [-0.10, 0.20] |" in fid and "**equivalent**" in fid


def test_a_called_aa_control_says_the_design_is_miscalibrated():
    bad = control_lines(_verdicts({"prng2": [5.0, 5.5, 4.5]}))
    assert "called **worse**" in bad[0] and "**the design is miscalibrated**" in bad[0]
    good = control_lines(_verdicts({"prng2": [0.3, -0.3, 0.1]}))
    assert "**equivalent**" in good[0] and "never better, worse or mixed" in good[0]
    assert "not in `train.arms`" in control_lines(_verdicts({"entropy": [0.0]}))[0]


def test_ladder_names_the_mildest_rung_detected_in_each_kind():
    lines = ladder_lines(_verdicts({"distinct-64": [30.0, 31.0], "distinct-4096": [0.2, -0.3, 0.1],
                                    "rank-8": [5.0, 6.0, 4.0], "entropy": [0.0, 0.1]}))
    assert lines[-1] == "Smallest defect detected: `distinct-64`, `rank-8`"
    assert any(line.startswith("| `distinct-4096` |") and "**equivalent**" in line for line in lines)
    assert "design's sensitivity is then unknown" in ladder_lines(_verdicts({"entropy": [0.0]}))[0]


def test_randomness_table_lists_every_test_with_its_verdict():
    noise = {"tests": {"kolmogorov_smirnov": {"n": 1000, "statistic": 0.02, "pvalue": 0.8, "pvalue_holm": 1.0,
                                              "reject": False}},
             "randomness": {"alpha": 0.01, "tests": 2, "rejected": 1}}
    entropy = {"tests": {"frequency": {"n": 8000, "statistic": 9.1, "pvalue": 1e-9, "pvalue_holm": 2e-9,
                                       "reject": True}}}
    lines = randomness_table(noise, entropy)
    assert lines[0] == "2 tests judged as one family at alpha = 0.01 (Holm): **1 rejected**."
    assert "| normals | kolmogorov smirnov | 1,000 | 0.02 | 0.8 | 1 | pass |" in lines
    assert "| bytes | frequency | 8,000 | 9.1 | 1e-09 | 2e-09 | reject |" in lines
    assert randomness_table({"tests": {}, "randomness": {"alpha": 0.01, "tests": 0}}, {"tests": {}}) == [
        "No randomness tests ran (no run reads the pool)."]


def test_limits_say_plainly_what_the_seeds_can_and_cannot_show():
    assert limits_lines(_verdicts({"entropy": [0.5, -0.5]}, n=12))[0].startswith(
        "With 12 paired seeds this design detects (power 0.8) only a difference of about")
    few = limits_lines(_verdicts({"entropy": [0.5, -0.5]}, n=4))[0]
    assert "this many seeds can show nothing" in few and "`evaluate.inference: fixed`, would detect" in few
