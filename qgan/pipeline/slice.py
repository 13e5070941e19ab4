"""The ``slice`` stage (one per block of ``train.seeds``): a block's noise cut from the pool, so that
a train stage depends on its own normals only and appended seeds train only new blocks."""
from __future__ import annotations

from pathlib import Path

from qgan.core.atomic import read_json
from qgan.entropy.archive import hash_prefix
from qgan.gan.data import load_split
from qgan.noise.blocks import cut_block, write_block
from qgan.noise.convert import load_normals
from qgan.params import Params


def run_slice(params: Params, block: str, data: Path, normals_path: Path, manifest: Path, pool: Path, out: Path
              ) -> tuple[tuple[int, ...], int, dict]:
    """Cut block ``block``'s normals (the arms that read the pool need them) with its record (offset,
    training span, the pool prefix that holds it) into ``out``. Returns the seeds, the number of
    normals and the record."""
    seeds = params.train.seeds_of(block)
    n_train = len(load_split(data, "train").labels)
    normals = load_normals(normals_path) if params.reads_pool else None
    values, record = cut_block(params.noise_plan, block, seeds, n_train, read_json(manifest),
                               lambda n: hash_prefix(pool, n).hexdigest(), normals)
    write_block(out, values, record)
    return seeds, len(values), record
