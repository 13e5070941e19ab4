"""Run a command that dies with the process that started it, even if that process is SIGKILLed.

``python -m qgan.sweep.lifeline -- CMD ...`` starts ``CMD`` in a process group of its own and
watches its own parent. When the parent goes away (a Dask worker or the sweep's head killed with
SIGKILL: no cleanup code runs there), it kills the whole group: ``dvc repro`` with the stage it
runs, or ``mlflow server`` with its uvicorn workers. Without it those grandchildren would be
re-parented to init and keep training and logging after the item was retried elsewhere.

Exit status: the command's own (128 + signal if a signal ended it). SIGTERM and SIGINT sent to the
lifeline are passed on to the group.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL = 0.2          # seconds between checks of the parent and the command
GRACE = 5.0         # seconds between SIGTERM and SIGKILL of the group


def kill_group(proc: subprocess.Popen, grace: float = GRACE) -> None:
    """SIGTERM ``proc``'s process group, then SIGKILL whatever is left after ``grace`` seconds.
    ``proc`` is reaped meanwhile, so that a zombie does not count as a member still alive."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(POLL / 4)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_tied_to_parent(cmd: list[str]) -> int:
    """Run ``cmd`` in its own session until it ends or this process's parent dies."""
    parent = os.getppid()
    proc = subprocess.Popen(cmd, start_new_session=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: kill_group(proc))
    while True:
        code = proc.poll()
        if code is not None:
            kill_group(proc, grace=0.0)   # stragglers the command left in its group
            return code if code >= 0 else 128 - code
        if os.getppid() != parent:            # re-parented: whoever started us is gone
            kill_group(proc)
            proc.wait()
            return 137
        time.sleep(POLL)


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("usage: python -m qgan.sweep.lifeline -- CMD [ARG ...]", file=sys.stderr)
        return 2
    return run_tied_to_parent(argv[argv.index("--") + 1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
