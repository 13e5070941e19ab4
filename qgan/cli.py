"""The ``qgan`` command. The one module of the package that parses arguments."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qgan.stage import run_stage


def cmd_budget(args: argparse.Namespace) -> None:
    """Print how much noise each run draws, and what the pool holds and lacks."""
    from qgan.budget import budget_report
    from qgan.data import expected_train_size
    from qgan.params import load_params

    params = load_params(args.params)
    pool = Path(args.pool)
    size = pool.stat().st_size if pool.exists() else 0
    r = budget_report(params, expected_train_size(params.data), size)
    rows = [
        ("training images", f"{r['n_train']:,}"),
        ("normals per run: training", f"{r['train_normals']:,}"),
        ("normals per run: sample grid", f"{r['grid_normals']:,}"),
        ("normals per run: evaluation", f"{r['eval_normals']:,}"),
        ("normals per run: total", f"{r['normals_per_run']:,}"),
        ("bytes per normal", f"{r['bytes_per_normal']} ({params.convert.bits}-bit uniforms)"),
        ("bytes per entropy run", f"{r['bytes_per_run']:,}"),
        ("entropy runs", f"{r['entropy_runs']} (arms {', '.join(params.train.arms)} x seeds "
                         f"{', '.join(map(str, params.train.seeds))})"),
        ("bytes needed", f"{r['bytes_needed']:,}"),
        ("pool", f"{r['pool_bytes']:,} bytes ({pool})"),
        ("deficit", f"{r['deficit_bytes']:,} bytes"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qgan", description="qgan: QRNG vs PRNG latent noise for GANs, run by DVC and tracked by MLflow. "
                                 "The pipeline itself runs with `dvc repro`.")
    parser.add_argument("--version", action="version", version=f"qgan {__import__('qgan').__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    budget = sub.add_parser("budget", help="normals and bytes each run draws; pool size and deficit")
    budget.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    budget.add_argument("--pool", default="data/entropy/pool.bin", help="entropy pool (default: %(default)s)")
    budget.set_defaults(func=cmd_budget)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_stage(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
