"""DVC stage `convert`: entropy pool -> float32 standard normals, with a randomness report."""
import argparse
import sys
from pathlib import Path

from qgan.core.atomic import write_json_atomic
from qgan.core.plots import noise_to_plot_tables, save_noise_plots
from qgan.core.stage import run_stage
from qgan.noise.convert import load_normals, pool_to_normals_file
from qgan.params import load_params
from qgan.randomness.suite import check_randomness, pool_to_byte_histogram, randomness_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pool", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="normals.npy to write")
    ap.add_argument("--metrics", type=Path, required=True, help="tests on the normals (JSON)")
    ap.add_argument("--entropy-metrics", type=Path, required=True, help="tests on the pool bytes (JSON)")
    ap.add_argument("--plots", type=Path, required=True, help="folder for the plot CSVs and noise.png")
    args = ap.parse_args()
    cfg = load_params(args.params).convert
    n = pool_to_normals_file(args.pool, args.out, cfg.bits, cfg.method)
    normals, counts = load_normals(args.out), pool_to_byte_histogram(args.pool)
    noise, entropy = randomness_report(args.pool, counts, normals, cfg.test_size, cfg.test_bits, cfg.alpha)
    try:
        warning = check_randomness(noise, entropy, cfg.fail_on_reject)
    except Exception:
        args.out.unlink()  # rejected noise never reaches training
        raise
    write_json_atomic(args.metrics, {"bits": cfg.bits, "method": cfg.method, **noise})
    write_json_atomic(args.entropy_metrics, entropy)
    save_noise_plots(noise_to_plot_tables(normals, counts), args.plots, args.plots / "noise.png")
    summary = noise["randomness"]
    print(f"convert: {n:,} normals ({cfg.bits}-bit {cfg.method}); {summary['tests']} randomness tests, "
          f"{summary['rejected']} rejected at family-wise alpha = {cfg.alpha}")
    if warning:
        print(f"convert: warning: {warning}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run_stage(main))
