"""One training run end to end, with every path passed in.

Glues the library together for the ``train`` stage: noise accounting, the MLflow run,
checkpoint, metrics file and figures.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from qgan.atomic import atomic_path, write_json_atomic
from qgan.budget import GRID_SIZE, steps_per_epoch
from qgan.convert import load_normals
from qgan.data import load_split
from qgan.errors import QganError
from qgan.archive import read_manifest
from qgan.models import state_dict_sha256
from qgan.noise import make_noise, noise_context
from qgan.params import POOL_ARMS, Params
from qgan.plots import save_grid_png, save_losses
from qgan.runtime import make_deterministic, select_device
from qgan.train import LOSS_COLUMNS, generate_images, loss_summary, train_gan
from qgan import tracking


def entropy_tags(manifest: dict) -> dict:
    return {tracking.TAG_ENTROPY_SHA256: manifest["sha256"],
            tracking.TAG_ENTROPY_SOURCE: ",".join(manifest.get("sources", [])) or "none",
            tracking.TAG_QUANTUM: str(bool(manifest.get("quantum"))).lower(),
            tracking.TAG_EMULATED: str(bool(manifest.get("emulated"))).lower()}


def run_training(params: Params, arm: str, seed: int, data_dir: Path, normals_path: Path,
                 manifest_path: Path, out_model: Path, out_metrics: Path, out_dir: Path,
                 progress: bool = True) -> dict:
    """Train (arm, seed), log it to MLflow, write checkpoint, metrics and figures."""
    if seed not in params.train.seeds:
        raise QganError(f"run {arm}-{seed}: seed {seed} is not in train.seeds {list(params.train.seeds)}")
    runtime = make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    train = load_split(data_dir, "train")
    manifest = read_manifest(manifest_path)
    ctx = noise_context(params, len(train.labels), seed, load_normals(normals_path) if arm in POOL_ARMS else None)
    noise, train_record = make_noise(arm, "train", ctx)
    grid_noise, grid_record = make_noise(arm, "grid", ctx)

    name = f"{arm}-{seed}"
    run = tracking.RunLogger.start(name, {tracking.TAG_ARM: arm, tracking.TAG_SEED: seed, **entropy_tags(manifest)})
    try:
        run.log_params({**params.flat(), "arm": arm, "seed": seed, "device": str(device)})
        trained = train_gan(train, params.train, params.latent_dim, seed, noise, device,
                            desc=f"train {name}", progress=progress)
        steps = steps_per_epoch(len(train.labels), params.train.batch_size)
        run.log_metrics((key, value, step) for step, row in enumerate(trained.losses)
                        for key, value in zip(LOSS_COLUMNS, row))
        summary = loss_summary(trained.losses, steps)
        run.log_metrics((f"last_epoch_{k}", v, 0) for k, v in summary.items())
        sha = state_dict_sha256(trained.generator)
        grid = generate_images(trained.generator, grid_noise, GRID_SIZE).numpy()
        save_grid_png(grid, out_dir / "samples.png")
        save_losses(trained.losses, out_dir / "losses.csv", out_dir / "losses.png", f"losses {name}")

        accounting = {"arm": arm, "seed": seed, "slot": ctx.slot, "train": train_record, "grid": grid_record,
                      "train_normals_drawn": noise.drawn, "grid_normals_drawn": grid_noise.drawn}
        checkpoint = {"generator": {k: v.cpu() for k, v in trained.generator.state_dict().items()},
                      "discriminator": {k: v.cpu() for k, v in trained.discriminator.state_dict().items()},
                      "latent_dim": params.latent_dim, "params": params.flat(), "noise": accounting,
                      "generator_sha256": sha, "entropy_sha256": manifest["sha256"],
                      "runtime": runtime, "mlflow_run_id": run.run_id}
        with atomic_path(out_model) as tmp:
            torch.save(checkpoint, tmp)
        metrics = {**summary, "steps": len(trained.losses),
                   "normals_drawn": noise.drawn + grid_noise.drawn, "seconds": round(trained.seconds, 2),
                   "generator_sha256": sha}
        write_json_atomic(out_metrics, metrics)
        run.set_tags({tracking.TAG_GENERATOR_SHA256: sha, "noise_train": json.dumps(train_record)})
        run.log_metrics([("seconds", trained.seconds, 0), ("normals_drawn", metrics["normals_drawn"], 0)])
        for path in (out_dir / "samples.png", out_dir / "losses.png"):
            run.log_artifact(path, "figures")
        run.log_artifact(out_model, "checkpoint")
    except BaseException:
        run.finish(ok=False)
        raise
    run.finish()
    return metrics
