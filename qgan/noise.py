"""Latent noise sources: one interface, a small registry keyed by arm name.

Every source serves ``sample(batch, latent_dim) -> Tensor (batch, latent_dim)`` float32
and counts what it drew. Arms:

- ``entropy``: consecutive normals from the run's own range of ``normals.npy`` (the pool).
- ``prng``: bytes from a seeded PCG64 generator, converted by the *same*
  :func:`qgan.convert.bytes_to_normals` as the pool, so only the byte origin differs.
- ``prng2``: the same, from an independent PCG64 stream: a negative control (it must come out
  no different from ``prng``).
- ``legacy8``: PCG64 bytes through the seed tutorial's 8-bit quantisation (``bits: 8``, without
  its ``log(0)``): a positive control (256 radii, no ``|z|`` above 3.53).
- ``torch``: plain ``torch.randn`` from a seeded ``torch.Generator``: the everyday baseline.

Each run uses three regions (``train``, ``grid``, ``eval``) that never overlap: disjoint
ranges of the pool for ``entropy``, independent streams (a SeedSequence spawn key per arm and
region) for the others.
Sources never touch torch's global RNG, so dropout and init stay paired across arms.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from qgan.budget import NoiseLayout, noise_layout
from qgan.convert import bytes_per_uniform, bytes_to_normals
from qgan.errors import QganError

REGIONS = ("train", "grid", "eval")
PRNG_BLOCK = 1 << 16  # normals converted per PRNG refill
PRNG_SPAWN_KEY = 1  # first spawn-key word of the prng arm; the second is the region
SPAWN_KEYS = {"prng": PRNG_SPAWN_KEY, "prng2": 2, "torch": 3, "legacy8": 4}  # one independent stream per arm
LEGACY_BITS = 8  # the seed tutorial's quantisation, kept as the positive control


class NoiseExhausted(QganError):
    """A source was asked for more normals than its range holds."""


class NormalStream:
    """Base class: serves consecutive float32 normals through :meth:`take`."""

    def __init__(self):
        self.drawn = 0  # normals served so far

    def _next(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` normals, ``(n,) float32``."""
        out = self._next(n)
        self.drawn += n
        return out

    def sample(self, batch: int, latent_dim: int) -> torch.Tensor:
        """``(batch, latent_dim)`` float32 latent vectors."""
        return torch.from_numpy(self.take(batch * latent_dim)).view(batch, latent_dim)


class ArrayNoise(NormalStream):
    """Normals ``[start, stop)`` of an array (a memory-mapped ``normals.npy``)."""

    def __init__(self, normals: np.ndarray, start: int, stop: int):
        super().__init__()
        if normals.dtype != np.float32 or normals.ndim != 1:
            raise QganError(f"normals must be 1-D float32, got {normals.dtype} {normals.shape}")
        if stop > len(normals):
            raise NoiseExhausted(f"the run needs normals [{start}, {stop}) but the pool gives only "
                                 f"{len(normals)}; raise harvest.bytes or use harvest.bytes: auto")
        self.normals, self.start, self.stop = normals, start, stop

    def _next(self, n: int) -> np.ndarray:
        pos = self.start + self.drawn
        if pos + n > self.stop:
            raise NoiseExhausted(f"range [{self.start}, {self.stop}) exhausted: asked for {n} "
                                 f"more normals after {self.drawn}")
        return np.array(self.normals[pos:pos + n], dtype=np.float32)  # a copy, not a view of the file


class PrngNoise(NormalStream):
    """Bytes of ``numpy.random.PCG64(seed_seq)`` through :func:`bytes_to_normals`."""

    def __init__(self, seed_seq: np.random.SeedSequence, bits: int, method: str):
        super().__init__()
        self.rng = np.random.Generator(np.random.PCG64(seed_seq))
        self.bits, self.method = bits, method
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


@dataclass(frozen=True)
class NoiseContext:
    """What a factory needs to build a run's source for one region."""
    seed: int                  # the run's seed
    slot: int                  # position of the seed in train.seeds (its pool slot)
    layout: NoiseLayout        # where each slot's ranges lie in the pool
    normals: np.ndarray | None  # the pool's normals (memory-mapped), for arms that read it
    bits: int                  # convert.bits
    method: str                # convert.method


def entropy_noise(region: str, ctx: NoiseContext) -> tuple[NormalStream, dict]:
    if ctx.normals is None:
        raise QganError("the entropy arm needs the pool's normals.npy")
    start, stop = getattr(ctx.layout, f"{region}_range")(ctx.slot)
    return ArrayNoise(ctx.normals, start, stop), {"source": "pool", "range": [start, stop]}


class TorchNoise(NormalStream):
    """``torch.randn`` from its own ``torch.Generator`` (never the global one)."""

    def __init__(self, seed: int):
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)

    def _next(self, n: int) -> np.ndarray:
        return torch.randn(n, generator=self.generator).numpy()


def _stream(arm: str, region: str, ctx: NoiseContext) -> tuple[np.random.SeedSequence, tuple]:
    key = (SPAWN_KEYS[arm], REGIONS.index(region))
    return np.random.SeedSequence(ctx.seed, spawn_key=key), key


def prng_noise(region: str, ctx: NoiseContext, arm: str = "prng") -> tuple[NormalStream, dict]:
    seq, key = _stream(arm, region, ctx)
    return PrngNoise(seq, ctx.bits, ctx.method), {"source": "PCG64", "seed": ctx.seed, "spawn_key": list(key)}


def legacy8_noise(region: str, ctx: NoiseContext) -> tuple[NormalStream, dict]:
    seq, key = _stream("legacy8", region, ctx)
    return PrngNoise(seq, LEGACY_BITS, "box_muller"), {"source": "PCG64, 8-bit uniforms", "seed": ctx.seed,
                                                       "spawn_key": list(key)}


def torch_noise(region: str, ctx: NoiseContext) -> tuple[NormalStream, dict]:
    seq, key = _stream("torch", region, ctx)
    seed = int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))  # torch seeds are < 2^63
    return TorchNoise(seed), {"source": "torch.randn", "seed": ctx.seed, "spawn_key": list(key)}


NOISE_SOURCES: dict[str, Callable[[str, NoiseContext], tuple[NormalStream, dict]]] = {
    "entropy": entropy_noise, "prng": prng_noise,
    "prng2": lambda region, ctx: prng_noise(region, ctx, "prng2"),
    "legacy8": legacy8_noise, "torch": torch_noise}


def make_noise(arm: str, region: str, ctx: NoiseContext) -> tuple[NormalStream, dict]:
    """Build ``arm``'s source for ``region``; returns it and a record of where it reads."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    try:
        factory = NOISE_SOURCES[arm]
    except KeyError:
        raise QganError(f"train.arms: unknown arm {arm!r} (known: {', '.join(NOISE_SOURCES)})") from None
    return factory(region, ctx)


def noise_context(params, n_train: int, seed: int, normals: np.ndarray | None) -> NoiseContext:
    """The context of the run with ``seed``, from the params and the training-set size."""
    return NoiseContext(seed=seed, slot=params.train.seeds.index(seed), layout=noise_layout(params, n_train),
                        normals=normals, bits=params.convert.bits, method=params.convert.method)
