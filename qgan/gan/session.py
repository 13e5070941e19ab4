"""A training run's noise, resolved, and a group of runs trained together: what the train stage
and ``qgan replay`` share.

:func:`open_session` builds one (arm, seed) run's three noise streams (training, the fixed
sample-grid noise, the evaluation region's plan) in the layout a block's record (or a replayed
run's) gives; :func:`train_runs` trains sessions of one arm as one group
(:func:`qgan.gan.training.train_group`); :func:`accounting` and :func:`group_record` say what
each run read and which models trained together, for every record of the run.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass

import numpy as np
import torch

from qgan.gan.data import Split
from qgan.gan.training import TrainedGan, train_group
from qgan.noise.arms import POOL_ARMS
from qgan.noise.blocks import ShiftedNormals
from qgan.noise.layout import GRID_SIZE
from qgan.noise.streams import NoiseContext, NormalStream, make_noise, noise_context
from qgan.params import Params


@dataclass
class Session:
    """A run's noise resolved: what :func:`train_runs` needs and what the records say."""
    arm: str
    seed: int
    ctx: NoiseContext
    noise: NormalStream        # training region
    grid: NormalStream         # grid region, already drawn into grid_z
    grid_z: torch.Tensor       # (GRID_SIZE, latent_dim): the run's fixed grid noise, drawn once
    eval_plan: dict            # where evaluate will read (the eval region's record before drawing)


def open_session(params: Params, arm: str, seed: int, n_train: int, train_span: int,
                 normals: np.ndarray | ShiftedNormals | None) -> Session:
    """Noise for (arm, seed) in the layout with training span ``train_span`` (a block's record or a
    replayed run's); ``normals`` in pool coordinates, for arms that read the pool."""
    ctx = noise_context(params.noise_plan, n_train, seed, None, normals if arm in POOL_ARMS else None,
                        reading=arm in POOL_ARMS, train_span=train_span)
    grid = make_noise(arm, "grid", ctx)
    grid_z = grid.sample(GRID_SIZE, params.latent_dim)  # (64, latent_dim)
    return Session(arm, seed, ctx, make_noise(arm, "train", ctx), grid, grid_z, make_noise(arm, "eval", ctx).record())


def train_runs(params: Params, sessions: list[Session], train: Split, device: torch.device, progress: bool = True,
               on_epoch_end=None) -> list[TrainedGan]:
    """Train the sessions' GANs as one group: the one call the stage and ``qgan replay`` share."""
    name = f"{sessions[0].arm}-" + ",".join(str(s.seed) for s in sessions)
    return train_group(train, params.train, params.latent_dim, [s.seed for s in sessions],
                       [s.noise for s in sessions], device, desc=f"train {name}", progress=progress,
                       on_epoch_end=on_epoch_end)


def group_record(block: str, sessions: list[Session], position: int, device: torch.device) -> dict:
    """Which models trained together, and where this one sat (recorded, and read by replay)."""
    return {"block": block, "seeds": [s.seed for s in sessions], "position": position,
            "size": len(sessions), "device": device.type}


def accounting(session: Session) -> dict:
    """Where each region read, how much it drew, and the reuse factor (recorded everywhere)."""
    layout = session.ctx.layout
    train = session.noise.record()
    return {"arm": session.arm, "seed": session.seed, "slot": session.ctx.slot, "train": train,
            "grid": session.grid.record(), "eval": session.eval_plan, "train_span": layout.train_span,
            "train_demand": layout.demand.train_normals, "reuse_factor": train["reuse_factor"]}


def runtime_record(runtime: dict, device: torch.device) -> dict:
    """The determinism settings (:func:`qgan.core.runtime.make_deterministic`) with the device and versions."""
    return {**runtime, "device": str(device), "python": platform.python_version(), "numpy": np.__version__}
