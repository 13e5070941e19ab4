from qgan.report import noise_line, paired_sentence


def test_noise_line_without_normals():
    assert "no run reads the pool" in noise_line({"n": 0})


def test_paired_sentence_verdicts():
    base = {"mean": 1.0, "n_seeds": 3}
    assert "excludes 0" in paired_sentence("fid", {**base, "ci95_low": 0.5, "ci95_high": 1.5})
    assert "includes 0" in paired_sentence("fid", {**base, "ci95_low": -0.5, "ci95_high": 2.5})
    assert "at least two seeds" in paired_sentence("fid", {"mean": 1.0, "n_seeds": 1})
