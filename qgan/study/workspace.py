"""A study's block, run by DVC in a workspace of its own: a clone of the repo whose ``params.yaml``
holds the study's params with ``train.arms`` and ``train.seeds`` set to the block.

The workspace (``.qgan/studies/<name>/<block>/``) is a clone at the repo's commit with its
uncommitted changes applied (as ``qgan sweep`` hands them to its workers), using the repo's DVC
cache (its outputs and run-cache entries land there; ``data`` and ``classifier`` are restored, not
re-run) and logging to the repo's MLflow store. Its pool starts empty: each block harvests its own
entropy, so no byte is read by two blocks, and a block's pool is never longer than the block needs.
``dvc repro`` (or ``qgan sweep`` with a cluster) runs the whole pipeline on the block; the block's
per-seed values come from its ``metrics/evaluate.json`` and each run's provenance from its train
metrics, slice record and MLflow run. With a default DVC remote the block's pool and generators are
pushed to it (nothing in the repo's ``dvc.lock`` names them, so a plain ``dvc push`` would not).

A study killed mid-block keeps the block's entropy: the next run clones afresh (the code may have
changed meanwhile) but puts the killed attempt's pool back before ``dvc repro``, so the seeds train
on the bytes first harvested for them (no redraw after a peek at partial results), and DVC's
run-cache restores every stage the killed attempt finished. The block's time adds up its attempts.
Once the block is in the values file, its workspace goes, and so do the cache objects of what the
block's pool re-derives (``convert``'s normals and the block's ``slice``, about 0.9 GB a block of
the default study): ``qgan replay`` converts a study run's pool afresh, so only the pool, the
generators and the run-cache entries stay in the DVC cache. Objects the repo's own ``dvc.lock``
names are never dropped. (``dvc gc`` is no substitute: nothing the repo commits names a block's
pool, so it would drop those too.)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from qgan.core import tracking
from qgan.core.atomic import read_json, write_json_atomic, write_text_atomic
from qgan.core.errors import QganError
from qgan.core.git import code_dirty
from qgan.core.runtime import cpu_model
from qgan.noise.arms import POOL_ARMS
from qgan.study.runner import BlockRequest, BlockResult
from qgan.study.spec import STUDIES, Study
from qgan.sweep.dvc_ops import (
    cache_root,
    checked,
    clone_at,
    drop_cache_objects,
    dvc_args,
    head_revision,
    lock_outs,
    remote_url,
    run_tool,
    tool_env,
    worktree_patch,
)
from qgan.sweep.sweep import SweepOptions

WORK = Path(".qgan/studies")          # the studies' workspaces and logs (git-ignored)
ENTROPY = Path("data/entropy")        # the harvest stage's folder in a workspace ...
ENTROPY_FILES = ("pool.bin", "manifest.json")  # ... and the archive in it a killed attempt leaves to the next
POOL = str(ENTROPY / "pool.bin")
DERIVED = "convert"                    # with the block's slice: the stages whose outs the pool re-derives ...
NOISE = "data/noise/"                  # ... and their cached outs' folder (metrics and plots are not cached)
STAGE_LINE = re.compile(r"[Ss]tage '([^']+)'")  # DVC names each stage it runs, skips or restores


@dataclass(frozen=True)
class Checkout:
    revision: str       # the repo's commit
    patch: bytes        # its uncommitted changes (binary git diff), studies/ left out


class DvcBlocks:
    """Runs a study's blocks with DVC in workspaces under ``root``; ``cluster`` sends the training
    items to Dask through ``qgan sweep`` (None: ``dvc repro`` here)."""

    def __init__(self, root: Path, study: Study, cluster: SweepOptions | None = None, progress: bool = True):
        self.root, self.study, self.cluster, self.progress = root.resolve(), study, cluster, progress
        self.home = self.root / WORK / study.name
        self.checkout = Checkout(head_revision(self.root), worktree_patch(self.root, exclude=(str(STUDIES),)))

    def workspace(self, request: BlockRequest) -> Path:
        return self.home / request.block

    def prepare(self, request: BlockRequest) -> tuple[Path, float]:
        """A fresh clone for the block, with the pool of an earlier attempt at it put back; returns the
        workspace and the seconds earlier attempts took (each ran until its log was last written)."""
        ws, marker = self.workspace(request), self.home / f"{request.block}.json"
        kept = self.home / f"{request.block}.entropy"
        earlier = read_json(marker) if marker.exists() else {}
        if earlier.get("block") == request.block and (ws / POOL).exists():
            kept.mkdir(parents=True, exist_ok=True)
            for name in ENTROPY_FILES:
                if (ws / ENTROPY / name).exists():
                    os.replace(ws / ENTROPY / name, kept / name)
        shutil.rmtree(ws, ignore_errors=True)
        ws.parent.mkdir(parents=True, exist_ok=True)
        env = tool_env()

        def step(args: list[str], what: str, cwd: Path, stdin: bytes | None) -> None:
            checked(run_tool(cwd, args, env, stdin=stdin), f"block {request.block}: {what}")
        clone_at(str(self.root), self.checkout.revision, self.checkout.patch, ws, step)
        step(dvc_args("cache", "dir", "--local", cache_root(self.root)), "dvc cache dir", ws, None)
        if kept.exists():
            (ws / ENTROPY).mkdir(parents=True, exist_ok=True)
            for path in kept.iterdir():
                os.replace(path, ws / ENTROPY / path.name)
        params = self.study.params.to_dict()
        params["train"].update(arms=list(request.arms), seeds=[request.block if "-" in request.block
                                                               else int(request.block)])
        write_text_atomic(ws / "params.yaml", yaml.safe_dump(params, sort_keys=False))
        log = self.log(request)
        attempts = earlier.get("attempts", []) if earlier.get("block") == request.block else []
        before = sum(max(0.0, log.stat().st_mtime - t) for t in attempts[-1:]) if log.exists() and attempts else 0.0
        before += earlier.get("seconds_before", 0.0) if attempts else 0.0
        write_json_atomic(marker, {"block": request.block, "arms": list(request.arms),
                                   "attempts": [*attempts, time.time()], "seconds_before": before})
        return ws, before

    def log(self, request: BlockRequest) -> Path:
        return self.home / "logs" / f"{request.block}.log"

    def command(self) -> list[str]:
        """``dvc repro``, or ``qgan sweep`` with the cluster's options; under a lifeline either way, so
        that a SIGKILLed study takes its pipeline with it."""
        if self.cluster is None:
            cmd = dvc_args("repro")
        else:
            c = self.cluster
            cmd = [sys.executable, "-m", "qgan.cli", "sweep", "--workers", str(c.workers), "--threads-per-worker",
                   str(c.threads_per_worker), "--retries", str(c.retries), "--quiet"]
            for flag, value in (("--scheduler", c.scheduler), ("--remote", c.remote), ("--repo", c.repo)):
                cmd += [flag, value] if value else []
        return [sys.executable, "-m", "qgan.sweep.lifeline", "--", *cmd]

    def run_pipeline(self, ws: Path, request: BlockRequest, log: Path) -> None:
        """The block's pipeline with one progress bar over its stages; output to ``log``."""
        from tqdm import tqdm

        tracking.experiment_id(self.root)   # on the repo's store, with the repo's absolute artifact location
        env = tool_env()
        env.update(MLFLOW_TRACKING_URI=tracking.tracking_uri(self.root),
                   DVC_EXP_NAME=f"study-{self.study.name}-{request.block}")  # the MLflow parent run's name
        env.pop("DVC_ROOT", None)
        stages = 7 + len(request.arms)  # data, harvest, convert, classifier, slice, train@ per arm, evaluate, report
        seen: set[str] = set()
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as out, tqdm(total=stages, desc=f"block {request.block}", unit="stage",
                                         disable=not self.progress) as bar:
            out.write(f"$ {' '.join(map(redact, self.command()))}  (in {ws})\n")
            proc = subprocess.Popen(self.command(), cwd=ws, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace")
            for line in proc.stdout:
                out.write(line)
                found = STAGE_LINE.search(line)
                if found and found.group(1) not in seen and len(seen) < stages:
                    seen.add(found.group(1))
                    bar.set_postfix_str(found.group(1))
                    bar.update(1)
            code = proc.wait()
            out.write(f"[exit {code}]\n")
        if code:
            raise QganError(f"block {request.block}: the pipeline exited {code}; log {log}")

    def __call__(self, request: BlockRequest) -> BlockResult:
        start = time.perf_counter()
        ws, before = self.prepare(request)
        self.run_pipeline(ws, request, self.log(request))
        result = self.collect(ws, request)
        if remote_url(ws, None) is not None:   # the block's pool and generators, which no dvc.lock of the repo names
            stages = ["harvest", *(f"train@{arm}-{request.block}" for arm in request.arms)]
            checked(run_tool(ws, dvc_args("push", *stages), tool_env(), self.log(request)),
                    f"block {request.block}: dvc push")
            result.extra["pushed"] = True
        result.seconds = before + time.perf_counter() - start
        result.extra.update(log=str(self.log(request).relative_to(self.root)),
                            attempts=len(read_json(self.home / f"{request.block}.json")["attempts"]))
        return result

    def collect(self, ws: Path, request: BlockRequest) -> BlockResult:
        """Values and provenance from the workspace's outputs (and the runs' MLflow ids)."""
        evaluation = read_json(ws / "metrics" / "evaluate.json")
        slice_record = read_json(ws / "data" / "noise" / "blocks" / request.block / "block.json")
        lock = yaml.safe_load((ws / "dvc.lock").read_text())["stages"]
        pool_out = next((o for o in lock["harvest"]["outs"] if o["path"] == POOL), None)
        if pool_out is None:
            raise QganError(f"block {request.block}: {ws / 'dvc.lock'} records no {POOL}")
        code = {"revision": self.checkout.revision, "dirty": bool(code_dirty(self.root))}  # as runs record it
        values, runs, outs = {}, {}, {}
        for arm in request.arms:
            trained = read_json(ws / "metrics" / "train" / f"{arm}-{request.block}.json")
            outs.update({o["path"]: o["md5"] for o in lock[f"train@{arm}-{request.block}"]["outs"]})
            missing = [s for s in request.seeds if str(s) not in evaluation["values"].get(arm, {})]
            if missing:
                raise QganError(f"block {request.block}: {ws / 'metrics/evaluate.json'} has no values for {arm} seeds "
                                f"{missing}")
            values[arm] = {s: evaluation["values"][arm][str(s)] for s in request.seeds}
            for s in request.seeds:
                name = f"{arm}-{s}"
                sha = trained[name]["generator_sha256"]
                found = tracking.RunLogger.find_training(arm, s, sha, self.root)
                runs[name] = {"block": request.block, "generator_sha256": sha, "numerics": trained[name]["numerics"],
                              "pool": ({"bytes": slice_record["pool"]["total_bytes"],
                                        "sha256": slice_record["pool"]["sha256"]} if arm in POOL_ARMS else None),
                              "code": code, "mlflow_run_id": found.run_id if found else None}
        pool = {k: slice_record["pool"][k] for k in ("sha256", "sources", "quantum", "emulated")}
        instrument = {"extractor_sha256": read_json(ws / "metrics" / "classifier.json")["extractor_sha256"],
                      "data_digest": read_json(ws / "data" / "mnist" / "meta.json")["digest"]}
        return BlockResult(values, runs, instrument, 0.0, {"cpu": cpu_model(), "cores": os.cpu_count()},
                           {"pool": {**pool, "bytes": pool_out["size"], "dvc_md5": pool_out["md5"]}, "outs": outs,
                            "derived": derived_outs(ws, request.block), "code": code,
                            "runner": "qgan sweep" if self.cluster else "dvc repro"})

    def forget_recorded(self, record: dict) -> None:
        """Workspaces of blocks already on file (a run killed between saving a block and removing it)."""
        for block in record["blocks"]:
            self.done(BlockRequest(block["block"], tuple(block["seeds"]), tuple(block["arms"])))

    def done(self, request: BlockRequest) -> None:
        """The block is in the values file: its workspace goes, and the cache objects of its derived outs
        (the module's docstring) unless the repo's ``dvc.lock`` names them."""
        derived = derived_outs(self.workspace(request), request.block)
        shutil.rmtree(self.workspace(request), ignore_errors=True)
        shutil.rmtree(self.home / f"{request.block}.entropy", ignore_errors=True)
        (self.home / f"{request.block}.json").unlink(missing_ok=True)
        if derived:
            kept = set(lock_outs(self.root / "dvc.lock").values())
            freed = drop_cache_objects(self.root, set(derived.values()), kept)
            self.log(request).parent.mkdir(parents=True, exist_ok=True)
            with open(self.log(request), "a") as out:
                out.write(f"dropped from the DVC cache once recorded: {', '.join(sorted(derived))} "
                          f"({freed / 1e9:.2f} GB; the pool re-derives them)\n")


def derived_outs(ws: Path, block: str) -> dict[str, str]:
    """``{path: md5}`` of the noise outs of the workspace's ``convert`` and ``slice@<block>`` ({} if none)."""
    outs = lock_outs(ws / "dvc.lock", lambda name: name in (DERIVED, f"slice@{block}"))
    return {path: md5 for path, md5 in outs.items() if path.startswith(NOISE)}


def redact(arg: str) -> str:
    """A command-line word with any URL's user and password left out (``--repo https://user:token@host/...``)."""
    return re.sub(r"(?<=://)[^/@\s]+@", "", arg)


def describe_cluster(cluster: SweepOptions | None) -> str:
    if cluster is None:
        return "dvc repro on this machine"
    where = cluster.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or f"a LocalCluster of {cluster.workers}"
    return f"qgan sweep on {where}"


def lock_study(root: Path, name: str):
    """An exclusive lock on the study (one ``qgan study run`` at a time); released when the process ends."""
    import fcntl
    path = root / WORK / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise QganError(f"study {name} is already running (lock {path})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid()}))
    handle.flush()
    return handle
