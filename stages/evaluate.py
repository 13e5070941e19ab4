"""DVC stage `evaluate`: FID-LeNet of every run, paired arm differences, the report."""
import argparse
import sys
from pathlib import Path

from qgan.params import load_params
from qgan.evaluation.evaluate import run_evaluation
from qgan.core.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    for name in ("data", "models", "classifier", "normals", "manifest", "noise-metrics", "entropy-metrics",
                 "noise-figure",
                 "classifier-metrics", "train-dir", "out-metrics", "out-report", "figures"):
        ap.add_argument(f"--{name}", type=Path, required=True)
    a = ap.parse_args()
    result = run_evaluation(load_params(a.params), a.data, a.models, a.classifier, a.normals, a.manifest,
                            a.noise_metrics, a.entropy_metrics, a.noise_figure, a.classifier_metrics, a.train_dir,
                            a.out_metrics, a.out_report, a.figures)
    for arm, values in result["fid"].items():
        print(f"evaluate: {arm}: FID-LeNet mean {values['mean']:.3f} (N = {result['n_samples']})")


if __name__ == "__main__":
    sys.exit(run_stage(main))
