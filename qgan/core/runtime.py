"""Device choice and the determinism settings that make a run bit-reproducible."""
from __future__ import annotations

import os

import torch

from qgan.core.numerics import check_pinned


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        from qgan.core.errors import QganError
        raise QganError("train.device: 'cuda' is not allowed here (no CUDA device; use auto or cpu)")
    return torch.device(name)


def make_deterministic(threads: int) -> dict:
    """Fix thread count and ask torch for deterministic kernels (CPU and CUDA), after checking
    that the pinned CPU numerics hold (:mod:`qgan.core.numerics`).

    CUDA's cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` set before its first call.
    Returns the settings, to be recorded with the run.
    """
    numerics = check_pinned()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    return {"threads": threads, "torch": str(torch.__version__), "deterministic": True,
            "cublas_workspace_config": os.environ["CUBLAS_WORKSPACE_CONFIG"], **numerics}
