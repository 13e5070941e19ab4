from qgan.report import noise_line, paired_sentence, randomness_table


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


def test_paired_sentence_verdicts():
    base = {"mean": 1.0, "n_seeds": 3}
    assert "excludes 0" in paired_sentence("fid", {**base, "ci95_low": 0.5, "ci95_high": 1.5})
    assert "includes 0" in paired_sentence("fid", {**base, "ci95_low": -0.5, "ci95_high": 2.5})
    assert "at least two seeds" in paired_sentence("fid", {"mean": 1.0, "n_seeds": 1})


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
