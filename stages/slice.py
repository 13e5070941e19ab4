"""DVC stage `slice` (matrix over the blocks of train.seeds): one block's noise cut from the pool,
so that a train stage depends on its own normals only and appended seeds train only new blocks."""
import argparse
import sys
from pathlib import Path

from qgan.core.atomic import read_json
from qgan.core.stage import run_stage
from qgan.entropy.archive import hash_prefix
from qgan.gan.data import load_split
from qgan.noise.blocks import cut_block, write_block
from qgan.noise.convert import load_normals
from qgan.params import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--block", required=True, help='an entry of train.seeds: 5 or "0-7"')
    ap.add_argument("--data", type=Path, required=True, help="the data stage's folder (the training split's size)")
    ap.add_argument("--normals", type=Path, required=True, help="the convert stage's normals.npy")
    ap.add_argument("--manifest", type=Path, required=True, help="the pool's manifest.json")
    ap.add_argument("--pool", type=Path, required=True, help="the pool (its prefix is hashed)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the block's normals.npy and block.json")
    args = ap.parse_args()
    params = load_params(args.params)
    seeds = params.train.block_seeds(args.block)
    n_train = len(load_split(args.data, "train").labels)
    normals = load_normals(args.normals) if params.reads_pool else None
    values, record = cut_block(params.noise_plan, args.block, seeds, n_train, read_json(args.manifest),
                               lambda n: hash_prefix(args.pool, n).hexdigest(), normals)
    write_block(args.out, values, record)
    pool = record["pool"]
    print(f"slice {args.block}: normals [{record['offset']:,}, {record['offset'] + len(values):,}) for seeds "
          f"{', '.join(map(str, seeds))}; pool prefix {pool['total_bytes']:,} bytes, sha256 {pool['sha256'][:12]}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
