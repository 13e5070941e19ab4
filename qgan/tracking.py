"""MLflow tracking that survives DVC's temp and queued experiment runs.

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlflow.db`` with artifacts
in ``<root>/mlruns``, where ``<root>`` is ``$DVC_ROOT`` (DVC points it at the real repo
even inside ``dvc exp run --temp`` and queued runs) or the project root found from the
working directory. The experiment is created with an absolute artifact location, so a
run that first creates it inside a temp dir does not leave a dead path behind.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable

EXPERIMENT = "qgan"            # default MLflow experiment (MLFLOW_EXPERIMENT_NAME overrides)
BATCH = 1000                   # MLflow's limit of metrics per log_batch call

# Tag keys on every training run (constants: the README and queries use them).
TAG_ARM, TAG_SEED = "arm", "seed"
TAG_ENTROPY_SHA256, TAG_ENTROPY_SOURCE, TAG_QUANTUM = "entropy_sha256", "entropy_source", "quantum"
TAG_EMULATED = "entropy_emulated"  # bytes served by `qgan emulate`, never quantum
TAG_DVC_EXP_NAME, TAG_DVC_BASELINE_REV = "dvc_exp_name", "dvc_baseline_rev"
TAG_GENERATOR_SHA256 = "generator_sha256"


def project_root(start: Path | None = None) -> Path:
    """``$DVC_ROOT`` if set, else the nearest folder at or above ``start`` holding ``.dvc``."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return here


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


def _client(root: Path):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=tracking_uri(root))


def ensure_experiment(client, root: Path, name: str | None = None) -> str:
    """Id of the experiment, created with an absolute artifact location if new."""
    from mlflow.exceptions import MlflowException

    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    for _ in range(5):  # two queued runs may race to create it
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None if os.environ.get("MLFLOW_TRACKING_URI") else (root / "mlruns").as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            time.sleep(0.5)
    raise RuntimeError(f"could not create or find MLflow experiment {name!r}")


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def dvc_tags() -> dict[str, str]:
    """DVC's experiment name and baseline revision (set by ``dvc exp run``), when present."""
    tags = {TAG_DVC_EXP_NAME: os.environ.get("DVC_EXP_NAME"),
            TAG_DVC_BASELINE_REV: os.environ.get("DVC_EXP_BASELINE_REV")}
    return {k: v for k, v in tags.items() if v}


class RunLogger:
    """One MLflow run, written through ``MlflowClient`` (no global active-run state)."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id

    @classmethod
    def start(cls, run_name: str, tags: dict[str, Any], root: Path | None = None) -> "RunLogger":
        root = root or project_root()
        client = _client(root)
        tags = {**tags, **dvc_tags(), "mlflow.runName": run_name}
        commit = os.environ.get("DVC_EXP_BASELINE_REV") or git_commit(root)
        if commit:
            tags["mlflow.source.git.commit"] = commit
        run = client.create_run(ensure_experiment(client, root), run_name=run_name,
                                tags={k: str(v) for k, v in tags.items()})
        return cls(client, run.info.run_id)

    @classmethod
    def resume(cls, run_id: str, root: Path | None = None) -> "RunLogger":
        """Attach to an existing run (to add evaluation metrics to a finished training run)."""
        client = _client(root or project_root())
        client.get_run(run_id)  # raises MlflowException if the store does not know it
        return cls(client, run_id)

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        items = [Param(k, str(v)) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, rows: Iterable[tuple[str, float, int]]) -> None:
        """Log ``(key, value, step)`` rows in batches of :data:`BATCH`."""
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, int(s)) for k, v, s in rows]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, metrics=items[i:i + BATCH])

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def finish(self, ok: bool = True) -> None:
        self.client.set_terminated(self.run_id, "FINISHED" if ok else "FAILED")
