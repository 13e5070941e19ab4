"""DVC stage `train` (matrix arm x block): one block of seeds of one noise arm, trained as one
group, each run logged to MLflow as its own child run."""
import argparse
import sys
import time

from qgan.core.stage import add_paths, paths_from, run_stage
from qgan.params import load_params
from qgan.pipeline.train import TrainInputs, TrainOutputs, run_train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--arm", required=True)
    ap.add_argument("--block", required=True, help='an entry of train.seeds: 5 or "0-7"')
    add_paths(ap, TrainInputs)
    add_paths(ap, TrainOutputs, "out")
    args = ap.parse_args()
    start = time.perf_counter()
    result = run_train(load_params(args.params), args.arm, args.block, paths_from(args, TrainInputs),
                       paths_from(args, TrainOutputs, "out"))
    for name, m in result.metrics.items():
        print(f"train {name}: d_loss {m['d_loss']:.3f}, g_loss {m['g_loss']:.3f}, {m['normals_drawn']:,} normals, "
              f"generator sha256 {m['generator_sha256'][:12]}")
    steps = sum(m["steps"] for m in result.metrics.values())
    total = time.perf_counter() - start
    print(f"train {args.arm}-{args.block}: training loop {result.loop_seconds:.1f} s for {steps:,} model-steps "
          f"({steps / result.loop_seconds:.1f} per second); {total - result.loop_seconds:.1f} s around it "
          "(inputs, MLflow, figures, checkpoints)")


if __name__ == "__main__":
    sys.exit(run_stage(main))
