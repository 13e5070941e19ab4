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


def start_sweep(repo: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*QGAN, "sweep", "--quiet", *args], cwd=repo, env=SUBPROCESS_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def item_processes(head: subprocess.Popen) -> list[psutil.Process]:
    """The head's running train stages (``python -m stages.train`` below it)."""
    try:
        below = psutil.Process(head.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in below if "stages.train" in cmdline(p)]


def cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:   # gone, or a zombie
        return []


def item_of(stage: psutil.Process) -> str:
    cmd = stage.cmdline()
    return f"train@{cmd[cmd.index('--arm') + 1]}-{cmd[cmd.index('--block') + 1]}"


def worker_of(stage: psutil.Process) -> psutil.Process:
    """The Dask worker process running the item: the parent of the stage's lifeline."""
    for ancestor in stage.parents():
        if "qgan.sweep.lifeline" in cmdline(ancestor):
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


def test_a_sweep_with_a_worker_sigkilled_mid_item_ends_as_a_sequential_repro_and_a_second_runs_nothing(
        upstream, sequential, tmp_path):
    repo = copy_with_remote(upstream, tmp_path)
    head = start_sweep(repo, "--workers", "2")
    try:
        stage = wait_for(lambda: item_processes(head), 180, "an item training")[0]
        killed = item_of(stage)
        worker_of(stage).kill()                                  # SIGKILL a worker mid-item
        gone, alive = psutil.wait_procs([stage], timeout=30)
        assert not alive, "the stage outlived its worker"
        out, _ = head.communicate(timeout=600)
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGKILL)
    assert head.returncode == 0 and "2 items pending; 2 trained, 0 restored" in out, out[-3000:]
    assert all(f"Stage '{item}' is cached - skipping run" in out for item in ITEMS)  # restored, not re-run
    logs = sorted((repo / ".qgan" / "sweep" / "logs").glob(f"{killed.replace('@', '-')}-*.log"))
    assert len(logs) == 2                                        # the killed attempt and the retry elsewhere
    assert_like_sequential(repo, sequential)
    assert_one_parent_and_each_child_once(repo)                  # the killed attempt's child is not among them
    assert entries(tmp_path / "remote") == 2                     # each item's run-cache entry went through the remote

    runs_before = {r.info.run_id for r in active_runs(repo)}
    again = sh(repo, *QGAN, "sweep", "--workers", "2", "--quiet")
    assert "0 items pending" in again.stdout and "Running stage" not in again.stdout
    assert {r.info.run_id for r in active_runs(repo)} == runs_before
    assert_like_sequential(repo, sequential)


def test_the_head_sigkilled_mid_sweep_leaves_nothing_and_the_restarted_sweep_trains_only_what_is_missing(
        upstream, sequential, tmp_path):
    repo = copy_with_remote(upstream, tmp_path)
    pool = hashlib.sha256((repo / "data" / "entropy" / "pool.bin").read_bytes()).hexdigest()
    head = start_sweep(repo, "--workers", "1")                  # one worker: the items one after the other
    try:
        wait_for(lambda: entries(tmp_path / "remote"), 300, "the first item in the remote run-cache")
        wait_for(lambda: item_processes(head), 180, "the second item training")
        below = psutil.Process(head.pid).children(recursive=True)  # worker, lifelines, dvc, stage, mlflow server
        assert any("mlflow" in cmdline(p) for p in below)
        os.kill(head.pid, signal.SIGKILL)                        # SIGKILL the head mid-item
        head.wait(timeout=30)
        gone, alive = psutil.wait_procs(below, timeout=30)
        assert not alive, [" ".join(cmdline(p))[:120] for p in alive]   # nothing left behind
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGKILL)
    partial = [p for p in (repo / "models").rglob("*") if p.is_file() and p.name != ".gitignore"]
    assert not partial                                           # the head's workspace got nothing half-done
    assert hashlib.sha256((repo / "data" / "entropy" / "pool.bin").read_bytes()).hexdigest() == pool
    done = entries(tmp_path / "remote")
    assert done == 1

    out = sh(repo, *QGAN, "sweep", "--workers", "2", "--quiet")   # restarted: only what is missing is trained
    assert "2 items pending; 1 trained, 1 restored" in out.stdout, out.stdout[-2000:]
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


TOKEN = "qrng-secret-4f1c9e"
# Injected into the workers' copy of stages/train.py: the token must be in neither the stage's
# environment nor that of any process above it short of the head (which was given it).
TOKEN_CHECK = f"""
def _token_above():
    import os
    pid = os.getpid()
    while pid > 1:
        if b"qgan.cli" in open(f"/proc/{{pid}}/cmdline", "rb").read():
            return False
        if {TOKEN!r}.encode() in open(f"/proc/{{pid}}/environ", "rb").read() or os.environ.get("QRNG_API_TOKEN"):
            return True
        pid = int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
    return False


if __name__ == "__main__" and _token_above():
    raise SystemExit("a QRNG token reached the worker")
if __name__ == "__main__" and "entropy" in sys.argv:
    raise SystemExit("deliberate failure")
"""


def test_an_item_failing_on_every_attempt_is_reported_with_its_log_and_the_rest_is_restored(upstream, tmp_path):
    """And a QRNG token in the head's environment reaches no worker, no item and no log."""
    repo = copy_with_remote(upstream, tmp_path)
    stage = repo / "stages" / "train.py"   # an uncommitted edit: the patch carries it to the workers
    main = 'if __name__ == "__main__":'
    stage.write_text(stage.read_text().replace(main, TOKEN_CHECK + main))
    out = sh(repo, *QGAN, "sweep", "--workers", "2", "--quiet", "--retries", "1", check=False,
             env={**SUBPROCESS_ENV, "QRNG_API_TOKEN": TOKEN})
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
    assert "a QRNG token reached" not in out.stdout + "".join(p.read_text() for p in attempts)
    assert TOKEN not in out.stdout + out.stderr
    assert not [p for p in (repo / ".qgan").rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
