"""The ``train`` stage for one arm and one block of seeds: inputs, outputs, and the orchestrator.

:func:`run_train` reads the stage's inputs (:class:`TrainInputs`), opens each run's noise
(:func:`qgan.gan.session.open_session`) and MLflow runs (the pipeline's parent and one child per
(arm, seed)), trains the block as one group
(:func:`qgan.gan.session.train_runs`), writes the outputs (:class:`TrainOutputs`: a checkpoint and
a figure folder per run, one metrics file per block) and logs each run with the record
``qgan replay`` needs. A run's outputs are the same whichever block trains it.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qgan.core import tracking
from qgan.core.atomic import read_json, write_json_atomic
from qgan.core.errors import QganError
from qgan.core.git import code_dirty, code_revision
from qgan.core.numerics import NUMERICS_KEYS
from qgan.core.plots import images_to_grid, save_epoch_grids, save_grid_png, save_losses
from qgan.core.runtime import make_deterministic, select_device
from qgan.core.torch_io import write_torch_atomic
from qgan.entropy.archive import read_manifest
from qgan.gan.data import Split, load_split
from qgan.gan.models import state_dict_sha256
from qgan.gan.session import Session, accounting, group_record, open_session, runtime_record, train_runs
from qgan.gan.training import LOSS_COLUMNS, TrainedGan, loss_summary, pairing_seeds
from qgan.noise.arms import POOL_ARMS
from qgan.noise.blocks import read_block
from qgan.noise.layout import steps_per_epoch
from qgan.params import Params
from qgan.pipeline.paths import FIGURES
from qgan.replay.record import RECORD_PATH, training_record

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


@dataclass
class Prepared:
    """The inputs of one block, read: the training split, digests and a noise session per run."""
    train: Split
    data_digest: str
    pool: dict                 # the pool prefix holding the block's bytes (manifest fields): what runs record
    manifest: dict             # the whole pool's manifest: the pipeline's parent run is keyed on it
    sessions: list[Session]


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


def start_child(run: Prepared, session: Session, parent: tracking.RunLogger, code: dict) -> tracking.RunLogger:
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
    """Summary metrics, tags, the epoch grids, figures, checkpoint and the replay record (the
    per-step losses: :func:`log_losses`)."""
    noise, metrics = accounting(session), written.metrics
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
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(RECORD_PATH).name
        write_json_atomic(path, training_record(session.arm, session.seed, params.to_dict(), record, group, run.pool,
                                                run.data_digest, noise, metrics["generator_sha256"], code))
        child.log_artifact(path, str(Path(RECORD_PATH).parent))


def log_losses(child: tracking.RunLogger, losses: np.ndarray, first_step: int) -> list:
    """Per-step losses ``(steps, 3)`` from ``first_step`` on, sent in batches from a background thread
    (MLflow's asynchronous logging); returns the operations to wait on before the run is finished."""
    return child.log_metrics(((key, float(value), first_step + i) for i, row in enumerate(losses)
                              for key, value in zip(LOSS_COLUMNS, row)), wait=False)


@dataclass
class BlockResult:
    metrics: dict[str, dict]   # per run name (<arm>-<seed>): what the block's metrics file holds
    loop_seconds: float        # wall time of the group's training loop


def run_train(params: Params, arm: str, block: str, inputs: TrainInputs, outputs: TrainOutputs,
              progress: bool = True) -> BlockResult:
    """Train the block's runs of ``arm`` as one group, log each to MLflow, write checkpoints,
    figures and the block's metrics file."""
    seeds = params.train.seeds_of(block)
    runtime = make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    run = read_inputs(params, arm, block, seeds, inputs)
    record = runtime_record(runtime, device)
    code = {"revision": code_revision(tracking.project_root()), "dirty": code_dirty()}
    parent = tracking.RunLogger.open_pipeline(params.flat(), run.manifest, run.data_digest)
    children = []
    try:
        for session in run.sessions:
            children.append(start_child(run, session, parent, code))
            log_inputs(children[-1], params, run, session, inputs, record)
        grids: list[dict[int, np.ndarray]] = [{} for _ in run.sessions]
        sending: list = []   # each epoch's losses travel to MLflow while the next epoch trains

        def at_epoch_end(epoch: int, generate, losses) -> None:
            for k, images in enumerate(generate([s.grid_z for s in run.sessions])):  # the same z every epoch
                grids[k][epoch] = images_to_grid(images.numpy())
            first = epoch_steps * (epoch - 1)
            rows = losses[first:].cpu().numpy()                                      # (epoch's steps, M, 3)
            for k, child in enumerate(children):
                sending.extend(log_losses(child, rows[:, k], first))

        epoch_steps = steps_per_epoch(len(run.train.labels), params.train.batch_size)
        trained = train_runs(params, run.sessions, run.train, device, progress, at_epoch_end)
        metrics = {}
        for k, (session, child) in enumerate(zip(run.sessions, children)):
            group = group_record(block, run.sessions, k, device)
            written = write_outputs(params, run, session, trained[k], grids[k], record, group, outputs)
            log_results(child, params, run, session, trained[k], written, grids[k], record, group, code)
            metrics[f"{arm}-{session.seed}"] = written.metrics
        write_json_atomic(outputs.metrics, metrics)
        for op in sending:
            op.wait()
    except BaseException:
        for child in children:
            child.finish(ok=False)
        raise
    for child in children:
        child.finish()
    return BlockResult(metrics, trained[0].seconds)
