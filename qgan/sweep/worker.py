"""One item on one Dask worker: a clone at the sweep's revision, ``dvc repro --pull -s``, ``dvc push --run-cache``.

The worker never touches the head's workspace or its entropy pool. It clones the repository at
the sweep's revision into a scratch folder of its own, applies the head's uncommitted changes
(``dvc.lock`` with the freshly computed upstream stages among them), points DVC at the sweep's
remote, and lets DVC do the rest: ``--pull`` fetches the item's inputs and the remote run-cache
(an item some earlier attempt already pushed is restored, not trained again), and
``push --run-cache`` sends the outputs and the run-cache entry back. Training is deterministic,
so a duplicate completion pushes the same objects under the same key and changes nothing.

``dvc repro`` runs under :mod:`qgan.sweep.lifeline`: if this worker is SIGKILLed mid-item, the
stage dies with it and only the scratch clone is left (removed by the next item on this host).
"""
from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from qgan.core.errors import QganError
from qgan.sweep.dvc_ops import CACHED_LINE, clone_at, dvc_args, lock_entry, run_tool, tool_env

SWEEP_REMOTE = "qgan-sweep"     # the remote's name in a worker clone's .dvc/config.local


@dataclass(frozen=True)
class ItemTask:
    """Everything a worker needs for one item (no secrets: the head leaves them out)."""
    item: str                    # train@<arm>-<block>
    repo: str                    # git URL or path the worker clones
    revision: str                # the sweep's commit
    patch: bytes                 # the head's uncommitted changes (binary git diff), applied after checkout
    remote: str                  # DVC remote URL (a path or a cloud URL) for inputs, outputs and the run-cache
    log_dir: str                 # where the item's log goes (on the worker's host)
    env: dict[str, str | None] = field(default_factory=dict)  # variables to set (None: unset) in DVC's process
    pull: tuple[str, ...] = ()   # files read but not declared as deps (the pool's manifest), pulled first


@dataclass(frozen=True)
class ItemResult:
    item: str
    trained: bool                # False: restored from the remote run-cache (an earlier attempt pushed it)
    seconds: float               # wall time on the worker, clone to push
    outs: dict[str, str]         # output path -> md5, from the clone's dvc.lock
    log: str                     # host:path of the item's log
    host: str


def item_env(task: ItemTask) -> dict[str, str]:
    """DVC's environment: this worker's, the task's settings applied, DVC_ROOT left to DVC."""
    env = tool_env()
    for key, value in task.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env.pop("DVC_ROOT", None)
    return env


def remove_stale_clones(scratch: Path) -> None:
    """Clones whose owning process is gone (a worker killed mid-item)."""
    for marker in scratch.glob("*.owner"):
        try:
            os.kill(int(marker.read_text()), 0)
            continue
        except (ProcessLookupError, ValueError):
            pass
        except PermissionError:
            continue
        shutil.rmtree(marker.with_suffix(""), ignore_errors=True)
        marker.unlink(missing_ok=True)


def run_item(task: ItemTask) -> ItemResult:
    """Compute ``task.item`` in a fresh clone and push it; raise :class:`QganError` naming the log if it fails."""
    start, host = time.perf_counter(), socket.gethostname()
    scratch = Path(tempfile.gettempdir()) / "qgan-sweep"      # the worker's TMPDIR: clones, one per attempt
    scratch.mkdir(parents=True, exist_ok=True)
    remove_stale_clones(scratch)
    name = task.item.replace("@", "-")
    clone = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    owner = clone.with_suffix(".owner")
    owner.write_text(str(os.getpid()))
    Path(task.log_dir).mkdir(parents=True, exist_ok=True)
    log = Path(task.log_dir) / f"{name}-{clone.name.rsplit('-', 1)[-1]}.log"
    env = item_env(task)

    def step(args: list[str], what: str, cwd: Path = clone, stdin: bytes | None = None):
        out = run_tool(cwd, args, env, log, stdin=stdin)
        if out.returncode:
            raise QganError(f"{task.item}: {what} exited {out.returncode} on {host}; log {host}:{log}")
        return out

    try:
        clone_at(task.repo, task.revision, task.patch, clone, step)
        step(dvc_args("remote", "add", "--local", "--default", "--force", SWEEP_REMOTE, task.remote), "dvc remote add")
        if task.pull:
            step(dvc_args("pull", *task.pull), "dvc pull")
        repro = step([sys.executable, "-m", "qgan.sweep.lifeline", "--", *dvc_args("repro", "--pull", "-s", task.item)],
                     "dvc repro")
        step(dvc_args("push", "--run-cache", task.item), "dvc push --run-cache")
        entry = lock_entry(clone, task.item) or {}
        outs = {o["path"]: o.get("md5", "") for o in entry.get("outs", [])}
        return ItemResult(task.item, CACHED_LINE not in repro.stdout + repro.stderr, time.perf_counter() - start,
                          outs, f"{host}:{log}", host)
    finally:
        shutil.rmtree(clone, ignore_errors=True)
        owner.unlink(missing_ok=True)
