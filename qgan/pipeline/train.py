"""Training runs end to end: the ``train`` stage for one arm and one block of seeds.

:func:`run_training` reads the stage's inputs (:class:`TrainInputs`), opens each run's noise
(:func:`open_session`) and MLflow runs (the pipeline's parent and one child per (arm, seed)),
trains the block as one group (:func:`qgan.gan.training.train_group`), writes the outputs
(:class:`TrainOutputs`: a checkpoint and a figure folder per run, one metrics file per block) and
logs each run with the record ``qgan replay`` needs (``replay/run.json``: params, runtime, group,
input digests). A run's outputs are the same whichever block trains it.
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
from qgan.core.errors import QganError
from qgan.core.numerics import NUMERICS_KEYS
from qgan.core.plots import images_to_grid, save_epoch_grids, save_grid_png, save_losses
from qgan.core.runtime import make_deterministic, select_device
from qgan.entropy.archive import read_manifest
from qgan.gan.data import Split, load_split
from qgan.gan.models import state_dict_sha256
from qgan.gan.training import LOSS_COLUMNS, TrainedGan, loss_summary, pairing_seeds, train_group
from qgan.noise.blocks import ShiftedNormals, read_block
from qgan.noise.layout import GRID_SIZE, steps_per_epoch
from qgan.noise.streams import POOL_ARMS, NoiseContext, NormalStream, make_noise, noise_context
from qgan.params import Params

RECORD_FORMAT = 2  # version of replay/run.json (2: the training group)
RECORD_PATH = "replay/run.json"  # artifact path of the replay record on each training run
FIGURES = ("samples.png", "epochs.png", "losses.png", "losses.csv")  # files in TrainOutputs.figures
IMAGE_EVERY = 5  # epochs between sample grids logged to MLflow (and the first and last epoch)


@dataclass(frozen=True)
class TrainInputs:
    data: Path       # the data stage's folder (train split and meta.json with its digest)
    noise: Path      # the slice stage's folder for the block: its normals and block.json
    manifest: Path   # the pool's manifest.json: read only to find the pipeline's MLflow parent run


@dataclass(frozen=True)
class TrainOutputs:
    model: Path      # folder of the block's checkpoints <arm>-<seed>.pt (G and D state, noise, runtime, group)
    metrics: Path    # per run: last-epoch losses, normals drawn, generator sha256
    figures: Path    # folder of <arm>-<seed>/ folders: samples.png, epochs.png, losses.png, losses.csv


def block_folder(params: Params, arm: str, seed: int) -> str:
    """The train stage output folder (``<arm>-<block>``) that holds the run (arm, seed)."""
    return f"{arm}-{params.train.block_of(seed)}"


def checkpoint_path(models: Path, params: Params, arm: str, seed: int) -> Path:
    """Where the train stage wrote (arm, seed)'s checkpoint, under the ``models/gan`` folder."""
    return models / block_folder(params, arm, seed) / f"{arm}-{seed}.pt"


def figures_path(figures: Path, params: Params, arm: str, seed: int) -> Path:
    """(arm, seed)'s figure folder under the ``reports/train`` folder."""
    return figures / block_folder(params, arm, seed) / f"{arm}-{seed}"


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
    """The inputs of one block, read: the training split, digests and a noise session per run."""
    train: Split
    data_digest: str
    pool: dict                 # the pool prefix holding the block's bytes (manifest fields): what runs record
    manifest: dict             # the whole pool's manifest: the pipeline's parent run is keyed on it
    sessions: list[Session]


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
    return {**runtime, "device": str(device), "python": platform.python_version(), "numpy": np.__version__}


def read_inputs(params: Params, arm: str, block: str, seeds: tuple[int, ...], inputs: TrainInputs) -> Prepared:
    """Load the training split, the digests and each run's noise (before anything is written)."""
    train = load_split(inputs.data, "train")
    normals, record = read_block(inputs.noise)
    if record["seeds"] != list(seeds):
        raise QganError(f"{inputs.noise}: holds the noise of block {record['block']}, not {block}; "
                        "re-run the slice stage")
    sessions = [open_session(params, arm, seed, len(train.labels), record["train_span"], normals) for seed in seeds]
    return Prepared(train, read_json(inputs.data / "meta.json")["digest"], record["pool"],
                    read_manifest(inputs.manifest), sessions)


def start_tracking(run: Prepared, session: Session, parent: tracking.RunLogger, code: dict) -> tracking.RunLogger:
    """The run's child of the pipeline's parent run."""
    arm, seed = session.arm, session.seed
    return tracking.RunLogger.start(f"{arm}-{seed}", {
        tracking.TAG_PARENT: parent.run_id, tracking.TAG_ROLE: "training", tracking.TAG_ARM: arm,
        tracking.TAG_SEED: seed, tracking.TAG_DATA_DIGEST: run.data_digest,
        tracking.TAG_CODE_DIRTY: str(code["dirty"]).lower(), **tracking.entropy_tags(run.pool)})


def log_inputs(child: tracking.RunLogger, params: Params, run: Prepared, session: Session, inputs: TrainInputs,
               runtime: dict) -> None:
    """The run's params (with the runtime record) and its input datasets."""
    arm, seed, manifest = session.arm, session.seed, run.pool
    child.log_params({**params.flat(), "arm": arm, "seed": seed, **{f"runtime.{k}": v for k, v in runtime.items()}})
    child.log_dataset(f"mnist-{params.data.source}", run.data_digest, inputs.data.resolve().as_uri(),
                      {"n_train": len(run.train.labels), "digest": run.data_digest}, "training")
    if arm in POOL_ARMS:
        child.log_dataset("entropy-pool", manifest["sha256"], inputs.manifest.parent.resolve().as_uri(),
                          {"bytes": int(manifest["total_bytes"]), "sha256": manifest["sha256"],
                           "sources": manifest.get("sources", []), "quantum": bool(manifest.get("quantum"))},
                          "latent noise")


@dataclass
class Written:
    """One run's outputs on disk and its metrics."""
    model: Path
    figures: Path
    metrics: dict


def write_outputs(params: Params, run: Prepared, session: Session, trained: TrainedGan, grids: dict[int, np.ndarray],
                  record: dict, group: dict, outputs: TrainOutputs) -> Written:
    """The run's figures and checkpoint; returns its metrics. Each depends only on the run's
    result (no run ids, no wall times: those go to MLflow), so a re-run that trains the same
    generator rewrites the same bytes and nothing downstream re-runs."""
    name = f"{session.arm}-{session.seed}"
    sha = state_dict_sha256(trained.generator)
    device = next(trained.generator.parameters()).device
    with torch.no_grad():
        grid = trained.generator(session.grid_z.to(device)).cpu().numpy()
    figures = outputs.figures / name
    save_grid_png(grid, figures / "samples.png")
    save_losses(trained.losses, figures / "losses.csv", figures / "losses.png", f"losses {name}")
    save_epoch_grids(grids, figures / "epochs.png", f"{name}: samples from one fixed noise over training")
    noise = accounting(session)
    checkpoint = {"generator": {k: v.cpu() for k, v in trained.generator.state_dict().items()},
                  "discriminator": {k: v.cpu() for k, v in trained.discriminator.state_dict().items()},
                  "latent_dim": params.latent_dim, "params": params.flat(), "noise": noise,
                  "generator_sha256": sha, "entropy_sha256": run.pool["sha256"],
                  "runtime": record, "group": group, "pairing_seeds": pairing_seeds(session.seed)}
    model = outputs.model / f"{name}.pt"
    write_torch_atomic(model, checkpoint)
    steps = steps_per_epoch(len(run.train.labels), params.train.batch_size)
    metrics = {**loss_summary(trained.losses, steps), "steps": len(trained.losses),
               "normals_drawn": noise["train"]["drawn"] + noise["grid"]["drawn"],
               "reuse_factor": noise["reuse_factor"], "generator_sha256": sha,
               "numerics": {k: record[k] for k in NUMERICS_KEYS}}
    return Written(model, figures, metrics)


def log_results(child: tracking.RunLogger, params: Params, run: Prepared, session: Session, trained: TrainedGan,
                written: Written, grids: dict[int, np.ndarray], record: dict, group: dict, code: dict) -> None:
    """Losses per step, summary metrics, tags, the epoch grids, figures, checkpoint and the replay record."""
    noise, metrics = accounting(session), written.metrics
    child.log_metrics((key, value, step) for step, row in enumerate(trained.losses)
                      for key, value in zip(LOSS_COLUMNS, row))
    child.set_tags({tracking.TAG_GENERATOR_SHA256: metrics["generator_sha256"],
                    tracking.TAG_REUSE: noise["reuse_factor"], "noise_train": json.dumps(noise["train"]),
                    "group": f"{group['block']} ({group['size']} models, position {group['position']})"})
    summary = {k: metrics[k] for k in ("d_loss", "g_loss", "d_loss_real", "d_loss_fake")}
    child.log_metrics([*((f"last_epoch_{k}", v, 0) for k, v in summary.items()),
                       ("seconds", trained.seconds / group["size"], 0), ("group_seconds", trained.seconds, 0),
                       ("normals_drawn", metrics["normals_drawn"], 0), ("reuse_factor", noise["reuse_factor"], 0)])
    last = max(grids, default=0)
    for epoch, grid in grids.items():  # the UI's image slider; every epoch is in epochs.png
        if epoch == 1 or epoch % IMAGE_EVERY == 0 or epoch == last:
            child.log_image(grid, "samples", epoch)
    for name in FIGURES:
        child.log_artifact(written.figures / name, "figures")
    child.log_artifact(written.model, "checkpoint")
    manifest = run.pool
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(RECORD_PATH).name
        write_json_atomic(path, {
            "format": RECORD_FORMAT, "arm": session.arm, "seed": session.seed, "params": params.to_dict(),
            "runtime": record, "group": group,
            "entropy": {"sha256": manifest["sha256"], "bytes": int(manifest["total_bytes"]),
                        "sources": manifest.get("sources", []), "quantum": bool(manifest.get("quantum"))},
            "data_digest": run.data_digest, "noise": noise, "generator_sha256": metrics["generator_sha256"],
            "code": code})
        child.log_artifact(path, str(Path(RECORD_PATH).parent))


@dataclass
class BlockResult:
    metrics: dict[str, dict]   # per run name (<arm>-<seed>): what the block's metrics file holds
    loop_seconds: float        # wall time of the group's training loop


def run_training(params: Params, arm: str, block: str, inputs: TrainInputs, outputs: TrainOutputs,
                 progress: bool = True) -> BlockResult:
    """Train the block's runs of ``arm`` as one group, log each to MLflow, write checkpoints,
    figures and the block's metrics file."""
    seeds = params.train.block_seeds(block)
    runtime = make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    run = read_inputs(params, arm, block, seeds, inputs)
    record = runtime_record(runtime, device)
    code = {"revision": tracking.code_revision(tracking.project_root()), "dirty": tracking.code_dirty()}
    parent = tracking.RunLogger.open_pipeline(params.flat(), run.manifest, run.data_digest)
    children = []
    try:
        for session in run.sessions:
            children.append(start_tracking(run, session, parent, code))
            log_inputs(children[-1], params, run, session, inputs, record)
        grids: list[dict[int, np.ndarray]] = [{} for _ in run.sessions]

        def keep_epoch_grids(epoch: int, generate) -> None:  # the same z every epoch
            for k, images in enumerate(generate([s.grid_z for s in run.sessions])):
                grids[k][epoch] = images_to_grid(images.numpy())

        trained = train_runs(params, run.sessions, run.train, device, progress, keep_epoch_grids)
        metrics = {}
        for k, (session, child) in enumerate(zip(run.sessions, children)):
            group = group_record(block, run.sessions, k, device)
            written = write_outputs(params, run, session, trained[k], grids[k], record, group, outputs)
            log_results(child, params, run, session, trained[k], written, grids[k], record, group, code)
            metrics[f"{arm}-{session.seed}"] = written.metrics
        write_json_atomic(outputs.metrics, metrics)
    except BaseException:
        for child in children:
            child.finish(ok=False)
        raise
    for child in children:
        child.finish()
    return BlockResult(metrics, trained[0].seconds)
