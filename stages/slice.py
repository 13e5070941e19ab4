"""DVC stage `slice` (matrix over the blocks of train.seeds): one block's noise cut from the pool,
so that a train stage depends on its own normals only and appended seeds train only new blocks."""
import argparse
import sys
from pathlib import Path

from qgan.core.stage import run_stage
from qgan.params import load_params
from qgan.pipeline.slice import run_slice


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
    seeds, n, record = run_slice(load_params(args.params), args.block, args.data, args.normals, args.manifest,
                                 args.pool, args.out)
    pool = record["pool"]
    print(f"slice {args.block}: normals [{record['offset']:,}, {record['offset'] + n:,}) for seeds "
          f"{', '.join(map(str, seeds))}; pool prefix {pool['total_bytes']:,} bytes, sha256 {pool['sha256'][:12]}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
