"""MLflow tracking that survives DVC's temp and queued experiment runs.

Runs: one *pipeline* run per DVC pipeline run (named after the DVC experiment, or
``workspace@<rev>`` for a plain ``dvc repro``), holding the shared params and, once
``evaluate`` has run, the comparison; one child run per (arm, seed) under it (MLflow's
``mlflow.parentRunId``). Stages run as separate processes, so the train stages find their
parent by a key (experiment name, code revision, every param, the pool's and the data's
digests) among *running* pipeline runs; ``evaluate`` finishes it, so a later ``dvc repro`` of
the same config opens a new one.

The code revision in the tags comes from :mod:`qgan.core.git`.

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlflow.db`` with artifacts
in ``<root>/mlruns``, where ``<root>`` is ``$DVC_ROOT`` (DVC points it at the real repo
even inside ``dvc exp run --temp`` and queued runs) or the project root found from the
working directory. The experiment is created with an absolute artifact location, so a
run that first creates it inside a temp dir does not leave a dead path behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from qgan.core.git import code_revision

EXPERIMENT = "qgan"            # default MLflow experiment (MLFLOW_EXPERIMENT_NAME overrides)
BATCH = 1000                   # MLflow's limit of metrics per log_batch call

# Tag keys on every training run (constants: the README and queries use them).
TAG_ARM, TAG_SEED = "arm", "seed"
TAG_ENTROPY_SHA256, TAG_ENTROPY_SOURCE, TAG_QUANTUM = "entropy_sha256", "entropy_source", "quantum"
TAG_EMULATED = "entropy_emulated"  # bytes served by `qgan emulate`, never quantum
TAG_DVC_EXP_NAME, TAG_DVC_BASELINE_REV = "dvc_exp_name", "dvc_baseline_rev"
TAG_GENERATOR_SHA256 = "generator_sha256"
TAG_ENTROPY_BYTES = "entropy_bytes"         # pool size the run saw: replay checks the sha256 of this prefix
TAG_DATA_DIGEST = "data_digest"             # data/mnist/meta.json's digest
TAG_REUSE = "noise_reuse_factor"            # times each training normal was read (1.0: never reused)
TAG_EXTRACTOR = "extractor_sha256"          # weight digest of the classifier the eval_* metrics used
TAG_CODE_DIRTY = "code_dirty"               # qgan/, stages/ or dvc.yaml differed from the recorded commit
TAG_ROLE, TAG_PIPELINE_KEY = "qgan_role", "pipeline_key"  # "pipeline" (parent) or "training" (child)
TAG_PARENT = "mlflow.parentRunId"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
DATA_CONTEXT = "mlflow.data.context"        # MLflow's dataset-input tag: what the dataset was used for


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


def client(root: Path):
    """An ``MlflowClient`` on the project's store (:func:`tracking_uri`)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=tracking_uri(root))


def experiment_id(root: Path) -> str:
    """Id of the project's experiment in its store (created if new)."""
    return ensure_experiment(client(root), root)


def ensure_experiment(mlflow_client, root: Path, name: str | None = None) -> str:
    """Id of the experiment, created with an absolute artifact location if new."""
    from mlflow.exceptions import MlflowException

    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    for _ in range(5):  # two queued runs may race to create it
        found = mlflow_client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None if os.environ.get("MLFLOW_TRACKING_URI") else (root / "mlruns").as_uri()
        try:
            return mlflow_client.create_experiment(name, artifact_location=location)
        except MlflowException:
            time.sleep(0.5)
    raise RuntimeError(f"could not create or find MLflow experiment {name!r}")


def entropy_tags(manifest: dict) -> dict[str, Any]:
    """Tags naming the entropy pool a run saw (from the archive's manifest)."""
    return {TAG_ENTROPY_SHA256: manifest["sha256"], TAG_ENTROPY_BYTES: int(manifest["total_bytes"]),
            TAG_ENTROPY_SOURCE: ",".join(manifest.get("sources", [])) or "none",
            TAG_QUANTUM: str(bool(manifest.get("quantum"))).lower(),
            TAG_EMULATED: str(bool(manifest.get("emulated"))).lower()}


def pipeline_key(params_flat: dict[str, Any], inputs: dict[str, str], root: Path) -> str:
    """What ties the stages of one pipeline run together: experiment name, revision, params and
    input digests (the pool's sha256, the data digest)."""
    ident = {"name": os.environ.get("DVC_EXP_NAME") or "workspace", "rev": code_revision(root),
             "params": params_flat, "inputs": inputs}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pipeline_name(root: Path) -> str:
    return os.environ.get("DVC_EXP_NAME") or f"workspace@{(code_revision(root) or 'no-git')[:7]}"


def dvc_tags() -> dict[str, str]:
    """DVC's experiment name and baseline revision (set by ``dvc exp run``), when present."""
    tags = {TAG_DVC_EXP_NAME: os.environ.get("DVC_EXP_NAME"),
            TAG_DVC_BASELINE_REV: os.environ.get("DVC_EXP_BASELINE_REV")}
    return {k: v for k, v in tags.items() if v}


class RunLogger:
    """One MLflow run, written through ``MlflowClient`` (no global active-run state)."""

    def __init__(self, mlflow_client, run_id: str):
        self.client, self.run_id = mlflow_client, run_id

    @classmethod
    def start(cls, run_name: str, tags: dict[str, Any], root: Path | None = None) -> "RunLogger":
        root = root or project_root()
        store = client(root)
        tags = {**tags, **dvc_tags(), "mlflow.runName": run_name}
        commit = code_revision(root)
        if commit:
            tags[TAG_GIT_COMMIT] = commit
        run = store.create_run(ensure_experiment(store, root), run_name=run_name,
                               tags={k: str(v) for k, v in tags.items()})
        return cls(store, run.info.run_id)

    @classmethod
    def open_pipeline(cls, params_flat: dict[str, Any], manifest: dict, data_digest: str,
                      root: Path | None = None) -> "RunLogger":
        """This pipeline run's parent, the one call every stage makes to find it: the running run
        with this key (:func:`pipeline_key` of the params, the pool's sha256 and the data digest),
        else a new one with the params and tags naming the arms, seeds and pool. Stages of one
        pipeline run one after another, so the search and the creation do not race (queued
        experiments have keys of their own)."""
        root = root or project_root()
        store = client(root)
        inputs = {"entropy_sha256": manifest["sha256"], "data_digest": data_digest}
        tags = {**entropy_tags(manifest), "arms": ",".join(params_flat["train.arms"]),
                "seeds": ",".join(map(str, params_flat["train.seeds"]))}
        key = pipeline_key(params_flat, inputs, root)
        found = store.search_runs([ensure_experiment(store, root)],
                                  f"tags.{TAG_PIPELINE_KEY} = '{key}' and attributes.status = 'RUNNING'",
                                  max_results=1, order_by=["attributes.start_time DESC"])
        if found:
            return cls(store, found[0].info.run_id)
        run = cls.start(pipeline_name(root), {**tags, TAG_ROLE: "pipeline", TAG_PIPELINE_KEY: key}, root)
        run.log_params(params_flat)
        return run

    @classmethod
    def find_training(cls, arm: str, seed: int, generator_sha256: str, root: Path | None = None
                      ) -> "RunLogger | None":
        """The latest training run of (arm, seed) that produced this generator (checkpoints carry
        no run ids, so that their bytes depend only on the weights), or None."""
        root = root or project_root()
        store = client(root)
        found = store.search_runs(
            [ensure_experiment(store, root)],
            f"tags.{TAG_ROLE} = 'training' and tags.{TAG_ARM} = '{arm}' and tags.{TAG_SEED} = '{seed}' and "
            f"tags.{TAG_GENERATOR_SHA256} = '{generator_sha256}'", max_results=1,
            order_by=["attributes.start_time DESC"])
        return cls(store, found[0].info.run_id) if found else None

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param
        items = [Param(k, str(v)) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, rows: Iterable[tuple[str, float, int]], wait: bool = True) -> list:
        """Log ``(key, value, step)`` rows in batches of :data:`BATCH`. With ``wait=False`` MLflow's
        asynchronous logging sends them from a background thread while the caller goes on; the
        returned operations must be ``wait()``-ed on before the run is finished."""
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, int(s)) for k, v, s in rows]
        ops = [self.client.log_batch(self.run_id, metrics=items[i:i + BATCH], synchronous=wait)
               for i in range(0, len(items), BATCH)]
        return [op for op in ops if op is not None]

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def log_image(self, image, key: str, step: int) -> None:
        """An image ``(H, W) uint8`` under ``key`` at ``step`` (the UI shows a slider over steps)."""
        self.client.log_image(self.run_id, image, key=key, step=step)

    def log_dataset(self, name: str, digest: str, uri: str, profile: dict[str, Any], context: str) -> None:
        """Record an input as an MLflow dataset: name, digest (the first 32 hex digits: MLflow's digest
        column holds 36), where it lies and a profile (sizes, full hashes), with what it was used
        for as ``context``."""
        from mlflow.entities import Dataset, DatasetInput, InputTag
        dataset = Dataset(name=name, digest=digest[:32], source_type="local", source=json.dumps({"uri": uri}),
                          profile=json.dumps(profile, sort_keys=True))
        self.client.log_inputs(self.run_id, [DatasetInput(dataset, [InputTag(DATA_CONTEXT, context)])])

    def finish(self, ok: bool = True) -> None:
        self.client.set_terminated(self.run_id, "FINISHED" if ok else "FAILED")
