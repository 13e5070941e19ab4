"""The study loop with a stub trainer/evaluator (values from a known distribution, :mod:`tests.study.stub`):
where it stops, how often it is wrong, resumption, and the refusals."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from qgan.core.errors import QganError
from qgan.decision.verdict import Design, family_verdict, holm_intervals, paired_differences, values_to_verdicts
from qgan.study.record import StudyMismatch, check_identity, new_record, read_record, record_values, write_record
from qgan.study.runner import next_block, run_study
from qgan.study.spec import load_study, study_identity
from tests.conftest import ROOT
from tests.study.stub import DATA, EXTRACTOR, StubBlocks

SPEC = {"arm": "entropy", "aa": None, "ladder": [], "block_size": 4, "max_seeds": 48, "budget_hours": 1000.0}


def make_study(root: Path, name: str = "s", **spec):
    """``studies/<name>.yaml`` (:data:`SPEC` updated by ``spec``) beside the committed params.yaml, loaded."""
    (root / "studies").mkdir(parents=True, exist_ok=True)
    if not (root / "params.yaml").exists():
        (root / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (root / "studies" / f"{name}.yaml").write_text(yaml.safe_dump({**SPEC, **spec}))
    return load_study(root, name)


def simulate(study, stub: StubBlocks, record: dict | None = None) -> dict:
    record = record or new_record(study.name, study_identity(study), None)
    return run_study(study, record, lambda r: None, stub, say=lambda line: None)


def test_null_studies_call_a_difference_at_most_alpha_of_the_time(tmp_path):
    """2,000 studies, no true difference, a look after every block of 4 up to 48 seeds, stopping at the
    first verdict that is not inconclusive: the family calls better, worse or mixed at most alpha."""
    study = make_study(tmp_path)
    wrong = stops = 0
    for i in range(2000):
        record = simulate(study, StubBlocks(seed=i))
        wrong += record["looks"][-1]["verdict"] in ("better", "worse", "mixed")
        stops += record["stopped"]["reason"] == "seed cap"
    assert wrong / 2000 <= study.params.evaluate.alpha
    assert stops / 2000 > 0.5   # most null studies run to the cap: the margins need far more than 48 seeds


def test_a_true_difference_of_one_paired_sd_is_found(tmp_path):
    """FID worse by one paired sd (coverage unchanged): called worse in at least 90% of 500 studies."""
    study = make_study(tmp_path)
    verdicts = [simulate(study, StubBlocks({"entropy": {"fid": 1.0}}, seed=i))["looks"][-1]["verdict"]
                for i in range(500)]
    assert verdicts.count("worse") / 500 >= 0.9
    assert "better" not in verdicts


def rejudge(values: dict, seeds: set[int], design: Design, full: bool) -> str:
    """The family verdict of entropy vs prng on ``seeds`` alone, from scratch: the evaluate stage's
    ``values_to_verdicts`` (``full``; slow: it also plans) or its Holm step on the paired differences."""
    prefix = {arm: {s: v for s, v in per.items() if s in seeds} for arm, per in values.items()}
    if full:
        return values_to_verdicts(prefix, design)["comparisons"]["entropy_vs_prng"]["verdict"]
    diffs = {m: paired_differences(prefix, "entropy", "prng", m)[1] for m in design.endpoints}
    return family_verdict([v for _, v, _ in holm_intervals(diffs, design).values()])


def test_it_stops_at_the_first_look_that_is_not_inconclusive(tmp_path):
    """Re-judged from scratch on each prefix of blocks, every look before the last is inconclusive and
    the last is not; nothing was trained after it (the last two looks of 8 studies through the
    evaluate stage's own values_to_verdicts)."""
    study = make_study(tmp_path)
    design = Design.from_params(study.params.evaluate)
    checked = 0
    for i in range(60):
        stub = StubBlocks({"entropy": {"fid": 1.0}}, seed=i)
        record = simulate(study, stub)
        if record["stopped"]["reason"] != "verdict":
            continue
        values = record_values(record)
        blocks = [b["seeds"] for b in record["blocks"]]
        for k in range(1, len(blocks) + 1):
            full = checked < 8 and k >= len(blocks) - 1
            verdict = rejudge(values, {s for b in blocks[:k] for s in b}, design, full)
            assert verdict == record["looks"][k - 1]["verdict"]
            assert (verdict != "inconclusive") == (k == len(blocks))
        assert len(stub.calls) == len(blocks)
        checked += 1
    assert checked >= 50


def test_seed_cap_and_budget_stop_at_a_block_boundary(tmp_path):
    study = make_study(tmp_path, max_seeds=10)
    record = simulate(study, StubBlocks())
    assert [b["block"] for b in record["blocks"]] == ["0-3", "4-7"]          # 8-11 would pass 10
    assert record["stopped"]["reason"] == "seed cap"
    study = make_study(tmp_path, budget_hours=1.2)
    record = simulate(study, StubBlocks(seconds=1800.0))
    assert len(record["blocks"]) == 3                                          # 1.0 h < 1.2 h: one more block
    assert record["stopped"] == {"reason": "budget", "look": 3, "n": 12, "hours": 1.5}


def test_ladder_rungs_and_the_aa_arm_train_for_their_seeds(tmp_path):
    study = make_study(tmp_path, aa="prng2", ladder=["distinct-64"], ladder_seeds=8, first_seed=10, max_seeds=16)
    stub = StubBlocks({"distinct-64": {"fid": 3.0, "coverage": -5.0}})
    record = simulate(study, stub)
    assert [(r.block, r.arms) for r in stub.calls] == [
        ("10-13", ("prng", "entropy", "prng2", "distinct-64")), ("14-17", ("prng", "entropy", "prng2", "distinct-64")),
        ("18-21", ("prng", "entropy", "prng2")), ("22-25", ("prng", "entropy", "prng2"))]
    assert sorted(record["values"]["distinct-64"], key=int) == [str(s) for s in range(10, 18)]
    assert len(record["values"]["prng2"]) == 16


def test_resume_trains_only_seeds_not_in_the_file(tmp_path):
    study = make_study(tmp_path, max_seeds=16)
    path = study.values_path
    record = new_record(study.name, study_identity(study), None)
    first = StubBlocks()
    run_study(study, record, lambda r: write_record(path, r), first, max_blocks=2, say=lambda line: None)
    assert [r.block for r in first.calls] == ["0-3", "4-7"] and read_record(path)["stopped"] is None
    again = StubBlocks()
    resumed = run_study(study, read_record(path), lambda r: write_record(path, r), again, say=lambda line: None)
    assert [r.block for r in again.calls] == ["8-11", "12-15"]
    assert resumed["values"] == simulate(study, StubBlocks())["values"]       # as if never interrupted
    assert next_block(study, resumed).block == "16-19"


def test_a_changed_design_arm_or_recipe_is_refused(tmp_path):
    study = make_study(tmp_path)
    record = new_record(study.name, study_identity(study), None)
    check_identity(record, study_identity(study), study.values_path)           # the same study: fine
    for spec, where in (({"design": {"margin": 5.0}}, "design.margin was 10.0, the study now gives 5.0"),
                        ({"ladder": ["rank-8"]}, "arms.ladder was [], the study now gives ['rank-8']"),
                        ({"params": {"train.epochs": 5}}, "recipe.train.epochs was 4, the study now gives 5"),
                        ({"block_size": 2}, "seeds.block_size was 4")):
        with pytest.raises(StudyMismatch, match=re.escape(where)) as info:
            check_identity(record, study_identity(make_study(tmp_path, **spec)), study.values_path)
        assert "\n" not in str(info.value) and "a changed instrument is a new study" in str(info.value)
    # neither the cap nor the budget is part of the study's identity: raising them continues it; nor is a
    # host's data folder, nor a param added since the file was written (it defaults to the old behaviour)
    check_identity(record, study_identity(make_study(tmp_path, max_seeds=400, budget_hours=50.0,
                                                     params={"data.path": "/elsewhere"})), study.values_path)
    del record["identity"]["recipe"]["train.beta2"]
    check_identity(record, study_identity(study), study.values_path)


def test_another_extractor_is_refused_and_nothing_is_recorded(tmp_path):
    study = make_study(tmp_path)
    path = study.values_path
    record = new_record(study.name, study_identity(study), None)
    run_study(study, record, lambda r: write_record(path, r), StubBlocks(), max_blocks=1, say=lambda line: None)
    before = path.read_bytes()
    with pytest.raises(StudyMismatch, match="the study's extractor_sha256 is eeeeeeee.*, this block's is ffffffff"):
        run_study(study, read_record(path), lambda r: write_record(path, r), StubBlocks(extractor="f" * 64),
                  say=lambda line: None)
    assert path.read_bytes() == before
    assert json.loads(before)["identity"]["extractor_sha256"] == EXTRACTOR and json.loads(before)["identity"][
        "data_digest"] == DATA


def test_a_block_that_reads_an_earlier_blocks_pool_is_refused(tmp_path):
    class SamePool(StubBlocks):
        def __call__(self, request):
            result = super().__call__(request)
            for run in result.runs.values():
                if run["pool"]:
                    run["pool"]["sha256"] = "same"
            return result
    study = make_study(tmp_path)
    record = new_record(study.name, study_identity(study), None)
    with pytest.raises(QganError, match="read the same pool .* as block 0-3: the source gave the same bytes again"):
        run_study(study, record, lambda r: None, SamePool(), say=lambda line: None)
    assert [b["block"] for b in record["blocks"]] == ["0-3"]


def test_the_null_stub_is_what_it_claims(tmp_path):
    """The stub's paired FID differences have the stated sd and no shift (so the tests above test the runner)."""
    stub = StubBlocks()
    d = np.array([stub.draw("entropy", s)["fid"] - stub.draw("prng", s)["fid"] for s in range(4000)])
    assert abs(d.mean()) < 4 * 28 / np.sqrt(4000) and abs(d.std() / 28 - 1) < 0.05
