"""Checkpoints on disk: written atomically with content-stable bytes, read back on the CPU.

Kept apart from :mod:`qgan.core.atomic` so that modules writing only JSON, text and figures
(the report stage) never import torch.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from qgan.core.atomic import write_bytes_atomic


def write_torch_atomic(target: str | Path, obj: Any) -> None:
    """``torch.save`` into memory, then :func:`~qgan.core.atomic.write_bytes_atomic`. Saved to a
    file, torch names the archive's folder after the file (here a random temp name); in memory it
    is always ``archive``, so the same content gives the same bytes and md5 on every save, and
    DVC sees an unchanged output as unchanged."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(target, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by a stage, on the CPU (tensors and plain Python only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
