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


def test_the_shipped_extractor_refuses_other_data_other_recipes_and_damaged_weights(tmp_path):
    """The shipped weights load for their own data digest and recipe and give the digest their
    provenance records; other data, another recipe or damaged bytes stop with one line."""
    import shutil

    import torch

    from qgan.gan.models import state_dict_sha256
    from qgan.scoring.classifier import SHIPPED, SHIPPED_PROVENANCE, load_shipped

    data = SHIPPED_PROVENANCE["data_digest"]
    assert state_dict_sha256(load_shipped(data, ClassifierConfig())) == SHIPPED_PROVENANCE["extractor_sha256"]
    errors = []
    for digest, cfg in (("0" * 64, ClassifierConfig()), (data, ClassifierConfig(epochs=4))):
        with pytest.raises(QganError) as info:
            load_shipped(digest, cfg)
        errors.append(str(info.value))
    assert "not this data" in errors[0] and "classifier.epochs 8 -> 4" in errors[1]
    copy = tmp_path / SHIPPED.name
    shutil.copy(SHIPPED.with_suffix(".json"), copy.with_suffix(".json"))
    state = torch.load(SHIPPED.with_suffix(".pt"), weights_only=True)
    state["head.bias"][0] += 1e-6  # one weight off
    torch.save(state, copy.with_suffix(".pt"))
    with pytest.raises(QganError, match="damaged file") as info:
        load_shipped(data, ClassifierConfig(), copy)
    copy.with_suffix(".pt").write_bytes(SHIPPED.with_suffix(".pt").read_bytes()[:1000])  # truncated
    with pytest.raises(QganError, match="not a classifier state dict"):
        load_shipped(data, ClassifierConfig(), copy)
    errors.append(str(info.value))
    assert all("\n" not in e for e in errors)


@pytest.fixture(scope="module")
def default_extractor(tmp_path_factory):
    """The default classifier stage run fresh (pinned numerics) on the default data: its folder."""
    import os
    import subprocess
    import sys

    from qgan.core.numerics import PINNED, SWITCH
    from qgan.gan.data import source_to_data_dir
    from qgan.params import DataConfig
    from tests.conftest import ROOT

    folder = tmp_path_factory.mktemp("extractor")
    source_to_data_dir(DataConfig(), folder / "data")
    env = {k: v for k, v in os.environ.items() if k not in PINNED and k != SWITCH}
    out = subprocess.run([sys.executable, "-m", "stages.classifier", "--params", str(ROOT / "params.yaml"), "--data",
                          str(folder / "data"), "--out", str(folder / "classifier.pt"), "--metrics",
                          str(folder / "classifier.json")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return folder


@pytest.mark.integration
def test_the_default_classifier_is_the_versioned_extractor(default_extractor):
    """The default classifier stage gives exactly the shipped weights, with test accuracy at least
    0.99 on the full MNIST, and the committed default run's metrics (floats to 1e-6: feature
    numerics may differ in the last bits on another CPU vendor; the weights may not)."""
    import json

    from qgan.scoring.classifier import VERSIONED_EXTRACTORS
    from tests.conftest import ROOT

    metrics = json.loads((default_extractor / "classifier.json").read_text())
    assert VERSIONED_EXTRACTORS[metrics["extractor_key"]] == metrics["extractor_sha256"]
    assert metrics["source"] == "versioned" and metrics["test_accuracy"] >= 0.99
    assert (metrics["n_train"], metrics["n_holdout"]) == (50000, 10000)
    committed = json.loads((ROOT / "metrics" / "classifier.json").read_text())

    def split(m: dict) -> tuple[dict, dict]:
        return ({k: v for k, v in m.items() if isinstance(v, float)},
                {k: v for k, v in m.items() if not isinstance(v, float)})
    assert split(metrics)[1] == split(committed)[1]
    assert split(metrics)[0] == pytest.approx(split(committed)[0], rel=1e-6)


@pytest.mark.integration
def test_the_family_separates_few_distinct_real_digits_from_real_data(default_extractor):
    """Real images only (no generator): N = 2,000 digits the extractor never saw, either 2,000
    different ones (five disjoint sets: the real-vs-real spread) or K distinct ones repeated to N,
    each scored against the 10,000 test digits. Both family endpoints must put K = 64 many
    real-vs-real spreads away (FID up, coverage down); at K = 640 the family must still separate it,
    through coverage (measured here: FID only about 1 real sd away at this N, coverage about 11)."""
    import numpy as np
    import torch

    from qgan.core.runtime import make_deterministic
    from qgan.gan.data import load_split
    from qgan.gan.models import uint8_to_images
    from qgan.pipeline.evaluate import load_extractor
    from qgan.scoring.classifier import images_to_outputs, split_holdout
    from qgan.scoring.metrics import features_to_endpoints
    from qgan.scoring.score import split_to_reference

    make_deterministic(2)
    model = load_extractor(default_extractor / "classifier.pt", default_extractor / "classifier.json",
                           torch.device("cpu"))
    data = default_extractor / "data"
    reference = split_to_reference(model, load_split(data, "test"), 500)
    _, held = split_holdout(load_split(data, "train"), 10000)
    feats = images_to_outputs(model, uint8_to_images(held.images), 500)[0]
    n, family = 2000, ("fid", "coverage")
    real = [features_to_endpoints(reference, feats[i * n:(i + 1) * n], None, family) for i in range(5)]
    mean = {m: np.mean([r[m] for r in real]) for m in family}
    sd = {m: np.std([r[m] for r in real], ddof=1) for m in family}
    rng = np.random.default_rng(0)
    print(f"real vs test, N = {n} (5 disjoint sets): FID {mean['fid']:.3f} ± {sd['fid']:.3f}, "
          f"coverage {mean['coverage']:.4f} ± {sd['coverage']:.4f}")
    away = {}
    for k in (64, 640):
        tiled = feats[np.resize(rng.choice(len(feats), k, replace=False), n)]
        m = features_to_endpoints(reference, tiled, None, family)
        away[k] = {x: (m[x] - mean[x]) / sd[x] for x in family}
        print(f"{k} distinct real digits repeated to {n}: FID {m['fid']:.3f} ({away[k]['fid']:+.0f} sd), "
              f"coverage {m['coverage']:.4f} ({away[k]['coverage']:+.0f} sd)")
    assert away[64]["fid"] > 10 and away[64]["coverage"] < -10
    assert away[640]["coverage"] < -5
