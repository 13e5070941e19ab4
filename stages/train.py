"""DVC stage `train` (matrix arm x seed): one GAN on one noise arm, logged to MLflow."""
import argparse
import sys

from qgan.core.stage import add_paths, paths_from, run_stage
from qgan.gan.run import TrainInputs, TrainOutputs, run_training
from qgan.params import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--arm", required=True)
    ap.add_argument("--seed", type=int, required=True)
    add_paths(ap, TrainInputs)
    add_paths(ap, TrainOutputs, "out")
    args = ap.parse_args()
    metrics = run_training(load_params(args.params), args.arm, args.seed, paths_from(args, TrainInputs),
                           paths_from(args, TrainOutputs, "out"))
    print(f"train {args.arm}-{args.seed}: d_loss {metrics['d_loss']:.3f}, g_loss {metrics['g_loss']:.3f}, "
          f"{metrics['normals_drawn']:,} normals, generator sha256 {metrics['generator_sha256'][:12]}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
