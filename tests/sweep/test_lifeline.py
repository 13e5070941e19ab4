"""The lifeline: a command that dies with the process that started it, even on SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.integration  # subprocesses, real git/DVC repos or a real MLflow store

LIFELINE = [sys.executable, "-m", "qgan.sweep.lifeline", "--"]


def test_the_command_s_exit_status_comes_back():
    assert subprocess.run([*LIFELINE, sys.executable, "-c", "raise SystemExit(3)"], timeout=60).returncode == 3
    assert subprocess.run([*LIFELINE, sys.executable, "-c", "pass"], timeout=60).returncode == 0


def test_no_command_is_a_usage_error():
    out = subprocess.run(LIFELINE, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "usage" in out.stderr


def test_the_command_and_its_children_die_when_the_starter_is_sigkilled(tmp_path):
    """starter -> lifeline -> sh -> sleeper: SIGKILL the starter; the sleeper (a grandchild of the
    lifeline, as a stage is of dvc) must not outlive it."""
    pid_file = tmp_path / "sleeper.pid"
    sleeper = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    starter = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
                                *LIFELINE, "sh", "-c", f"{sys.executable} -c \"{sleeper}\"; true"])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the sleeper did not start"
        time.sleep(0.05)
    victim = psutil.Process(int(pid_file.read_text()))
    os.kill(starter.pid, signal.SIGKILL)
    starter.wait(timeout=10)
    gone, alive = psutil.wait_procs([victim], timeout=20)
    assert not alive, "the sleeper outlived its starter"


def test_sigterm_to_the_lifeline_stops_the_group(tmp_path):
    proc = subprocess.Popen([*LIFELINE, sys.executable, "-c", "import time; time.sleep(600)"])
    time.sleep(1.0)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive
