"""DVC stage `evaluate`: FID-LeNet of every run, paired arm differences, the report."""
import argparse
import sys

from qgan.core.stage import add_paths, paths_from, run_stage
from qgan.evaluation.evaluate import EvaluateInputs, EvaluateOutputs, ReportInputs, run_evaluation
from qgan.params import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    add_paths(ap, EvaluateInputs)
    add_paths(ap, ReportInputs)
    add_paths(ap, EvaluateOutputs, "out")
    args = ap.parse_args()
    result = run_evaluation(load_params(args.params), paths_from(args, EvaluateInputs),
                            paths_from(args, ReportInputs), paths_from(args, EvaluateOutputs, "out"))
    for arm, values in result["fid"].items():
        print(f"evaluate: {arm}: FID-LeNet mean {values['mean']:.3f} (N = {result['n_samples']})")


if __name__ == "__main__":
    sys.exit(run_stage(main))
