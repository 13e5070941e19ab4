"""``qgan sweep``: the pending training items on Dask, then the workspace as a sequential ``dvc repro`` leaves it.

1. The head brings the items' upstream stages up to date (``dvc repro data slice@…``; harvest tops
   the pool up there, once) and lists the pending items (``dvc status``).
2. With a configured DVC remote, the head pushes the items' inputs to it; without one (one
   machine only) its own cache folder serves as the workers' remote.
3. The MLflow parent run is opened, then each item goes to a Dask worker
   (:func:`qgan.sweep.worker.run_item`), retried on failure; a worker lost mid-item has its item
   rescheduled by Dask. The scheduler keeps no state: the DVC remote is the record.
4. One child per (arm, seed) is kept in MLflow, and the head's final ``dvc repro`` (``--pull``
   with a remote) restores every item from the run-cache and runs evaluate and report once. The
   head checks that each restored item's outputs have the md5s its worker reported.

Threads: each Dask worker runs one item at a time (``threads_per_worker``), and an item's torch
threads are ``train.threads`` (a param, recorded); Dask's ``OMP_NUM_THREADS=1`` and its siblings are
reset to the head's values in the item's process. Secrets (QRNG tokens) never reach a worker.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from qgan.core import tracking
from qgan.core.errors import QganError
from qgan.entropy.http_client import WIRE_FORMATS
from qgan.sweep.dvc_ops import (
    cache_root,
    checked,
    dvc_args,
    head_revision,
    item_inputs,
    lock_entry,
    pending_items,
    remote_url,
    run_tool,
    tool_env,
    upstream_stages,
    worktree_patch,
)
from qgan.sweep.mlflow_runs import MANIFEST, children_kept_once, open_parent
from qgan.sweep.servers import LOOPBACK, mlflow_server
from qgan.sweep.worker import ItemResult, ItemTask, run_item

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # Dask's nanny sets these to 1
SECRET_VARS = tuple(sorted({v for fmt in WIRE_FORMATS.values() for v in fmt.token_vars}))  # never sent to a worker
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
# read by the train stage to find the MLflow parent's key, and not a dep (a longer pool must not retrain)
UNDECLARED_INPUTS = (str(MANIFEST),)
LOGS = Path(".qgan/sweep/logs")  # items' logs under the head's repo (workers on this machine)


@dataclass(frozen=True)
class SweepOptions:
    workers: int = 2                    # LocalCluster worker processes (ignored with a scheduler address)
    threads_per_worker: int = 1         # Dask task slots per worker: items one at a time per process
    scheduler: str | None = None        # a running Dask scheduler (else $DASK_SCHEDULER_ADDRESS, else LocalCluster)
    remote: str | None = None           # DVC remote name (default: the repo's default remote)
    repo: str | None = None             # git URL the workers clone (default: this repo's path)
    retries: int = 2                    # extra attempts of an item that fails (a lost worker is Dask's to retry)
    progress: bool = True


@dataclass
class SweepResult:
    pending: list[str]                                  # items pending at the start
    done: list[ItemResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # item -> one line naming its log
    children: dict[str, int] = field(default_factory=dict)  # MLflow children kept and deleted
    seconds: dict[str, float] = field(default_factory=dict)  # upstream, fan-out, final


def scheduler_address(options: SweepOptions) -> str | None:
    return options.scheduler or os.environ.get(SCHEDULER_ENV) or None


@contextlib.contextmanager
def dask_client(options: SweepOptions, env_off: tuple[str, ...], resources: dict | None = None) -> Iterator:
    """A client on the given scheduler, or on a LocalCluster on 127.0.0.1 started for the sweep; its
    worker processes inherit this process's environment, so ``env_off`` is out of it meanwhile."""
    from distributed import Client, LocalCluster

    address = scheduler_address(options)
    if address:
        with Client(address, timeout="30s") as client:
            yield client
        return
    saved = {k: os.environ.pop(k) for k in env_off if k in os.environ}  # off while the cluster lives: the
    try:                                                                # nanny restarts lost workers from it
        with LocalCluster(n_workers=options.workers, threads_per_worker=options.threads_per_worker, processes=True,
                          host=LOOPBACK, dashboard_address=f"{LOOPBACK}:0", resources=resources) as cluster, \
                Client(cluster) as client:
            yield client
    finally:
        os.environ.update(saved)


@contextlib.contextmanager
def tracking_for_workers(root: Path) -> Iterator[str]:
    """``MLFLOW_TRACKING_URI`` when it names a server; else, on one machine, an ``mlflow server`` over
    the project's store for the sweep's lifetime (one process writes SQLite)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if is_server_uri(uri):
        yield uri
        return
    store = uri or tracking.tracking_uri(root)
    tracking.experiment_id(root)  # created here, on the store itself, with an absolute artifact location
    with mlflow_server(store, root / "mlruns", root / LOGS.parent / "mlflow-server.log") as url:
        yield url


def check_cluster_setup(clustered: bool, remote: str | None) -> None:
    """Workers on other hosts reach neither this machine's DVC cache nor its SQLite store."""
    if not clustered:
        return
    if remote is None:
        raise QganError("qgan sweep on a cluster needs a DVC remote the workers can reach: `dvc remote add -d ...`")
    if not is_server_uri(os.environ.get("MLFLOW_TRACKING_URI")):
        raise QganError("qgan sweep on a cluster: workers need a tracking server; set MLFLOW_TRACKING_URI "
                        "(`qgan server` starts one on PostgreSQL)")


def is_server_uri(uri: str | None) -> bool:
    return bool(uri) and uri.startswith(("http://", "https://", "databricks"))


def item_task_env(tracking_url: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: os.environ.get(k) for k in THREAD_VARS}
    env.update({k: None for k in SECRET_VARS}, MLFLOW_TRACKING_URI=tracking_url)
    if os.environ.get("MLFLOW_EXPERIMENT_NAME"):
        env["MLFLOW_EXPERIMENT_NAME"] = os.environ["MLFLOW_EXPERIMENT_NAME"]
    return env


def fan_out(client, tasks: list[ItemTask], options: SweepOptions, result: SweepResult,
            resources: dict[str, float] | None = None) -> None:
    """Submit every task and collect results and failures, with one progress bar (done, running,
    failed, ETA) and one line per failed item."""
    from distributed import wait
    from tqdm import tqdm

    futures = {client.submit(run_item, task, key=f"qgan-{task.item}-{uuid.uuid4().hex[:8]}", pure=False,
                             retries=options.retries, resources=resources): task.item for task in tasks}
    todo = set(futures)
    with tqdm(total=len(tasks), desc="sweep", unit="item", disable=not options.progress) as bar:
        while todo:
            try:
                finished, todo = wait(list(todo), timeout=2.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = set()
            for future in finished:
                item = futures[future]
                if future.status == "finished":
                    result.done.append(future.result())
                else:
                    result.failed[item] = failure_line(item, future)
                    bar.write(f"sweep: {result.failed[item]}")
                bar.update(1)
            running = sum(len(keys) for keys in client.processing().values())
            bar.set_postfix(done=len(result.done), running=running, failed=len(result.failed))


def failure_line(item: str, future) -> str:
    """One line: the worker's error (it names the item's log), or what Dask reported (a worker lost too often)."""
    exc = future.exception()
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if text.startswith(item) else f"{item}: {type(exc).__name__}: {text}"


def gpu_resources(root: Path, clustered: bool) -> tuple[dict | None, dict | None]:
    """(what an item asks of a worker, what LocalCluster workers offer): a GPU when ``train.device``
    is cuda. Cluster workers with one declare it: ``dask worker --resources GPU=1``."""
    from qgan.params import load_params
    if load_params(root / "params.yaml").train.device != "cuda":
        return None, None
    if clustered:
        return {"GPU": 1}, None
    import torch
    if not torch.cuda.is_available():
        raise QganError("train.device: cuda, but this machine has no CUDA device for the LocalCluster's workers")
    return {"GPU": 1}, {"GPU": 1}


def run_sweep(root: Path, options: SweepOptions) -> SweepResult:
    """Steps 1-4 of the module's docstring; raises :class:`QganError` (after finishing the rest) if an item failed."""
    root = root.resolve()
    revision, env = head_revision(root), tool_env()
    clustered = bool(scheduler_address(options))
    url = remote_url(root, options.remote)
    check_cluster_setup(clustered, url)
    t0 = time.perf_counter()
    upstream = upstream_stages(root)
    if subprocess.run(dvc_args("repro", *upstream), cwd=root, env=env).returncode:
        raise QganError(f"dvc repro {' '.join(upstream)} failed: the items' inputs are not up to date")
    result = SweepResult(pending_items(root, env))
    result.seconds["upstream"] = time.perf_counter() - t0
    if not result.pending:  # nothing to fan out: the rest of the pipeline, as dvc repro would
        repro_rest(root, [], [], result)
        return result
    asks, offers = gpu_resources(root, clustered)
    given = os.environ.get("MLFLOW_TRACKING_URI")
    with tracking_for_workers(root) as tracking_url:
        os.environ["MLFLOW_TRACKING_URI"] = tracking_url   # the head's own MLflow calls go to the server too
        try:
            t1 = time.perf_counter()
            if url is not None:
                remote = ["-r", options.remote] if options.remote else []
                checked(run_tool(root, dvc_args("push", *remote, *item_inputs(root, result.pending),
                                                *UNDECLARED_INPUTS), env), "dvc push (the items' inputs)")
            parent = open_parent(root)
            patch = worktree_patch(root)
            tasks = [ItemTask(item, options.repo or str(root), revision, patch, url or cache_root(root),
                              str(root / LOGS), item_task_env(tracking_url), pull=UNDECLARED_INPUTS)
                     for item in result.pending]
            with dask_client(options, SECRET_VARS, offers) as client:
                fan_out(client, tasks, options, result, asks)
            result.children = children_kept_once(parent, root)
            result.seconds["fan_out"] = time.perf_counter() - t1
            repro_rest(root, ["--pull"] if url is not None else [],
                       [r.item for r in result.done] if result.failed else [], result)
        finally:
            if given is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = given
    check_restored(root, result.done)
    if result.failed:
        raise QganError(f"{len(result.failed)} of {len(result.pending)} items failed on every attempt "
                        "(lines above); the others are in the workspace: run qgan sweep again")
    return result


def repro_rest(root: Path, pull: list[str], targets: list[str], result: SweepResult) -> None:
    """The head's final ``dvc repro``: every item restored from the run-cache, evaluate and report
    once; with failed items, only the finished ones (``targets``) are restored."""
    t = time.perf_counter()
    if (targets or not result.failed) and subprocess.run(dvc_args("repro", *pull, *targets), cwd=root,
                                                         env=tool_env()).returncode:
        raise QganError("the final dvc repro failed (its output is above)")
    result.seconds["final"] = time.perf_counter() - t


def check_restored(root: Path, done: list[ItemResult]) -> None:
    """Each item's outputs in the head's ``dvc.lock`` are the md5s its worker pushed."""
    for item in done:
        entry = lock_entry(root, item.item) or {}
        here = {o["path"]: o.get("md5", "") for o in entry.get("outs", [])}
        if here != item.outs:
            raise QganError(f"{item.item}: the workspace's outputs differ from what {item.host} pushed "
                            f"(training is not deterministic across these machines?); log {item.log}")


def summary_lines(result: SweepResult) -> list[str]:
    """What the sweep did, for the terminal."""
    trained = [r for r in result.done if r.trained]
    busy = sum(r.seconds for r in result.done)
    lines = [f"sweep: {len(result.pending)} items pending; {len(trained)} trained, "
             f"{len(result.done) - len(trained)} restored from the remote run-cache, {len(result.failed)} failed"]
    if result.done:
        lines.append(f"sweep: upstream {result.seconds.get('upstream', 0):.1f} s, fan-out "
                     f"{result.seconds.get('fan_out', 0):.1f} s ({busy:.1f} worker-seconds), final dvc repro "
                     f"{result.seconds.get('final', 0):.1f} s; MLflow children kept {result.children.get('kept', 0)}, "
                     f"deleted {result.children.get('deleted', 0)} (killed or duplicate attempts)")
    return lines
