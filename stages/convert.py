"""DVC stage `convert`: entropy pool -> float32 standard normals, with a randomness report."""
import argparse
import sys
from pathlib import Path

from qgan.core.stage import run_stage
from qgan.params import load_params
from qgan.pipeline.convert import run_convert


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pool", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="normals.npy to write")
    ap.add_argument("--metrics", type=Path, required=True, help="tests on the normals (JSON)")
    ap.add_argument("--entropy-metrics", type=Path, required=True, help="tests on the pool bytes (JSON)")
    ap.add_argument("--plots", type=Path, required=True, help="folder for the plot CSVs and noise.png")
    args = ap.parse_args()
    params = load_params(args.params)
    n, noise, warning = run_convert(params, args.pool, args.out, args.metrics, args.entropy_metrics, args.plots)
    cfg, summary = params.convert, noise["randomness"]
    print(f"convert: {n:,} normals ({cfg.bits}-bit {cfg.method}); {summary['tests']} randomness tests, "
          f"{summary['rejected']} rejected at family-wise alpha = {cfg.alpha}")
    if warning:
        print(f"convert: warning: {warning}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_stage(main))
