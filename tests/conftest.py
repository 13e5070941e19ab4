"""Shared fixtures: the project's default params and small, fast variants of them."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# A tiny pipeline: a few hundred images, one epoch, small pools (see the README's test notes).
TINY = {"latent_dim": 8,
        "data": {"n_train": 256, "n_test": 100},
        "classifier": {"epochs": 1},
        "train": {"seeds": [0, 1], "epochs": 1, "batch_size": 32},
        "evaluate": {"n_samples": 64}}


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict):
            out[key] = merged(out.get(key) or {}, value)
        else:
            out[key] = value
    return out


@pytest.fixture
def raw_params() -> dict:
    """The committed params.yaml as a dict (a fresh copy per test)."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def tiny_params(raw_params):
    from qgan.params import dict_to_params
    return dict_to_params(merged(raw_params, TINY))
