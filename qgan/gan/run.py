"""One training run end to end, with every path passed in.

Glues the library together for the ``train`` stage: noise accounting, the MLflow runs (the
pipeline's parent and this run's child), checkpoint, metrics file, figures, and the record
``qgan replay`` needs (``replay/run.json`` on the run: params, runtime, input digests).
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
from qgan.entropy.archive import read_manifest
from qgan.core.atomic import atomic_path, read_json, write_json_atomic
from qgan.noise.layout import GRID_SIZE, steps_per_epoch
from qgan.noise.convert import load_normals
from qgan.gan.data import Split, load_split
from qgan.gan.models import Generator, state_dict_sha256
from qgan.noise.streams import NoiseContext, NormalStream, make_noise, noise_context
from qgan.noise.streams import POOL_ARMS
from qgan.params import Params
from qgan.core.plots import images_to_grid, save_epoch_grids, save_grid_png, save_losses
from qgan.core.runtime import make_deterministic, select_device
from qgan.gan.training import LOSS_COLUMNS, TrainedGan, loss_summary, pairing_seeds, train_gan

RECORD_FORMAT = 1  # version of replay/run.json
RECORD_PATH = "replay/run.json"  # artifact path of the replay record on each training run


@dataclass
class Session:
    """A run's inputs resolved: what :func:`train_run` needs and what the records say."""
    arm: str
    seed: int
    ctx: NoiseContext
    noise: NormalStream        # training region
    grid: NormalStream         # grid region, already drawn into grid_z
    grid_z: torch.Tensor       # (GRID_SIZE, latent_dim): the run's fixed grid noise, drawn once
    eval_plan: dict            # where evaluate will read (the eval region's record before drawing)


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


def run_training(params: Params, arm: str, seed: int, data_dir: Path, normals_path: Path,
                 manifest_path: Path, out_model: Path, out_metrics: Path, out_dir: Path,
                 progress: bool = True) -> dict:
    """Train (arm, seed), log it to MLflow, write checkpoint, metrics and figures."""
    runtime = make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    train = load_split(data_dir, "train")
    data_digest = read_json(data_dir / "meta.json")["digest"]
    manifest = read_manifest(manifest_path)
    session = open_session(params, arm, seed, len(train.labels), int(manifest["total_bytes"]),
                           load_normals(normals_path) if arm in POOL_ARMS else None)

    name = f"{arm}-{seed}"
    parent = tracking.RunLogger.open_pipeline(params.flat(), tracking.pipeline_inputs(manifest, data_digest),
                                              tracking.pipeline_tags(params.train, manifest))
    code = {"revision": tracking.code_revision(tracking.project_root()), "dirty": tracking.code_dirty()}
    run = tracking.RunLogger.start(name, {
        tracking.TAG_PARENT: parent.run_id, tracking.TAG_ROLE: "training", tracking.TAG_ARM: arm,
        tracking.TAG_SEED: seed, tracking.TAG_DATA_DIGEST: data_digest,
        tracking.TAG_CODE_DIRTY: str(code["dirty"]).lower(), **tracking.entropy_tags(manifest)})
    try:
        record = runtime_record(runtime, device)
        run.log_params({**params.flat(), "arm": arm, "seed": seed, **{f"runtime.{k}": v for k, v in record.items()}})
        run.log_dataset(f"mnist-{params.data.source}", data_digest, data_dir.resolve().as_uri(),
                        {"n_train": len(train.labels), "digest": data_digest}, "training")
        if arm in POOL_ARMS:
            run.log_dataset("entropy-pool", manifest["sha256"], manifest_path.parent.resolve().as_uri(),
                            {"bytes": int(manifest["total_bytes"]), "sha256": manifest["sha256"],
                             "sources": manifest.get("sources", []), "quantum": bool(manifest.get("quantum"))},
                            "latent noise")

        grids = {}

        def log_epoch_grid(epoch: int, generator: Generator) -> None:  # same z every epoch
            grids[epoch] = images_to_grid(generator(session.grid_z.to(device)).cpu().numpy())
            run.log_image(grids[epoch], "samples", epoch)

        trained = train_run(params, session, train, device, progress, log_epoch_grid)
        steps = steps_per_epoch(len(train.labels), params.train.batch_size)
        run.log_metrics((key, value, step) for step, row in enumerate(trained.losses)
                        for key, value in zip(LOSS_COLUMNS, row))
        summary = loss_summary(trained.losses, steps)
        sha = state_dict_sha256(trained.generator)
        with torch.no_grad():
            grid = trained.generator(session.grid_z.to(device)).cpu().numpy()
        save_grid_png(grid, out_dir / "samples.png")
        save_losses(trained.losses, out_dir / "losses.csv", out_dir / "losses.png", f"losses {name}")
        save_epoch_grids(grids, out_dir / "epochs.png", f"{name}: samples from one fixed noise over training")

        noise = accounting(session)
        checkpoint = {"generator": {k: v.cpu() for k, v in trained.generator.state_dict().items()},
                      "discriminator": {k: v.cpu() for k, v in trained.discriminator.state_dict().items()},
                      "latent_dim": params.latent_dim, "params": params.flat(), "noise": noise,
                      "generator_sha256": sha, "entropy_sha256": manifest["sha256"],
                      "runtime": record, "pairing_seeds": pairing_seeds(seed),
                      "mlflow_run_id": run.run_id, "mlflow_parent_run_id": parent.run_id}
        with atomic_path(out_model) as tmp:
            torch.save(checkpoint, tmp)
        metrics = {**summary, "steps": len(trained.losses),
                   "normals_drawn": noise["train"]["drawn"] + noise["grid"]["drawn"],
                   "reuse_factor": noise["reuse_factor"], "seconds": round(trained.seconds, 2),
                   "generator_sha256": sha}
        write_json_atomic(out_metrics, metrics)
        run.set_tags({tracking.TAG_GENERATOR_SHA256: sha, tracking.TAG_REUSE: noise["reuse_factor"],
                      "noise_train": json.dumps(noise["train"])})
        run.log_metrics([*((f"last_epoch_{k}", v, 0) for k, v in summary.items()),
                         ("seconds", trained.seconds, 0), ("normals_drawn", metrics["normals_drawn"], 0),
                         ("reuse_factor", noise["reuse_factor"], 0)])
        for path in (out_dir / "samples.png", out_dir / "epochs.png", out_dir / "losses.png", out_dir / "losses.csv"):
            run.log_artifact(path, "figures")
        run.log_artifact(out_model, "checkpoint")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(RECORD_PATH).name
            write_json_atomic(path, {
                "format": RECORD_FORMAT, "arm": arm, "seed": seed, "params": params.to_dict(), "runtime": record,
                "entropy": {"sha256": manifest["sha256"], "bytes": int(manifest["total_bytes"]),
                            "sources": manifest.get("sources", []), "quantum": bool(manifest.get("quantum"))},
                "data_digest": data_digest, "noise": noise, "generator_sha256": sha, "code": code})
            run.log_artifact(path, str(Path(RECORD_PATH).parent))
    except BaseException:
        run.finish(ok=False)
        raise
    run.finish()
    return metrics
