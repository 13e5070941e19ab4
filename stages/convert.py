"""DVC stage `convert`: entropy pool -> float32 standard normals, with their statistics."""
import argparse
import sys
from pathlib import Path

from qgan.atomic import write_json_atomic
from qgan.convert import load_normals, normals_to_stats, pool_to_normals_file
from qgan.params import load_params
from qgan.plots import save_noise_figure
from qgan.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pool", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="normals.npy to write")
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--figure", type=Path, required=True)
    args = ap.parse_args()
    cfg = load_params(args.params).convert
    n = pool_to_normals_file(args.pool, args.out, cfg.bits, cfg.method)
    normals = load_normals(args.out)
    stats = normals_to_stats(normals, cfg.test_size)
    write_json_atomic(args.metrics, {**stats, "bits": cfg.bits, "method": cfg.method})
    save_noise_figure(normals, args.figure)
    print(f"convert: {n:,} normals ({cfg.bits}-bit {cfg.method})"
          + (f", KS p = {stats['ks_pvalue']:.3f}" if "ks_pvalue" in stats else ""))


if __name__ == "__main__":
    sys.exit(run_stage(main))
