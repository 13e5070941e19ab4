"""DVC stage `classifier`: train the CNN whose features the evaluation measures (the feature extractor)."""
import argparse
import sys
from pathlib import Path

from qgan.core.stage import run_stage
from qgan.params import load_params
from qgan.pipeline.classifier import run_classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="classifier.pt to write")
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    metrics = run_classifier(load_params(args.params), args.data, args.out, args.metrics)
    print(f"classifier: test accuracy {metrics['test_accuracy']:.4f}, extractor sha256 "
          f"{metrics['extractor_sha256'][:16]}... ({metrics['numerics']['numerics']} CPU numerics)")


if __name__ == "__main__":
    sys.exit(run_stage(main))
