"""The code revision a result came from: git, asked from the checkout (never required).

Runs record the commit their code came from (DVC's baseline inside ``dvc exp run``, else
``HEAD``) and whether the checkout's code differed from it (:data:`CODE_PATHS`); replay
compares a recorded revision with the checkout. Without git every answer is None.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

CODE_PATHS = ("qgan", "stages", "dvc.yaml")  # what decides a run's result besides params and data


def run_git(cwd: Path, *args: str) -> str | None:
    """``git args`` in ``cwd``: its stripped stdout, or None if git is missing or fails."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit(root: Path) -> str | None:
    return run_git(root, "rev-parse", "HEAD") or None


def code_revision(root: Path) -> str | None:
    """The commit the code came from: DVC's baseline in an experiment, else ``HEAD``."""
    return os.environ.get("DVC_EXP_BASELINE_REV") or git_commit(root)


def code_dirty(cwd: Path | None = None) -> bool | None:
    """Whether the running checkout's code differs from its commit (None: not a git checkout)."""
    status = run_git(cwd or Path.cwd(), "status", "--porcelain", "--", *CODE_PATHS)
    return None if status is None else bool(status)
