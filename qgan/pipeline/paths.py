"""Where the train stage's outputs lie, for the stages and commands that read them.

A run (arm, seed) belongs to the block of ``train.seeds`` that trains it; the train stage of
that block writes ``<models>/<arm>-<block>/<arm>-<seed>.pt`` and ``<figures>/<arm>-<block>/<arm>-<seed>/``
(the folders ``dvc.yaml`` names). No torch here: the report stage reads these paths too.
"""
from __future__ import annotations

from pathlib import Path

from qgan.params import Params

FIGURES = ("samples.png", "epochs.png", "losses.png", "losses.csv")  # files in a run's figure folder


def block_folder(params: Params, arm: str, seed: int) -> str:
    """The train stage output folder (``<arm>-<block>``) that holds the run (arm, seed)."""
    return f"{arm}-{params.train.block_of(seed)}"


def checkpoint_path(models: Path, params: Params, arm: str, seed: int) -> Path:
    """Where the train stage wrote (arm, seed)'s checkpoint, under the ``models/gan`` folder."""
    return models / block_folder(params, arm, seed) / f"{arm}-{seed}.pt"


def figures_path(figures: Path, params: Params, arm: str, seed: int) -> Path:
    """(arm, seed)'s figure folder under the ``reports/train`` folder."""
    return figures / block_folder(params, arm, seed) / f"{arm}-{seed}"


def train_stage(params: Params, arm: str, seed: int) -> str:
    """The ``dvc.yaml`` stage that trains (arm, seed): ``train@<arm>-<block>``."""
    return f"train@{block_folder(params, arm, seed)}"
