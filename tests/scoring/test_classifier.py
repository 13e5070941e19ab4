"""The versioned feature extractor: its digest key, the refusal to score with other weights."""
import pytest

from qgan.core.errors import QganError
from qgan.params import ClassifierConfig
from qgan.scoring.classifier import check_versioned, extractor_key, same_extractor

PINNED = {"numerics": "pinned", "aten_cpu_capability": "AVX2", "onednn_max_cpu_isa": "AVX2",
          "mkl_cbwr": "AVX2,STRICT"}


def test_key_names_data_params_and_numerics():
    base = extractor_key("d1", ClassifierConfig(), PINNED)
    assert base == extractor_key("d1", ClassifierConfig(), dict(PINNED))
    assert base != extractor_key("d2", ClassifierConfig(), PINNED)
    assert base != extractor_key("d1", ClassifierConfig(epochs=9), PINNED)
    assert base != extractor_key("d1", ClassifierConfig(), {**PINNED, "numerics": "native"})


def test_other_weights_for_a_versioned_key_stop_with_one_line():
    versioned = {"k": "a" * 64}
    check_versioned("k", "a" * 64, versioned)        # the versioned weights: fine
    check_versioned("other", "b" * 64, versioned)    # an unversioned config: recorded, not checked
    with pytest.raises(QganError) as info:
        check_versioned("k", "b" * 64, versioned)
    assert "versioned extractor" in str(info.value) and "\n" not in str(info.value)


def test_metrics_of_two_extractors_are_not_compared():
    assert same_extractor({"classifier.pt": "a" * 64, "classifier.json": "a" * 64}) == "a" * 64
    with pytest.raises(QganError, match="cannot compare metrics computed with different feature extractors"):
        same_extractor({"classifier.pt": "a" * 64, "classifier.json": "b" * 64})


@pytest.mark.integration
def test_the_default_classifier_is_the_versioned_extractor(tmp_path):
    """A fresh default classifier stage (pinned numerics) gives exactly the versioned weights;
    the stage's own check would stop it otherwise, so this also proves the registry is not empty."""
    import json
    import os
    import subprocess
    import sys

    from qgan.core.numerics import PINNED, SWITCH
    from qgan.gan.data import source_to_data_dir
    from qgan.params import DataConfig
    from qgan.scoring.classifier import VERSIONED_EXTRACTORS
    from tests.conftest import ROOT

    source_to_data_dir(DataConfig(), tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k not in PINNED and k != SWITCH}
    out = subprocess.run([sys.executable, "-m", "stages.classifier", "--params", str(ROOT / "params.yaml"), "--data",
                          str(tmp_path / "data"), "--out", str(tmp_path / "classifier.pt"), "--metrics",
                          str(tmp_path / "classifier.json")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "classifier.json").read_text())
    assert VERSIONED_EXTRACTORS[metrics["extractor_key"]] == metrics["extractor_sha256"]
    assert metrics == json.loads((ROOT / "metrics" / "classifier.json").read_text())  # the committed default run's
