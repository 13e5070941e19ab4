"""Shared fixtures: the project's default params and small, fast variants of them."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest
import yaml

from qgan.core.numerics import pin_cpu_numerics

pin_cpu_numerics()  # as every stage does, before any test imports torch

ROOT = Path(__file__).resolve().parents[1]

# A tiny pipeline: a few hundred images, one epoch, small pools (see the README's test notes).
TINY = {"latent_dim": 8,
        "data": {"source": "bundled", "n_train": 256, "n_test": 100},
        "classifier": {"source": "train", "epochs": 1, "holdout": 64},
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


@pytest.fixture
def workspace(tmp_path, tiny_params, monkeypatch):
    """A tiny workspace without DVC: data, an os.urandom pool of exactly the bytes the runs draw,
    its normals and noise reports, and an MLflow store under ``tmp_path`` (``DVC_ROOT``)."""
    import json

    import numpy as np

    from qgan.entropy.harvest import harvest_to_pool
    from qgan.entropy.sources import make_source
    from qgan.gan.data import source_to_data_dir
    from qgan.noise.convert import pool_to_normals_file
    from qgan.noise.layout import budget_report
    from qgan.params import HarvestConfig
    from qgan.randomness.suite import pool_to_byte_histogram, randomness_report

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    source_to_data_dir(tiny_params.data, tmp_path / "data")  # 256 train, 100 test images
    need = budget_report(tiny_params.noise_plan, 256, 0)["bytes_needed"]
    harvest_to_pool(tmp_path / "pool.bin", tmp_path / "manifest.json", make_source(HarvestConfig()), need, 1 << 20,
                    progress=False)
    pool_to_normals_file(tmp_path / "pool.bin", tmp_path / "normals.npy", 24, "box_muller")
    noise, entropy = randomness_report(tmp_path / "pool.bin", pool_to_byte_histogram(tmp_path / "pool.bin"),
                                       np.load(tmp_path / "normals.npy"), 1000, 10_000, 0.01)
    (tmp_path / "noise.json").write_text(json.dumps({"bits": 24, "method": "box_muller", **noise}))
    (tmp_path / "entropy_tests.json").write_text(json.dumps(entropy))
    return tmp_path


def short_pool_workspace(ws: Path, params, fraction: float) -> Path:
    """``ws/short``: a :func:`workspace` whose pool holds ``fraction`` of the bytes the runs draw."""
    from qgan.entropy.harvest import harvest_to_pool
    from qgan.entropy.sources import make_source
    from qgan.noise.convert import pool_to_normals_file
    from qgan.noise.layout import budget_report
    from qgan.params import HarvestConfig

    short = ws / "short"
    need = budget_report(params.noise_plan, 256, 0)["bytes_needed"]
    harvest_to_pool(short / "pool.bin", short / "manifest.json", make_source(HarvestConfig()), int(need * fraction),
                    1 << 20, progress=False)
    pool_to_normals_file(short / "pool.bin", short / "normals.npy", 24, "box_muller")
    for name in ("data", "noise.json", "entropy_tests.json"):
        (short / name).symlink_to(ws / name)
    return short


def train_in(ws: Path, params, arm: str, seed: int) -> dict:
    """``run_train`` of (arm, seed), a block of one seed, in a :func:`workspace`; its metrics."""
    return train_block_in(ws, params, arm, str(seed))[f"{arm}-{seed}"]


def train_block_in(ws: Path, params, arm: str, block: str) -> dict[str, dict]:
    """``run_train`` of one block of ``train.seeds`` in a :func:`workspace`, with the stage's
    file layout (``models/<arm>-<block>/<arm>-<seed>.pt``); metrics per run name."""
    from qgan.pipeline.train import TrainInputs, TrainOutputs, run_train
    slice_in(ws, params, block)
    return run_train(params, arm, block, TrainInputs(ws / "data", ws / "blocks" / block, ws / "manifest.json"),
                        TrainOutputs(ws / "models" / f"{arm}-{block}", ws / "metrics" / f"{arm}-{block}.json",
                                     ws / "reports" / "train" / f"{arm}-{block}"), progress=False).metrics


def slice_in(ws: Path, params, block: str) -> dict:
    """The slice stage for ``block`` in a :func:`workspace`: ``blocks/<block>/``; its record."""
    import json

    from qgan.entropy.archive import hash_prefix
    from qgan.noise.blocks import cut_block, write_block
    from qgan.noise.convert import load_normals
    values, record = cut_block(params.noise_plan, block, params.train.seeds_of(block), 256,
                               json.loads((ws / "manifest.json").read_text()),
                               lambda n: hash_prefix(ws / "pool.bin", n).hexdigest(), load_normals(ws / "normals.npy"))
    write_block(ws / "blocks" / block, values, record)
    return record


def checkpoint_in(ws: Path, name: str, block: str | None = None) -> dict:
    """The checkpoint of run ``<arm>-<seed>`` trained by :func:`train_in` (or in ``block``)."""
    import torch
    arm, seed = name.rsplit("-", 1)
    return torch.load(ws / "models" / f"{arm}-{block or seed}" / f"{name}.pt", weights_only=True)


def evaluate_in(ws, params) -> dict:
    """Train a classifier in a :func:`workspace`, then ``run_evaluate`` with the stage's file layout."""
    import json

    import torch

    from qgan.gan.data import load_split
    from qgan.gan.models import state_dict_sha256
    from qgan.pipeline.evaluate import EvaluateInputs, EvaluateOutputs, run_evaluate
    from qgan.scoring.classifier import accuracy, train_classifier
    model = train_classifier(load_split(ws / "data", "train"), params.classifier, torch.device("cpu"),
                             progress=False)
    torch.save({"state_dict": model.state_dict()}, ws / "classifier.pt")
    (ws / "classifier.json").write_text(json.dumps({"test_accuracy": accuracy(model, load_split(ws / "data", "test")),
                                                    "extractor_sha256": state_dict_sha256(model)}))
    return run_evaluate(
        params, EvaluateInputs(ws / "data", ws / "models", ws / "classifier.pt", ws / "normals.npy",
                               ws / "manifest.json"),
        ws / "classifier.json", EvaluateOutputs(ws / "evaluate.json", ws / "reports" / "figures"))


def report_in(ws, params) -> str:
    """The report stage in a :func:`workspace` after :func:`evaluate_in`: ``reports/report.md``'s text."""
    from qgan.pipeline.report import ReportInputs, ReportOutputs, run_report
    return run_report(params, ReportInputs(ws / "evaluate.json", ws / "noise.json", ws / "entropy_tests.json",
                                           ws / "classifier.json", ws / "manifest.json", ws / "missing.png",
                                           ws / "reports" / "figures", ws / "reports" / "train"),
                      ReportOutputs(ws / "reports" / "report.md", ws / "reports" / "verdicts.png"))


def run_of(ws: Path, name: str, root: Path | None = None, block: str | None = None):
    """The MLflow training run that wrote run ``name``'s checkpoint in a :func:`workspace` (store
    under ``root``, default ``ws``; ``block`` as in :func:`checkpoint_in`), found by arm, seed
    and generator sha256."""
    from qgan.core import tracking
    ckpt = checkpoint_in(ws, name, block)
    arm, seed = name.rsplit("-", 1)
    found = tracking.RunLogger.find_training(arm, int(seed), ckpt["generator_sha256"], root or ws)
    return found.client.get_run(found.run_id)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc, seconds: float = 90.0) -> None:
    """Poll ``url`` until it answers 200 (bounded); fail with the server's output if it dies."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def stop_process_group(proc) -> None:
    import os
    import signal
    import subprocess
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


# Subprocesses (dvc, qgan, git) see this interpreter's tools first, no telemetry, a git identity, and
# none of the caller's MLflow or DVC experiment settings.
SUBPROCESS_ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1",
                  "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                  "GIT_AUTHOR_NAME": "qgan-test", "GIT_AUTHOR_EMAIL": "test@qgan.invalid",
                  "GIT_COMMITTER_NAME": "qgan-test", "GIT_COMMITTER_EMAIL": "test@qgan.invalid"}
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV",
             "DASK_SCHEDULER_ADDRESS"):
    SUBPROCESS_ENV.pop(_var, None)


def sh(repo: Path, *cmd: str, check: bool = True, timeout: int = 600, env: dict | None = None):
    """Run ``cmd`` in ``repo`` with :data:`SUBPROCESS_ENV`; fail with its output's tail if it fails."""
    import subprocess
    out = subprocess.run(cmd, cwd=repo, env=env or SUBPROCESS_ENV, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def tiny_repo(repo: Path, seeds: list) -> Path:
    """A git repo (one commit) holding this checkout's files, not its results, with the :data:`TINY`
    params and ``train.seeds = seeds``."""
    import shutil
    import subprocess
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    skip = ("dvc.lock", "metrics/", "reports/", "docs/", "studies/")  # results (runs, studies), not the code
    for name in files:
        if (ROOT / name).is_file() and not name.startswith(skip):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    params = merged(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY)
    params["train"]["seeds"] = seeds
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "config", "user.name", "qgan-test")  # dvc exp commits need an identity
    sh(repo, "git", "config", "user.email", "test@qgan.invalid")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny")
    return repo
