"""The noise arms by name: what ``train.arms`` accepts, without the streams that serve them.

A light registry (no torch): :mod:`qgan.params` validates ``train.arms`` against it, and
:mod:`qgan.noise.streams` looks each name's factory up where it builds a stream. A name is a
registered arm (:data:`ARMS`) or a ladder rung (``distinct-K``, ``bits-b``, ``rank-r``,
``scale-P``: :mod:`qgan.noise.ladder`), which is the prng arm's noise with one defect.
"""
from __future__ import annotations

from dataclasses import dataclass

from qgan.core.errors import QganError
from qgan.noise.ladder import parse_rung

PRNG_SPAWN_KEY = 1  # first spawn-key word of the prng arm (and of every ladder rung); the second is the region


@dataclass(frozen=True)
class ArmInfo:
    """What is known of an arm without building its stream."""
    spawn_key: int | None      # first SeedSequence spawn-key word of a PRNG arm (None: it reads the pool)
    standard_normal: bool      # latents ~ N(0, I): a redraw with fresh PCG64 normals is like the arm's own
    what: str                  # one line for humans

    @property
    def reads_pool(self) -> bool:
        return self.spawn_key is None


ARMS: dict[str, ArmInfo] = {
    "entropy": ArmInfo(None, True, "the harvested pool, converted"),
    "prng": ArmInfo(PRNG_SPAWN_KEY, True, "PCG64 bytes through the same conversion"),
    "prng2": ArmInfo(2, True, "an independent PCG64 stream (negative control)"),
    "torch": ArmInfo(3, True, "torch.randn from its own generator"),
    "legacy8": ArmInfo(4, False, "PCG64 through the tutorial's 8-bit uniforms (control of the noise tests)"),
}
BASELINE_ARM = "prng"       # every comparison is ``arm - BASELINE_ARM``, seed by seed
NEGATIVE_CONTROL = "prng2"  # the A/A arm: an independent PCG64 stream, no true difference from the baseline
POOL_ARMS = tuple(name for name, arm in ARMS.items() if arm.reads_pool)  # arms that read the pool
KNOWN = ", ".join(ARMS) + ", or a rung distinct-K, bits-b, rank-r, scale-P"  # for messages


def arm_info(name: str) -> ArmInfo:
    """The arm called ``name``: a registered one or a ladder rung (a :class:`~qgan.noise.ladder.RungError`
    for a rung out of range, a one-line :class:`QganError` for an unknown name)."""
    if name in ARMS:
        return ARMS[name]
    rung = parse_rung(name)
    if rung is None:
        raise QganError(f"train.arms: unknown arm {name!r} (known: {KNOWN})")
    return ArmInfo(PRNG_SPAWN_KEY, False, rung.what)


def is_rung(name: str) -> bool:
    """Whether ``name`` is a ladder rung (a positive control), not a registered arm."""
    return name not in ARMS and parse_rung(name) is not None
