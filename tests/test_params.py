import pytest

from qgan.core.errors import ConfigError
from qgan.params import dict_to_params, load_params
from tests.conftest import ROOT, merged


def test_committed_params_load_with_seed_recipe():
    p = load_params(ROOT / "params.yaml")
    assert p.latent_dim == 100
    assert (p.train.batch_size, p.train.lr, p.train.beta1) == (64, 0.0002, 0.5)
    assert p.train.arms == ("entropy", "prng") and p.convert.bits == 24
    assert p.flat()["train.lr"] == 0.0002 and p.flat()["train.seeds"] == ["0-3"]
    assert p.train.seed_list == (0, 1, 2, 3) and p.train.blocks == [("0-3", (0, 1, 2, 3))]


@pytest.mark.parametrize("override, key", [
    ({"latent_dim": -3}, "latent_dim"),
    ({"latent_dim": "big"}, "latent_dim"),
    ({"train": {"arms": ["entropy", "quantum-magic"]}}, "train.arms"),
    ({"train": {"arms": ["prng", "prng"]}}, "train.arms"),
    ({"train": {"seeds": [0, -1]}}, "train.seeds"),
    ({"train": {"seeds": ["0-3", 2]}}, "train.seeds"),
    ({"train": {"seeds": ["4-1"]}}, "train.seeds"),
    ({"train": {"seeds": ["0..3"]}}, "train.seeds"),
    ({"convert": {"bits": 7}}, "convert.bits"),
    ({"convert": {"method": "ziggurat"}}, "convert.method"),
    ({"train": {"lr": 0}}, "train.lr"),
    ({"train": {"epoch": 3}}, "train.epoch"),
    ({"harvest": {"bytes": -1}}, "harvest.bytes"),
    ({"harvest": {"source": "anu-typo"}}, "harvest.source"),
    ({"data": {"source": "idx"}}, "data.path"),
    ({"evaluate": {"n_samples": 1}}, "evaluate.n_samples"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_value_names_key_in_one_line(raw_params, override, key):
    with pytest.raises(ConfigError) as info:
        dict_to_params(merged(raw_params, override))
    message = str(info.value)
    assert message.startswith(f"params.yaml: {key}:"), message
    assert "\n" not in message


def test_a_seed_in_two_blocks_is_named(raw_params):
    with pytest.raises(ConfigError, match=r"train.seeds: 2 is not allowed \(seed 2 twice"):
        dict_to_params(merged(raw_params, {"train": {"seeds": ["0-3", 2]}}))


def test_a_bad_list_item_is_named_itself(raw_params):
    with pytest.raises(ConfigError) as info:
        dict_to_params(merged(raw_params, {"train": {"arms": ["entropy", "bogus"]}}))
    assert str(info.value).startswith("params.yaml: train.arms: 'bogus' is not allowed (arms: one of entropy, ")


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_code_defaults_agree_with_committed_params():
    assert dict_to_params({}) == load_params(ROOT / "params.yaml")


def test_params_yaml_is_the_declarations_keys_defaults_and_comments():
    """params.yaml is rendered from qgan/params.py: same keys, defaults and comments, so the two
    cannot disagree (regenerate with `python -c "from qgan.params import defaults_to_yaml; ..."`)."""
    from qgan.params import defaults_to_yaml
    assert (ROOT / "params.yaml").read_text() == defaults_to_yaml()


def test_registries_are_what_params_accepts(raw_params):
    """train.arms and harvest.source accept exactly the names their light registries hold, and each
    name has its factory where the streams and sources are built (and no factory lacks a name)."""
    from qgan.entropy.registry import SOURCE_NAMES
    from qgan.entropy.sources import FACTORIES as SOURCE_FACTORIES
    from qgan.noise.arms import ARMS
    from qgan.noise.streams import FACTORIES as ARM_FACTORIES
    assert set(ARM_FACTORIES) == set(ARMS) and set(SOURCE_FACTORIES) == set(SOURCE_NAMES)
    p = dict_to_params(merged(raw_params, {"train": {"arms": list(ARMS)}}))
    assert p.train.arms == tuple(ARMS)
    with pytest.raises(ConfigError, match="harvest.source: 'bogus' is not allowed"):
        dict_to_params(merged(raw_params, {"harvest": {"source": "bogus"}}))
    for source in SOURCE_NAMES:
        extra = {"quantum": False, "label": "x"} if source in ("device", "file") else {}
        assert dict_to_params(merged(raw_params, {"harvest": {"source": source, **extra}})).harvest.source == source


def test_a_ladder_rung_out_of_range_is_named_from_the_ladders_own_data(raw_params):
    """params quotes the ladder's RungError.allowed (no sentence parsed back), and the rank check
    has one home (Rung.check_fits) for params and for building the stream."""
    from qgan.noise.ladder import RungError, parse_rung

    with pytest.raises(ConfigError) as info:
        dict_to_params(merged(raw_params, {"train": {"arms": ["prng", "bits-40"]}}))
    assert str(info.value) == "params.yaml: train.arms: 'bits-40' is not allowed (arms: n must be in 1..23)"
    with pytest.raises(ConfigError) as info:
        dict_to_params(merged(raw_params, {"latent_dim": 16, "train": {"arms": ["prng", "rank-17"]}}))
    assert str(info.value) == "params.yaml: train.arms: 'rank-17' is not allowed (rank at most latent_dim 16)"
    assert dict_to_params(merged(raw_params, {"latent_dim": 16, "train": {"arms": ["rank-16"]}})).train.arms == (
        "rank-16",)
    with pytest.raises(RungError) as rung:
        parse_rung("rank-17").aux_size(16)
    assert rung.value.allowed == "rank at most latent_dim 16" and rung.value.name == "rank-17"
