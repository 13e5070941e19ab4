"""``qgan sweep`` on a real Dask LocalCluster (2 workers) with a real local DVC remote, against a
sequential ``dvc repro`` of the same repo (the same pool: both are copies made after the upstream
stages ran), and the same sweep with a worker and then the head SIGKILLed mid-item.

Tiny config: 2 arms x one block of seeds 0-1 = 2 items (train@entropy-0-1, train@prng-0-1), 4 runs.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import SUBPROCESS_ENV, sh, tiny_repo

pytestmark = pytest.mark.integration  # real DVC repos, a Dask LocalCluster, mlflow server, SIGKILL

ITEMS = {"train@entropy-0-1", "train@prng-0-1"}
QGAN = [sys.executable, "-m", "qgan.cli"]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Path:
    """A tiny repo whose upstream stages (data, harvest, convert, slices) ran and were committed."""
    repo = tiny_repo(tmp_path_factory.mktemp("sweep") / "qgan", ["0-1"])
    sh(repo, "dvc", "repro", "data", "slice")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "upstream")
    return repo


@pytest.fixture(scope="module")
def sequential(upstream, tmp_path_factory) -> Path:
    """The reference: a copy of ``upstream`` reproduced by plain ``dvc repro``."""
    seq = tmp_path_factory.mktemp("sequential") / "qgan"
    shutil.copytree(upstream, seq, symlinks=True)
    sh(seq, "dvc", "repro")
    return seq


def copy_with_remote(upstream: Path, tmp: Path) -> Path:
    repo = tmp / "qgan"
    shutil.copytree(upstream, repo, symlinks=True)
    sh(repo, "dvc", "remote", "add", "--local", "-d", "store", str(tmp / "remote"))
    return repo


def lock(repo: Path) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


def generators(repo: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((repo / "models" / "gan").rglob("*.pt"))}


def active_runs(repo: Path) -> list:
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name("qgan").experiment_id])


def assert_one_parent_and_each_child_once(repo: Path) -> None:
    runs = active_runs(repo)
    parents = [r for r in runs if r.data.tags.get("qgan_role") == "pipeline"]
    children = [r for r in runs if r.data.tags.get("qgan_role") == "training"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED", [(r.info.run_name, r.info.status) for r in runs]
    assert sorted((r.data.tags["arm"], r.data.tags["seed"]) for r in children) == [
        ("entropy", "0"), ("entropy", "1"), ("prng", "0"), ("prng", "1")]
    assert all(r.info.status == "FINISHED" and r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
               for r in children)
    assert all("fid_lenet" in r.data.metrics for r in children)  # evaluate found each child


def assert_like_sequential(repo: Path, sequential: Path) -> None:
    assert lock(repo) == lock(sequential)                      # every stage: cmd, deps, params, outs' md5
    assert generators(repo) == generators(sequential) and len(generators(repo)) == 4
    assert "up to date" in sh(repo, "dvc", "status").stdout
    assert (repo / "metrics" / "evaluate.json").read_bytes() == (sequential / "metrics" / "evaluate.json").read_bytes()


def test_a_sweep_leaves_what_a_sequential_repro_leaves_and_a_second_runs_nothing(upstream, sequential, tmp_path):
    repo = copy_with_remote(upstream, tmp_path)
    out = sh(repo, *QGAN, "sweep", "--workers", "2", "--quiet")
    assert "2 items pending; 2 trained, 0 restored" in out.stdout, out.stdout[-2000:]
    assert all(f"Stage '{item}' is cached - skipping run" in out.stdout for item in ITEMS)  # restored, not re-run
    assert_like_sequential(repo, sequential)
    assert_one_parent_and_each_child_once(repo)
    assert entries(tmp_path / "remote") == 2  # each item's run-cache entry went through the remote, once

    runs_before = {r.info.run_id for r in active_runs(repo)}
    again = sh(repo, *QGAN, "sweep", "--workers", "2", "--quiet")
    assert "0 items pending" in again.stdout and "Running stage" not in again.stdout
    assert {r.info.run_id for r in active_runs(repo)} == runs_before
    assert_like_sequential(repo, sequential)


def item_processes() -> list[psutil.Process]:
    """Running train stages of any sweep (``python -m stages.train``)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "stages.train" in cmd:
            found.append(proc)
    return found


def worker_of(stage: psutil.Process) -> psutil.Process:
    """The Dask worker process running the item: the parent of the stage's lifeline."""
    for ancestor in stage.parents():
        if "qgan.sweep.lifeline" in (ancestor.cmdline() or []):
            return ancestor.parent()
    raise AssertionError(f"no lifeline above {stage.pid}")


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s")


def entries(remote: Path) -> int:
    """Run-cache entries in the DVC remote (one per finished item)."""
    return sum(1 for p in (remote / "runs").rglob("*") if p.is_file()) if (remote / "runs").exists() else 0


def leftovers(repo: Path) -> list[str]:
    """Processes still alive that belong to a sweep of ``repo`` (stages, lifelines, servers, workers)."""
    alive = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if ("qgan.sweep.lifeline" in cmd or "stages.train" in cmd or str(repo) in cmd
                    or "distributed" in cmd and "spawn" in cmd):
                alive.append(cmd[:200])
        except psutil.Error:
            pass
    return alive


def test_a_worker_and_then_the_head_sigkilled_mid_item_and_the_restarted_sweep_finishes(upstream, sequential,
                                                                                      tmp_path):
    repo = copy_with_remote(upstream, tmp_path)
    pool = hashlib.sha256((repo / "data" / "entropy" / "pool.bin").read_bytes()).hexdigest()
    head = subprocess.Popen([*QGAN, "sweep", "--workers", "2", "--quiet", "--retries", "1"], cwd=repo,
                            env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        first = wait_for(item_processes, 180, "a first item training")[0]
        worker_of(first).kill()                                  # SIGKILL a worker mid-item
        wait_for(lambda: not first.is_running() or first.status() == psutil.STATUS_ZOMBIE, 30,
                 "the killed worker's stage to die with it")
        wait_for(lambda: entries(tmp_path / "remote"), 180, "a first item in the remote run-cache")
        again = wait_for(lambda: [p for p in item_processes() if p.pid != first.pid], 180, "another item training")
        os.kill(head.pid, signal.SIGKILL)                        # then SIGKILL the head mid-item
        head.wait(timeout=30)
        wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in again), 30,
                 "the items in flight to die with the head")
        wait_for(lambda: not leftovers(repo), 30, f"no process left behind ({leftovers(repo)})")
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGKILL)
    partial = [p for p in (repo / "models").rglob("*") if p.is_file() and (".tmp" in p.name or p.name.startswith("."))
               and p.name != ".gitignore"]
    assert not partial
    assert hashlib.sha256((repo / "data" / "entropy" / "pool.bin").read_bytes()).hexdigest() == pool

    done = entries(tmp_path / "remote")
    out = sh(repo, *QGAN, "sweep", "--workers", "2", "--quiet")   # restarted: only what is missing is trained
    assert done == 1  # killed after one item was in, during the other's retry
    assert f"2 items pending; {2 - done} trained, {done} restored" in out.stdout, (done, out.stdout[-2000:])
    assert_like_sequential(repo, sequential)
    assert_one_parent_and_each_child_once(repo)
    assert hashlib.sha256((repo / "data" / "entropy" / "pool.bin").read_bytes()).hexdigest() == pool


def test_a_cluster_without_a_remote_or_a_tracking_server_is_refused_in_one_line(tmp_path):
    repo = tiny_repo(tmp_path / "qgan", [0])
    cluster = ["sweep", "--scheduler", "tcp://127.0.0.1:9"]
    out = sh(repo, *QGAN, *cluster, check=False)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "qgan: error: qgan sweep on a cluster needs a DVC remote the workers can reach: `dvc remote add -d ...`"]
    sh(repo, "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote"))
    out = sh(repo, *QGAN, *cluster, check=False)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "workers need a tracking server; set MLFLOW_TRACKING_URI" in out.stderr
    out = sh(repo, *QGAN, "sweep", "--remote", "nope", check=False)
    assert out.returncode == 2 and "--remote nope: no such DVC remote (known: store)" in out.stderr
    assert not (repo / "data" / "mnist").exists() and not (repo / "dvc.lock").exists()  # refused before any work


def test_an_item_failing_on_every_attempt_is_reported_with_its_log_and_the_rest_is_restored(upstream, tmp_path):
    repo = copy_with_remote(upstream, tmp_path)
    stage = repo / "stages" / "train.py"   # an uncommitted edit: the patch carries it to the workers
    stage.write_text(stage.read_text().replace(
        'if __name__ == "__main__":',
        'if __name__ == "__main__" and "entropy" in sys.argv:\n    raise SystemExit("deliberate failure")\n'
        'if __name__ == "__main__":'))
    out = sh(repo, *QGAN, "sweep", "--workers", "2", "--quiet", "--retries", "1", check=False)
    assert out.returncode == 2, out.stdout[-2000:]
    lines = [x for x in out.stdout.splitlines() if x.startswith("sweep: train@entropy-0-1: dvc repro exited")]
    assert len(lines) == 1 and "; log " in lines[0], out.stdout[-2000:]
    log = Path(lines[0].split("; log ", 1)[1].split(":", 1)[1])
    assert log.is_file() and "deliberate failure" in log.read_text()
    attempts = list(log.parent.glob("train-entropy-0-1-*.log"))
    assert len(attempts) == 2                                               # the first try and one retry
    assert "1 of 2 items failed on every attempt" in out.stderr
    assert "up to date" in sh(repo, "dvc", "status", "train@prng-0-1").stdout  # the other item: restored
    assert not (repo / "models" / "gan" / "entropy-0-1").exists()
    assert not (repo / "metrics" / "evaluate.json").exists()                # evaluate waits for a whole sweep
