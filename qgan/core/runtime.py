"""Device choice, the determinism settings that make a run bit-reproducible, and the record of the
CPU numerics this process runs with (the pin itself is set before torch loads: :mod:`qgan.core.numerics`)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from qgan.core.errors import QganError
from qgan.core.numerics import PINNED, PINNED_CAPABILITY, SWITCH, numerics_mode


def numerics_record() -> dict[str, str]:
    """The numerics this process runs with (torch must be imported): mode, ATen's capability,
    and the oneDNN and MKL settings, for metrics files, MLflow and replay records."""
    return {"numerics": numerics_mode(), "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "native"),
            "mkl_cbwr": os.environ.get("MKL_CBWR", "native")}


def check_pinned() -> dict[str, str]:
    """The record, after checking that the pin took effect: a pinned process whose ATen kernels
    are not AVX2 (torch imported before the pin, or a CPU without AVX2) stops with one line."""
    record = numerics_record()
    if record["numerics"] == "pinned" and record["aten_cpu_capability"] != PINNED_CAPABILITY:
        why = ("ATEN_CPU_CAPABILITY was changed after the pin"
               if os.environ.get("ATEN_CPU_CAPABILITY") != PINNED["ATEN_CPU_CAPABILITY"]
               else "torch ran a CPU kernel before the pin, or this CPU has no AVX2")
        raise QganError(f"CPU numerics: ATen runs {record['aten_cpu_capability']} kernels, not the pinned "
                        f"{PINNED_CAPABILITY} ({why}); results would not match other machines. Set "
                        f"{SWITCH}=native to run anyway (recorded as native)")
    return record


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise QganError("train.device: 'cuda' is not allowed here (no CUDA device; use auto or cpu)")
    return torch.device(name)


def cpu_model() -> str:
    """The CPU's vendor and model name (``/proc/cpuinfo``; else :func:`platform.processor`): bits
    can differ between vendors even with pinned numerics (:mod:`qgan.core.numerics`)."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines()[:30] if ":" in line)
    except OSError:
        return platform.processor() or "unknown"
    info = {k.strip(): v.strip() for k, v in info.items()}
    return f"{info.get('vendor_id', 'unknown')} {info.get('model name', '')}".strip()


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
            "cublas_workspace_config": os.environ["CUBLAS_WORKSPACE_CONFIG"], "cpu": cpu_model(), **numerics}
