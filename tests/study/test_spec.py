"""``studies/<name>.yaml``: read and checked like params.yaml, one line naming the key."""
from __future__ import annotations

import pytest

from qgan.core.errors import ConfigError
from qgan.noise.arms import BASELINE_ARM
from qgan.study.spec import load_study, study_identity
from tests.study.test_runner import make_study


def test_a_study_is_params_yaml_with_its_overrides_and_design(tmp_path):
    study = make_study(tmp_path, aa="prng2", ladder=["distinct-64", "rank-8"], ladder_seeds=8, first_seed=10,
                       params={"train.epochs": 2, "data": {"n_train": 1000}}, design={"margin": 12.0})
    assert study.params.train.epochs == 2 and study.params.data.n_train == 1000
    assert study.params.evaluate.margin == 12.0 and study.params.evaluate.diversity == "coverage"
    assert study.arms_of(10) == (BASELINE_ARM, "entropy", "prng2", "distinct-64", "rank-8")
    assert study.arms_of(18) == (BASELINE_ARM, "entropy", "prng2")
    ident = study_identity(study)
    assert ident["recipe"]["train.epochs"] == 2 and "train.threads" not in ident["recipe"]
    assert ident["design"]["margin"] == 12.0 and ident["seeds"] == {"first_seed": 10, "block_size": 4}
    assert study.values_path == tmp_path / "studies" / "s" / "values.json"


@pytest.mark.parametrize("spec, message", [
    ({"max_seeds": 0}, "studies/s.yaml: study.max_seeds: 0 is not allowed (an integer >= 1)"),
    ({"bogus": 1}, "studies/s.yaml: study.bogus: unknown key"),
    ({"arm": "quantum"}, "studies/s.yaml: study.arm: 'quantum' is not allowed (one of entropy, prng"),
    ({"arm": "prng"}, "studies/s.yaml: study.arm: 'prng' is not allowed (an arm other than prng"),
    ({"aa": "torch"}, "studies/s.yaml: study.aa: 'torch' is not allowed (one of prng2, None)"),
    ({"ladder": ["prng2"]}, "studies/s.yaml: study.ladder: 'prng2' is not allowed (ladder rungs only"),
    ({"ladder": ["distinct-0"]}, "studies/s.yaml: study.ladder: 'distinct-0' is not allowed"),
    ({"block_size": 8, "max_seeds": 4}, "studies/s.yaml: study.max_seeds: 4 is not allowed (at least block_size (8))"),
    ({"ladder": ["rank-8"], "ladder_seeds": 6}, "study.ladder_seeds: 6 is not allowed (whole blocks: a multiple of "
                                                "block_size (4))"),
    ({"params": {"train.arms": ["prng"]}}, "study.params.train.arms: ['prng'] is not allowed (set by the study"),
    ({"params": {"train.epochs": 0}}, "studies/s.yaml: train.epochs: 0 is not allowed (an integer >= 1) (params.yaml "
                                      "with the study's params and design)"),
    ({"design": {"inference": "bayes"}}, "studies/s.yaml: evaluate.inference: 'bayes' is not allowed"),
])
def test_a_bad_spec_is_one_line_naming_the_key(tmp_path, spec, message):
    with pytest.raises(ConfigError) as info:
        make_study(tmp_path, **spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_missing_study_lists_the_ones_there(tmp_path):
    make_study(tmp_path, name="one")
    with pytest.raises(ConfigError, match=r"studies/two.yaml: no such study \(studies here: one\)"):
        load_study(tmp_path, "two")
    with pytest.raises(ConfigError, match="study name '../x' is not allowed"):
        load_study(tmp_path, "../x")
