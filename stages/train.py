"""DVC stage `train` (matrix arm x seed): one GAN on one noise arm, logged to MLflow."""
import argparse
import sys
from pathlib import Path

from qgan.params import load_params
from qgan.gan.run import run_training
from qgan.core.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--arm", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--normals", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--out-model", type=Path, required=True)
    ap.add_argument("--out-metrics", type=Path, required=True)
    ap.add_argument("--out-dir", type=Path, required=True, help="folder for samples.png and losses")
    args = ap.parse_args()
    metrics = run_training(load_params(args.params), args.arm, args.seed, args.data, args.normals,
                           args.manifest, args.out_model, args.out_metrics, args.out_dir)
    print(f"train {args.arm}-{args.seed}: d_loss {metrics['d_loss']:.3f}, g_loss {metrics['g_loss']:.3f}, "
          f"{metrics['normals_drawn']:,} normals, generator sha256 {metrics['generator_sha256'][:12]}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
