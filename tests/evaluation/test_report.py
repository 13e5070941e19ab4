from qgan.evaluation.report import controls_lines, metrics_table, noise_line, randomness_table


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


def _result(verdicts: dict) -> dict:
    from qgan.evaluation.metrics import METRICS
    result = {"reference": dict.fromkeys(METRICS, 1.0), "paired": {}, "verdicts": verdicts}
    for m in METRICS:
        result[m] = {"entropy": {"0": 2.0, "1": 3.0, "mean": 2.5}, "prng": {"0": 2.0, "1": 2.0, "mean": 2.0}}
    return result


def test_metrics_table_has_floor_arms_and_verdicts():
    from qgan.core.stats import judge, paired_comparison
    from qgan.evaluation.metrics import METRICS
    result = _result({})
    result["paired"]["entropy_vs_prng"] = {m: paired_comparison({0: 2.0, 1: 3.0}, {0: 2.0, 1: 2.0}, 0.05)
                                           for m in METRICS}
    judge(result["paired"]["entropy_vs_prng"], {m: lower for m, (_, lower) in METRICS.items()}, 0.05)
    lines = metrics_table(result, ["entropy", "prng"])
    assert len(lines) == 2 + len(METRICS) and "entropy − prng" in lines[0]
    fid = next(line for line in lines if line.startswith("| FID-LeNet ↓"))
    assert "| 1.000 | 2.500 ± 0.707 | 2.000 ± 0.000 | 0.500 [0.000, 1.000] |" in fid and "**inconclusive" in fid


def test_controls_say_whether_they_behaved():
    absent = controls_lines(_result({}))
    assert "not in `train.arms`" in absent[0] and "not in `train.arms`" in absent[1]
    bad = controls_lines(_result({"prng2_vs_prng": {"fid": "prng2 better", "kid": "inconclusive (about 9 seeds)"}}))
    assert bad[0] == "- Negative control `prng2` vs `prng`: **did not behave**: called different on fid"
    good = controls_lines(_result({"prng2_vs_prng": {"fid": "equivalent within ±1"},
                                   "legacy8_vs_prng": {"fid": "prng better", "kid": "inconclusive (about 4 seeds)"}}))
    assert good[0].endswith("behaved: no metric called different.")
    assert good[1].startswith("- Positive control `legacy8` vs `prng`: distinguished on 1 of 2 metrics")


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
