"""Pinned CPU numerics: the kernel choices that decide a result's last bits, fixed before torch loads.

The same code and inputs give different weights when torch picks different CPU kernels:
ATen's vectorised kernels follow the CPU's capability (default, AVX2, AVX-512), oneDNN's
convolutions its ISA, MKL's matrix products its code branch. Measured here (AMD EPYC with
AVX-512): a one-epoch classifier came out with three different digests under
``ATEN_CPU_CAPABILITY`` default, avx2 and avx512, another with oneDNN capped at AVX2, and
another with MKL's conditional numerical reproducibility (CNR) on. qgan therefore sets, for
every stage, replay and test process, before torch is imported::

    ATEN_CPU_CAPABILITY=avx2   ONEDNN_MAX_CPU_ISA=AVX2   MKL_CBWR=AVX2,STRICT

the highest level every x86-64 machine with AVX2 supports, so AVX2 and AVX-512 machines run
the same ATen kernels (a CPU without AVX2 cannot: :func:`qgan.core.runtime.check_pinned` stops with
one line). What this does *not* give is the same bits across CPU vendors. Measured 2026-12-02:
the pinned default recipe on an Intel Xeon (AVX-512) gave other classifier weights and other
generators than on the AMD EPYC machine the previous default run was made on. MKL documents why:
its reproducible ``AVX2`` branch is honoured only on Intel CPUs (elsewhere MKL falls back to its
``AUTO`` branch), and oneDNN promises bitwise results only run to run on one platform. Only
``MKL_CBWR=COMPATIBLE`` is documented to match across vendors; it cost 2.0x the GAN training time
here (102 s against 50 s a run), so it is not the default. qgan therefore ships the feature
extractor's weights (:data:`qgan.scoring.classifier.SHIPPED`) instead of re-training them per
machine, and a run's record says which CPU it was trained on. The thread count is fixed per
run (``train.threads``) and recorded. numpy needs no pin here: its float32 log/sin/cos gave the
same bits with AVX-512 dispatch disabled (AVX2) as enabled.

``QGAN_CPU_NUMERICS=native`` leaves the kernels to the CPU (faster on AVX-512, not comparable
across machines); every run records which mode and levels it used
(:func:`qgan.core.runtime.numerics_record`). This module never imports torch, so stages can call
:func:`pin_cpu_numerics` first (ATen reads its setting at the first CPU kernel, oneDNN and MKL at
their first call).
"""
from __future__ import annotations

import os
from typing import MutableMapping

from qgan.core.errors import QganError

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2,STRICT"}
SWITCH = "QGAN_CPU_NUMERICS"   # "pinned" (default) or "native"
MODES = ("pinned", "native")
NUMERICS_KEYS = ("numerics", "aten_cpu_capability", "onednn_max_cpu_isa", "mkl_cbwr")  # of numerics_record()
PINNED_CAPABILITY = "AVX2"     # what torch.backends.cpu.get_cpu_capability() reports when the pin holds


def numerics_mode(environ: MutableMapping[str, str] = os.environ) -> str:
    mode = environ.get(SWITCH, "pinned")
    if mode not in MODES:
        raise QganError(f"{SWITCH}: {mode!r} is not allowed (pinned or native)")
    return mode


def pin_cpu_numerics(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set :data:`PINNED` in ``environ`` (overriding what is there) unless the mode is native;
    returns the settings applied. Must run before torch is imported to take effect."""
    if numerics_mode(environ) == "native":
        return {}
    environ.update(PINNED)
    return dict(PINNED)


def differs_from(want: dict[str, str | None], environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether this process's numerics settings differ from ``want`` (:func:`env_of_record`)."""
    have = {k: numerics_mode(environ) if k == SWITCH else environ.get(k) for k in want}
    return have != want


def env_of_record(runtime: dict) -> dict[str, str | None]:
    """Environment settings (None: unset) that reproduce a recorded run's numerics, from the
    ``runtime`` of its record; a record without them was made before qgan pinned numerics."""
    if runtime.get("numerics") == "pinned":
        return {SWITCH: "pinned", **PINNED}
    return {SWITCH: "native", **{k: None for k in PINNED}}
