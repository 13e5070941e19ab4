"""Atomic file writes: write a temp file beside the target, fsync it, ``os.replace``.

A reader (or a crash) sees either the old file or the new one, never half of one.
:func:`read_json` is the matching reader with a one-line error for a missing file.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from qgan.core.errors import QganError


def fsync_dir(path: str | Path) -> None:
    """Flush a directory entry (a rename or a new file) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask, read from /proc where possible (os.umask would briefly change it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``target``; on success fsync it and move it into place.

    On an exception the temp file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
        fsync_dir(target.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | Path, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def read_json(path: Path) -> dict:
    """Parse a JSON file written by a stage."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise QganError(f"{path}: not found; run the stage that writes it") from None


def write_json_atomic(target: str | Path, obj: Any) -> None:
    """JSON with sorted keys and a trailing newline (stable bytes for DVC hashing)."""
    write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")
