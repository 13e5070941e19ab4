"""A study process SIGKILLed inside a block and between blocks resumes without losing or duplicating a
seed, and ends with the values an uninterrupted study gives (the stub of :mod:`tests.study.stub`)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qgan.study.record import read_record
from tests.conftest import ROOT, SUBPROCESS_ENV
from tests.study.stub import StubBlocks
from tests.study.test_runner import make_study, simulate

pytestmark = pytest.mark.integration  # subprocesses killed with SIGKILL


def start(root: Path, markers: Path, sleep: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.study.stub", str(root), "s", str(markers), "--sleep",
                             str(sleep)], cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def kill_when(proc: subprocess.Popen, marker: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        assert proc.poll() is None, f"the study ended before {marker.name}: {proc.stdout.read()}"
        assert time.monotonic() < deadline, f"{marker.name} did not appear"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def check_whole(record: dict, blocks: list[str]) -> None:
    """The file holds exactly ``blocks``, each seed once per arm, nothing else."""
    assert [b["block"] for b in record["blocks"]] == blocks
    seeds = [s for b in record["blocks"] for s in b["seeds"]]
    assert len(seeds) == len(set(seeds))
    for arm in ("prng", "entropy"):
        assert sorted(map(int, record["values"][arm])) == sorted(seeds)
    assert len(record["runs"]) == 2 * len(seeds) and len(record["looks"]) == len(blocks)


def test_killed_inside_and_between_blocks_resumes_without_losing_or_repeating_a_seed(tmp_path):
    study = make_study(tmp_path, max_seeds=40)
    markers = tmp_path / "markers"
    markers.mkdir()
    proc = start(tmp_path, markers, 0.5)
    kill_when(proc, markers / "started-4-7")                   # inside block 2: block 1 on file, 2 lost
    check_whole(read_record(study.values_path), ["0-3"])
    proc = start(tmp_path, markers, 0.5)                       # resumes with block 2 ...
    kill_when(proc, markers / "saved-8-11")                    # ... killed between blocks 3 and 4
    check_whole(read_record(study.values_path), ["0-3", "4-7", "8-11"])
    rng = random.Random(0)
    for _ in range(6):                                         # killed at random moments once a block runs
        seen = len(list(markers.iterdir()))
        proc = start(tmp_path, markers, 0.2)
        deadline = time.monotonic() + 60
        while len(list(markers.iterdir())) == seen and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.45))
        proc.kill()
        proc.wait(timeout=30)
        record = read_record(study.values_path)               # never half written
        check_whole(record, [b["block"] for b in record["blocks"]])
        assert len(record["blocks"]) < 10                      # killed before the study's end
    proc = start(tmp_path, markers, 0.0)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    record = read_record(study.values_path)
    check_whole(record, [f"{4 * k}-{4 * k + 3}" for k in range(10)])
    assert record["stopped"]["reason"] == "seed cap"
    assert record["values"] == simulate(study, StubBlocks())["values"]   # as if it had never been killed
