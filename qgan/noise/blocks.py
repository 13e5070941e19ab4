"""One block's noise, cut from the pool: what a train stage reads instead of the whole pool.

The seeds of a ``train.seeds`` block own consecutive slots (:mod:`qgan.noise.layout`), so the
block's noise is one range ``[b0, b1)`` of ``normals.npy``: from the first seed's slot start to
the last seed's slot end. The ``slice`` stage writes that range and a record; the train stage
depends on them, not on the pool. Appending seeds grows the pool and re-cuts every block, but an
existing block's slice and record come out byte-identical (its slots and the pool's prefix up to
``b1`` do not move), so DVC trains only the new blocks.

The record (``block.json``)::

    {"block": "0-2", "seeds": [0, 1, 2], "offset": b0, "train_span": T',
     "pool": {"total_bytes": n, "sha256": sha256 of the pool's first n bytes,
              "sources": [...], "quantum": bool, "emulated": bool}}

with ``n = min(b1 * w, pool size)`` (``w`` bytes per normal): the prefix of the append-only
pool that holds the block's bytes, shaped like a manifest so that runs record it as their pool.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from qgan.core.atomic import atomic_path, read_json, write_json_atomic
from qgan.core.errors import QganError
from qgan.noise.convert import normals_to_bytes
from qgan.noise.layout import NoisePlan, noise_layout

NORMALS = "normals.npy"  # the block's normals [b0, b1), float32
RECORD = "block.json"    # where they lie and which pool prefix holds them


class ShiftedNormals:
    """A block's normals answering in the pool's coordinates: ``x[a:b]`` is ``normals.npy[a:b]``
    for ``offset <= a <= b <= len(x)``. Quacks like the 1-D array :class:`ArrayNoise` reads."""

    def __init__(self, values: np.ndarray, offset: int):
        self.values, self.offset = values, offset
        self.dtype, self.ndim = values.dtype, 1

    def __len__(self) -> int:
        return self.offset + len(self.values)

    def __getitem__(self, key: slice) -> np.ndarray:
        if key.start is None or key.start < self.offset:
            raise QganError(f"normals from {key.start} lie before this block's slice (it starts at {self.offset:,})")
        return self.values[key.start - self.offset:key.stop - self.offset]


def prefix_manifest(manifest: dict, n_bytes: int, sha256: str) -> dict:
    """The manifest fields of the pool's first ``n_bytes`` (whose sha256 the caller hashed): size,
    sha256, and the sources and flags of the chunks that lie in it."""
    chunks = [c for c in manifest.get("chunks", []) if c["offset"] < n_bytes]
    return {"total_bytes": n_bytes, "sha256": sha256,
            "sources": sorted({c["source"] for c in chunks}),
            "quantum": bool(chunks) and all(c.get("quantum") for c in chunks),
            "emulated": any(c.get("emulated") for c in chunks)}


def cut_block(plan: NoisePlan, block: str, seeds: tuple[int, ...], n_train: int, manifest: dict,
              hash_pool: Callable[[int], str], normals: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """The block's normals ``[b0, b1)`` (empty when no arm reads the pool) and its record;
    ``hash_pool(n)`` is the sha256 of the pool's first n bytes."""
    layout = noise_layout(plan, n_train, int(manifest["total_bytes"]), plan.reads_pool)
    slots = [plan.seeds.index(s) for s in seeds]
    if slots != list(range(slots[0], slots[0] + len(slots))):
        raise QganError(f"block {block}: seeds {list(seeds)} do not hold consecutive slots of train.seeds")
    start, stop = slots[0] * layout.slot_size, (slots[-1] + 1) * layout.slot_size
    values = np.zeros(0, np.float32)
    if plan.reads_pool:
        if normals is None or len(normals) < stop:
            raise QganError(f"block {block} needs normals [{start:,}, {stop:,}) but normals.npy holds "
                            f"{0 if normals is None else len(normals):,}; re-run convert after harvest")
        values = np.array(normals[start:stop], dtype=np.float32)
    n_bytes = min(normals_to_bytes(stop, plan.bits), int(manifest["total_bytes"]))
    record = {"block": block, "seeds": list(seeds), "offset": start if plan.reads_pool else 0,
              "train_span": layout.train_span, "pool": prefix_manifest(manifest, n_bytes, hash_pool(n_bytes))}
    return values, record


def write_block(folder: Path, values: np.ndarray, record: dict) -> None:
    """``normals.npy`` and ``block.json`` into ``folder``, each atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / NORMALS) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, values)
    write_json_atomic(folder / RECORD, record)


def read_block(folder: Path) -> tuple[ShiftedNormals, dict]:
    """The block's normals (in pool coordinates) and record written by :func:`write_block`."""
    try:
        record = read_json(folder / RECORD)
        values = np.load(folder / NORMALS, mmap_mode="r")
    except (OSError, json.JSONDecodeError) as exc:
        raise QganError(f"{folder}: not a block's noise ({exc}); run the slice stage") from None
    return ShiftedNormals(values, record["offset"]), record
