"""One training run end to end: the ``train`` stage for one (arm, seed).

:func:`run_training` reads the stage's inputs (:class:`TrainInputs`), opens the run's noise
(:func:`open_session`), its MLflow runs (the pipeline's parent and this run's child), trains,
writes the outputs (:class:`TrainOutputs`: checkpoint, metrics file, figures) and logs them
with the record ``qgan replay`` needs (``replay/run.json``: params, runtime, input digests).
"""
from __future__ import annotations

import json
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qgan.core import tracking
from qgan.core.atomic import read_json, write_json_atomic, write_torch_atomic
from qgan.core.numerics import NUMERICS_KEYS
from qgan.core.plots import images_to_grid, save_epoch_grids, save_grid_png, save_losses
from qgan.core.runtime import make_deterministic, select_device
from qgan.entropy.archive import read_manifest
from qgan.gan.data import Split, load_split
from qgan.gan.models import Generator, state_dict_sha256
from qgan.gan.training import LOSS_COLUMNS, TrainedGan, loss_summary, pairing_seeds, train_gan
from qgan.noise.convert import load_normals
from qgan.noise.layout import GRID_SIZE, steps_per_epoch
from qgan.noise.streams import POOL_ARMS, NoiseContext, NormalStream, make_noise, noise_context
from qgan.params import Params

RECORD_FORMAT = 1  # version of replay/run.json
RECORD_PATH = "replay/run.json"  # artifact path of the replay record on each training run
FIGURES = ("samples.png", "epochs.png", "losses.png", "losses.csv")  # files in TrainOutputs.figures


@dataclass(frozen=True)
class TrainInputs:
    data: Path       # the data stage's folder (train split and meta.json with its digest)
    normals: Path    # the convert stage's normals.npy (read by arms that read the pool)
    manifest: Path   # the harvest stage's manifest.json (the pool's size and sha256)


@dataclass(frozen=True)
class TrainOutputs:
    model: Path      # checkpoint: generator and discriminator state, noise record, runtime
    metrics: Path    # last-epoch losses, normals drawn, generator sha256
    figures: Path    # folder of samples.png, epochs.png, losses.png, losses.csv


@dataclass
class Session:
    """A run's noise resolved: what :func:`train_run` needs and what the records say."""
    arm: str
    seed: int
    ctx: NoiseContext
    noise: NormalStream        # training region
    grid: NormalStream         # grid region, already drawn into grid_z
    grid_z: torch.Tensor       # (GRID_SIZE, latent_dim): the run's fixed grid noise, drawn once
    eval_plan: dict            # where evaluate will read (the eval region's record before drawing)


@dataclass
class Prepared:
    """The inputs of one run, read: the training split, digests and the noise session."""
    train: Split
    data_digest: str
    manifest: dict
    session: Session


def open_session(params: Params, arm: str, seed: int, n_train: int, pool_bytes: int,
                 normals: np.ndarray | None) -> Session:
    """Noise for (arm, seed) from the layout that a pool of ``pool_bytes`` allows."""
    ctx = noise_context(params.noise_plan, n_train, seed, pool_bytes, normals, reading=arm in POOL_ARMS)
    grid = make_noise(arm, "grid", ctx)
    grid_z = grid.sample(GRID_SIZE, params.latent_dim)  # (64, latent_dim)
    return Session(arm, seed, ctx, make_noise(arm, "train", ctx), grid, grid_z, make_noise(arm, "eval", ctx).record())


def train_run(params: Params, session: Session, train: Split, device: torch.device, progress: bool = True,
              on_epoch_end=None) -> TrainedGan:
    """Train the session's GAN: the one call the stage and ``qgan replay`` share."""
    return train_gan(train, params.train, params.latent_dim, session.seed, session.noise, device,
                     desc=f"train {session.arm}-{session.seed}", progress=progress, on_epoch_end=on_epoch_end)


def accounting(session: Session) -> dict:
    """Where each region read, how much it drew, and the reuse factor (recorded everywhere)."""
    layout = session.ctx.layout
    train = session.noise.record()
    return {"arm": session.arm, "seed": session.seed, "slot": session.ctx.slot, "train": train,
            "grid": session.grid.record(), "eval": session.eval_plan, "train_span": layout.train_span,
            "train_demand": layout.demand.train_normals, "reuse_factor": train["reuse_factor"]}


def runtime_record(runtime: dict, device: torch.device) -> dict:
    return {**runtime, "device": str(device), "python": platform.python_version(), "numpy": np.__version__}


def read_inputs(params: Params, arm: str, seed: int, inputs: TrainInputs) -> Prepared:
    """Load the training split, the digests and the run's noise (before anything is written)."""
    train = load_split(inputs.data, "train")
    manifest = read_manifest(inputs.manifest)
    normals = load_normals(inputs.normals) if arm in POOL_ARMS else None
    session = open_session(params, arm, seed, len(train.labels), int(manifest["total_bytes"]), normals)
    return Prepared(train, read_json(inputs.data / "meta.json")["digest"], manifest, session)


def start_tracking(params: Params, run: Prepared) -> tuple[tracking.RunLogger, dict]:
    """This run's child of the pipeline's parent run, and the code record (revision, dirty)."""
    arm, seed, manifest = run.session.arm, run.session.seed, run.manifest
    parent = tracking.RunLogger.open_pipeline(params.flat(), manifest, run.data_digest)
    code = {"revision": tracking.code_revision(tracking.project_root()), "dirty": tracking.code_dirty()}
    child = tracking.RunLogger.start(f"{arm}-{seed}", {
        tracking.TAG_PARENT: parent.run_id, tracking.TAG_ROLE: "training", tracking.TAG_ARM: arm,
        tracking.TAG_SEED: seed, tracking.TAG_DATA_DIGEST: run.data_digest,
        tracking.TAG_CODE_DIRTY: str(code["dirty"]).lower(), **tracking.entropy_tags(manifest)})
    return child, code


def log_inputs(child: tracking.RunLogger, params: Params, run: Prepared, inputs: TrainInputs, runtime: dict) -> None:
    """The run's params (with the runtime record) and its input datasets."""
    arm, seed, manifest = run.session.arm, run.session.seed, run.manifest
    child.log_params({**params.flat(), "arm": arm, "seed": seed, **{f"runtime.{k}": v for k, v in runtime.items()}})
    child.log_dataset(f"mnist-{params.data.source}", run.data_digest, inputs.data.resolve().as_uri(),
                      {"n_train": len(run.train.labels), "digest": run.data_digest}, "training")
    if arm in POOL_ARMS:
        child.log_dataset("entropy-pool", manifest["sha256"], inputs.manifest.parent.resolve().as_uri(),
                          {"bytes": int(manifest["total_bytes"]), "sha256": manifest["sha256"],
                           "sources": manifest.get("sources", []), "quantum": bool(manifest.get("quantum"))},
                          "latent noise")


def write_outputs(params: Params, run: Prepared, trained: TrainedGan, grids: dict[int, np.ndarray],
                  device: torch.device, record: dict, outputs: TrainOutputs) -> dict:
    """Figures, checkpoint and metrics file; returns the metrics. Each depends only on the run's
    result (no run ids, no wall times: those go to MLflow), so a re-run that trains the same
    generator rewrites the same bytes and nothing downstream re-runs."""
    name = f"{run.session.arm}-{run.session.seed}"
    sha = state_dict_sha256(trained.generator)
    with torch.no_grad():
        grid = trained.generator(run.session.grid_z.to(device)).cpu().numpy()
    figures = outputs.figures
    save_grid_png(grid, figures / "samples.png")
    save_losses(trained.losses, figures / "losses.csv", figures / "losses.png", f"losses {name}")
    save_epoch_grids(grids, figures / "epochs.png", f"{name}: samples from one fixed noise over training")
    noise = accounting(run.session)
    checkpoint = {"generator": {k: v.cpu() for k, v in trained.generator.state_dict().items()},
                  "discriminator": {k: v.cpu() for k, v in trained.discriminator.state_dict().items()},
                  "latent_dim": params.latent_dim, "params": params.flat(), "noise": noise,
                  "generator_sha256": sha, "entropy_sha256": run.manifest["sha256"],
                  "runtime": record, "pairing_seeds": pairing_seeds(run.session.seed)}
    write_torch_atomic(outputs.model, checkpoint)
    steps = steps_per_epoch(len(run.train.labels), params.train.batch_size)
    metrics = {**loss_summary(trained.losses, steps), "steps": len(trained.losses),
               "normals_drawn": noise["train"]["drawn"] + noise["grid"]["drawn"],
               "reuse_factor": noise["reuse_factor"], "generator_sha256": sha,
               "numerics": {k: record[k] for k in NUMERICS_KEYS}}
    write_json_atomic(outputs.metrics, metrics)
    return metrics


def log_results(child: tracking.RunLogger, params: Params, run: Prepared, trained: TrainedGan, metrics: dict,
                record: dict, code: dict, outputs: TrainOutputs) -> None:
    """Losses per step, summary metrics, tags, figures, checkpoint and the replay record."""
    noise = accounting(run.session)
    child.log_metrics((key, value, step) for step, row in enumerate(trained.losses)
                      for key, value in zip(LOSS_COLUMNS, row))
    child.set_tags({tracking.TAG_GENERATOR_SHA256: metrics["generator_sha256"],
                    tracking.TAG_REUSE: noise["reuse_factor"], "noise_train": json.dumps(noise["train"])})
    summary = {k: metrics[k] for k in ("d_loss", "g_loss", "d_loss_real", "d_loss_fake")}
    child.log_metrics([*((f"last_epoch_{k}", v, 0) for k, v in summary.items()),
                       ("seconds", trained.seconds, 0), ("normals_drawn", metrics["normals_drawn"], 0),
                       ("reuse_factor", noise["reuse_factor"], 0)])
    for name in FIGURES:
        child.log_artifact(outputs.figures / name, "figures")
    child.log_artifact(outputs.model, "checkpoint")
    manifest = run.manifest
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(RECORD_PATH).name
        write_json_atomic(path, {
            "format": RECORD_FORMAT, "arm": run.session.arm, "seed": run.session.seed, "params": params.to_dict(),
            "runtime": record, "entropy": {"sha256": manifest["sha256"], "bytes": int(manifest["total_bytes"]),
                                           "sources": manifest.get("sources", []),
                                           "quantum": bool(manifest.get("quantum"))},
            "data_digest": run.data_digest, "noise": noise, "generator_sha256": metrics["generator_sha256"],
            "code": code})
        child.log_artifact(path, str(Path(RECORD_PATH).parent))


def run_training(params: Params, arm: str, seed: int, inputs: TrainInputs, outputs: TrainOutputs,
                 progress: bool = True) -> dict:
    """Train (arm, seed), log it to MLflow, write checkpoint, metrics and figures; returns the metrics."""
    runtime = make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    run = read_inputs(params, arm, seed, inputs)
    record = runtime_record(runtime, device)
    child, code = start_tracking(params, run)
    try:
        log_inputs(child, params, run, inputs, record)
        grids: dict[int, np.ndarray] = {}

        def log_epoch_grid(epoch: int, generator: Generator) -> None:  # same z every epoch
            grids[epoch] = images_to_grid(generator(run.session.grid_z.to(device)).cpu().numpy())
            child.log_image(grids[epoch], "samples", epoch)

        trained = train_run(params, run.session, run.train, device, progress, log_epoch_grid)
        metrics = write_outputs(params, run, trained, grids, device, record, outputs)
        log_results(child, params, run, trained, metrics, record, code, outputs)
    except BaseException:
        child.finish(ok=False)
        raise
    child.finish()
    return metrics
