"""DVC stage `evaluate`: every metric of every run, and the verdicts (each arm against the baseline arm, prng;
one primary endpoint)."""
import argparse
import sys
from pathlib import Path

from qgan.core.stage import add_paths, paths_from, run_stage
from qgan.decision.verdict_text import interval_text
from qgan.params import load_params
from qgan.pipeline.evaluate import EvaluateInputs, EvaluateOutputs, run_evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--classifier-metrics", type=Path, required=True, help="metrics/classifier.json")
    add_paths(ap, EvaluateInputs)
    add_paths(ap, EvaluateOutputs, "out")
    args = ap.parse_args()
    result = run_evaluate(load_params(args.params), paths_from(args, EvaluateInputs), args.classifier_metrics,
                          paths_from(args, EvaluateOutputs, "out"))
    for arm, per in result["summary"].items():
        print(f"evaluate: {arm}: FID-LeNet mean {per['fid']['mean']:.3f} (N = {result['n_samples']})")
    for name, c in (result["verdicts"] or {"comparisons": {}})["comparisons"].items():
        p = c["primary"]
        print(f"evaluate: {name}: {p['verdict']} ({p['metric']} difference {interval_text(p)}, n = {p['n_seeds']})")


if __name__ == "__main__":
    sys.exit(run_stage(main))
