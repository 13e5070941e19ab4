"""Latent noise sources: one interface, and a factory per arm name of :mod:`qgan.noise.arms`.

Every source serves ``sample(batch, latent_dim) -> Tensor (batch, latent_dim)`` float32,
counts what it drew and says where it read (:meth:`NormalStream.record`). Arms:

- ``entropy``: consecutive normals from the run's own range of ``normals.npy`` (the pool).
- ``prng``: bytes from a seeded PCG64 generator, converted by the *same*
  :func:`qgan.noise.convert.bytes_to_normals` as the pool, so only the byte origin differs.
- ``prng2``: the same, from an independent PCG64 stream: a negative control (it must come out
  no different from ``prng``).
- ``legacy8``: PCG64 bytes through the tutorial's 8-bit quantisation (``bits: 8``, without
  its ``log(0)``): a positive control (256 radii, no ``|z|`` above 3.53).
- ``torch``: plain ``torch.randn`` from a seeded ``torch.Generator``: the everyday baseline.
- ``distinct-K``, ``bits-b``, ``rank-r``, ``scale-P``: the sensitivity ladder
  (:mod:`qgan.noise.ladder`), the prng arm's latents with one graded defect.

Each run uses three regions (``train``, ``grid``, ``eval``) that never overlap: disjoint
ranges of the pool for ``entropy``, independent streams (a SeedSequence spawn key per arm and
region) for the others. Every arm's region has the size the layout gives the pool range, and
when the layout cycles (``train.on_exhausted: cycle``) every arm's training stream restarts
after that many normals, a whole number of steps, so each pass draws the same batches:
reuse is the same in every arm and never confounds the comparison.
Sources never touch torch's global RNG, so dropout and init stay paired across arms.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from qgan.core.errors import QganError
from qgan.noise.arms import ARMS, PRNG_SPAWN_KEY, arm_info
from qgan.noise.convert import bytes_per_uniform, bytes_to_normals
from qgan.noise.ladder import Rung, apply_defect, parse_rung, prepare
from qgan.noise.layout import REGIONS, NoiseLayout, NoisePlan, noise_layout

PRNG_BLOCK = 1 << 16  # normals converted per PRNG refill
LEGACY_BITS = 8  # the tutorial's quantisation, kept as the positive control


class NoiseExhausted(QganError):
    """A source was asked for more normals than its range holds."""


class NormalStream:
    """Base class: serves consecutive float32 normals through :meth:`take`.

    ``size`` bounds the stream (None: unbounded); with ``cycle`` the stream restarts from its
    first normal after ``size`` normals instead of stopping. ``info`` says where it reads.
    """

    def __init__(self, info: dict | None = None, size: int | None = None, cycle: bool = False):
        if cycle and not size:
            raise ValueError("a cycling stream needs a size")
        self.info, self.size, self.cycle = dict(info or {}), size, cycle
        self.drawn = 0  # normals served so far

    def _next(self, n: int) -> np.ndarray:
        """The next ``n`` normals from the current position, ``(n,) float32``."""
        raise NotImplementedError

    def _restart(self) -> None:
        """Go back to the first normal (only called when cycling)."""
        raise NotImplementedError

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` normals, ``(n,) float32``."""
        if n == 0:
            return np.empty(0, dtype=np.float32)
        if not self.cycle:
            if self.size is not None and self.drawn + n > self.size:
                raise NoiseExhausted(f"{self.describe()}: range of {self.size:,} normals exhausted: asked for "
                                     f"{n:,} more after {self.drawn:,}")
            out = self._next(n)
        else:
            parts, served = [], self.drawn
            while served < self.drawn + n:
                pos = served % self.size
                if pos == 0 and served:
                    self._restart()
                piece = min(self.drawn + n - served, self.size - pos)
                parts.append(self._next(piece))
                served += piece
            out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self.drawn += n
        return out

    def sample(self, batch: int, latent_dim: int) -> torch.Tensor:
        """``(batch, latent_dim)`` float32 latent vectors."""
        return torch.from_numpy(self.take(batch * latent_dim)).view(batch, latent_dim)

    def describe(self) -> str:
        return self.info.get("source", type(self).__name__)

    def record(self) -> dict:
        """Where the stream read and how much: ``info`` plus ``drawn`` and ``reuse_factor``
        (normals drawn per normal of the range, 1.0 when none was read twice)."""
        reuse = self.drawn / self.size if self.cycle and self.drawn > self.size else 1.0
        return {**self.info, "size": self.size, "cycle": self.cycle, "drawn": self.drawn,
                "reuse_factor": round(reuse, 6)}


class ArrayNoise(NormalStream):
    """Normals ``[start, stop)`` of an array (a memory-mapped ``normals.npy``)."""

    def __init__(self, normals: np.ndarray, start: int, stop: int, info: dict | None = None, cycle: bool = False):
        super().__init__(info, stop - start, cycle)
        if normals.dtype != np.float32 or normals.ndim != 1:
            raise QganError(f"normals must be 1-D float32, got {normals.dtype} {normals.shape}")
        if stop > len(normals):
            raise NoiseExhausted(f"the run needs normals [{start:,}, {stop:,}) but the pool gives only "
                                 f"{len(normals):,}; raise harvest.bytes or use harvest.bytes: auto")
        self.normals, self.start, self.cursor = normals, start, start

    def _next(self, n: int) -> np.ndarray:
        out = np.array(self.normals[self.cursor:self.cursor + n], dtype=np.float32)  # a copy, not a view
        self.cursor += n
        return out

    def _restart(self) -> None:
        self.cursor = self.start


class PrngNoise(NormalStream):
    """Bytes of ``numpy.random.PCG64(seed_seq)`` through :func:`bytes_to_normals`."""

    def __init__(self, seed_seq: np.random.SeedSequence, bits: int, method: str, info: dict | None = None,
                 size: int | None = None, cycle: bool = False):
        super().__init__(info, size, cycle)
        self.seed_seq, self.bits, self.method = seed_seq, bits, method
        self._restart()

    def _restart(self) -> None:
        self.rng = np.random.Generator(np.random.PCG64(self.seed_seq))
        self.buffer = np.empty(0, dtype=np.float32)

    def _next(self, n: int) -> np.ndarray:
        parts, have = [self.buffer], len(self.buffer)
        while have < n:
            raw = np.frombuffer(self.rng.bytes(PRNG_BLOCK * bytes_per_uniform(self.bits)), dtype=np.uint8)
            parts.append(bytes_to_normals(raw, self.bits, self.method))
            have += len(parts[-1])
        joined = np.concatenate(parts)
        self.buffer = joined[n:]
        return joined[:n]


class TorchNoise(NormalStream):
    """``torch.randn`` from its own ``torch.Generator`` (never the global one)."""

    def __init__(self, seed: int, info: dict | None = None, size: int | None = None, cycle: bool = False):
        super().__init__(info, size, cycle)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def _restart(self) -> None:
        self.generator.manual_seed(self.seed)

    def _next(self, n: int) -> np.ndarray:
        return torch.randn(n, generator=self.generator).numpy()


class DefectNoise(NormalStream):
    """A ladder rung: ``base.sample(B, d)`` with the rung's defect applied; it serves latent
    vectors only (a defect acts on whole rows), and counts what it drew from ``base``."""

    def __init__(self, base: NormalStream, rung: Rung, fixed: np.ndarray | None):
        super().__init__({**base.info, "defect": rung.name}, base.size, base.cycle)
        self.base, self.rung, self.fixed = base, rung, fixed

    def take(self, n: int) -> np.ndarray:
        raise QganError(f"{self.rung.name}: a ladder arm serves whole latent vectors; use sample()")

    def sample(self, batch: int, latent_dim: int) -> torch.Tensor:
        z = self.base.take(batch * latent_dim).reshape(batch, latent_dim)
        self.drawn = self.base.drawn
        return torch.from_numpy(apply_defect(self.rung, z, self.fixed))

    def record(self) -> dict:
        return {**self.base.record(), "defect": self.rung.name}


@dataclass(frozen=True)
class NoiseContext:
    """What a factory needs to build a run's source for one region."""
    seed: int                  # the run's seed
    slot: int                  # position of the seed in train.seeds (its pool slot)
    layout: NoiseLayout        # where each slot's ranges lie in the pool, and whether training cycles
    normals: np.ndarray | None  # the pool's normals (memory-mapped), for arms that read it
    bits: int                  # convert.bits
    method: str                # convert.method
    latent_dim: int = 100      # size of z (the ladder's codebooks and bases)


def _bounds(region: str, ctx: NoiseContext) -> tuple[int, int, bool]:
    """The region's pool range and whether it cycles (training only, when the layout says so)."""
    start, stop = ctx.layout.region_range(region, ctx.slot)
    return start, stop, region == "train" and ctx.layout.cycles


def entropy_noise(region: str, ctx: NoiseContext) -> NormalStream:
    if ctx.normals is None:
        raise QganError("the entropy arm needs the pool's normals.npy")
    start, stop, cycle = _bounds(region, ctx)
    w = bytes_per_uniform(ctx.bits)
    info = {"source": "pool", "normals": [start, stop], "bytes": [start * w, stop * w]}
    return ArrayNoise(ctx.normals, start, stop, info, cycle)


def _stream(arm: str, region: str, ctx: NoiseContext) -> tuple[np.random.SeedSequence, dict, int, bool]:
    """The arm's independent stream for ``region``, a record of it, its size and cycling."""
    start, stop, cycle = _bounds(region, ctx)
    key = (ARMS[arm].spawn_key, REGIONS.index(region))
    info = {"seed": ctx.seed, "spawn_key": list(key), "normals": [0, stop - start]}
    return np.random.SeedSequence(ctx.seed, spawn_key=key), info, stop - start, cycle


def prng_noise(region: str, ctx: NoiseContext, arm: str = "prng") -> NormalStream:
    seq, info, size, cycle = _stream(arm, region, ctx)
    return PrngNoise(seq, ctx.bits, ctx.method, {"source": "PCG64", **info}, size, cycle)


def legacy8_noise(region: str, ctx: NoiseContext) -> NormalStream:
    seq, info, size, cycle = _stream("legacy8", region, ctx)
    return PrngNoise(seq, LEGACY_BITS, "box_muller", {"source": "PCG64, 8-bit uniforms", **info}, size, cycle)


def rung_noise(rung: Rung, region: str, ctx: NoiseContext) -> NormalStream:
    """The prng arm's stream for ``region`` with ``rung``'s defect; its codebook or basis is
    drawn from the run's own auxiliary prng stream (spawn key ``(1, 3)``, after the regions)."""
    size = rung.aux_size(ctx.latent_dim)
    aux = np.random.SeedSequence(ctx.seed, spawn_key=(PRNG_SPAWN_KEY, len(REGIONS)))
    fixed = prepare(rung, PrngNoise(aux, ctx.bits, ctx.method).take(size), ctx.latent_dim) if size else None
    return DefectNoise(prng_noise(region, ctx), rung, fixed)


def torch_noise(region: str, ctx: NoiseContext) -> NormalStream:
    seq, info, size, cycle = _stream("torch", region, ctx)
    seed = int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))  # torch seeds are < 2^63
    return TorchNoise(seed, {"source": "torch.randn", **info}, size, cycle)


# Each registered arm's factory (:data:`qgan.noise.arms.ARMS` names them); a rung is built by :func:`rung_noise`.
FACTORIES: dict[str, Callable[[str, NoiseContext], NormalStream]] = {
    "entropy": entropy_noise,
    "prng": prng_noise,
    "prng2": lambda region, ctx: prng_noise(region, ctx, "prng2"),
    "torch": torch_noise,
    "legacy8": legacy8_noise,
}


def make_noise(arm: str, region: str, ctx: NoiseContext) -> NormalStream:
    """Build ``arm``'s source for ``region``; its :meth:`~NormalStream.record` says where it reads."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    if arm in FACTORIES:
        return FACTORIES[arm](region, ctx)
    arm_info(arm)  # one line for an unknown name or a rung out of range
    return rung_noise(parse_rung(arm), region, ctx)


def noise_context(plan: NoisePlan, n_train: int, seed: int, pool_bytes: int | None, normals: np.ndarray | None,
                  reading: bool = True, train_span: int | None = None) -> NoiseContext:
    """The context of the run with ``seed``: the layout a pool of ``pool_bytes`` allows
    (:func:`qgan.noise.layout.noise_layout`; ``reading``: the run's arm reads the pool), or the
    layout with a given ``train_span`` (a block's record, a replayed run's), and the pool's normals
    for arms that read them."""
    if seed not in plan.seeds:
        raise QganError(f"seed {seed} is not in train.seeds {list(plan.seeds)}")
    if train_span is None:
        layout = noise_layout(plan, n_train, pool_bytes, reading)
    else:
        layout = replace(noise_layout(plan, n_train), train_span=train_span)
    return NoiseContext(seed=seed, slot=plan.seeds.index(seed), layout=layout, normals=normals, bits=plan.bits,
                        method=plan.method, latent_dim=plan.latent_dim)
