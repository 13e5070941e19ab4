"""``qgan study show`` from the values file alone, and ``qgan compare`` of a study's values under its own design."""
from __future__ import annotations

import json

from qgan.cli import main
from qgan.study.record import new_record, read_record, write_record
from qgan.study.runner import run_study
from qgan.study.spec import study_identity
from tests.study.stub import StubBlocks
from tests.study.test_runner import make_study


def stub_study(root, **spec):
    (root / ".dvc").mkdir(exist_ok=True)
    study = make_study(root, **spec)
    record = new_record(study.name, study_identity(study), None)
    run_study(study, record, lambda r: write_record(study.values_path, r),
              StubBlocks({"distinct-64": {"fid": 3.0, "coverage": -10.0}}), say=lambda line: None)
    return study


def test_show_reads_the_file_alone_and_draws_both_figures(tmp_path, monkeypatch, capsys):
    stub_study(tmp_path, aa="prng2", ladder=["distinct-64"], max_seeds=16)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies" / "s.yaml").write_text("arm: [broken")          # the spec is not needed
    assert main(["study", "show", "s"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("study s: stopped after look 4 at n = 16: the next block would pass max_seeds")
    assert "looks: 4 (one per block; every one valid" in out and "A/A control `prng2` vs prng" in out
    assert "| `distinct-64` |" in out and "cost: 4 blocks, 60 training runs" in out
    assert all((tmp_path / "studies" / "s" / f).stat().st_size > 10_000 for f in ("verdicts.png", "looks.png"))
    assert main(["study", "show", "../etc"]) == 2 and "study name '../etc' is not allowed" in capsys.readouterr().err


def test_compare_judges_a_study_under_its_own_design(tmp_path, monkeypatch, capsys):
    study = stub_study(tmp_path, design={"margin": 25.0}, max_seeds=16)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(study.values_path), "--json"]) == 0
    verdicts = json.loads(capsys.readouterr().out)
    assert verdicts["design"]["margin"] == 25.0                              # params.yaml says 10
    last = read_record(study.values_path)["looks"][-1]
    assert verdicts["comparisons"]["entropy_vs_prng"]["primary"]["interval"] == last["endpoints"][0]["interval"]
    assert main(["compare", str(study.values_path), "--json", "--margin", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["design"]["margin"] == 5.0    # an option still overrides
