"""DVC stage `classifier`: train the CNN whose features the evaluation measures."""
import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from qgan.core.atomic import atomic_path, write_json_atomic
from qgan.core.runtime import make_deterministic, select_device
from qgan.core.stage import run_stage
from qgan.evaluation.classifier import accuracy, train_classifier
from qgan.gan.data import load_split
from qgan.params import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="classifier.pt to write")
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    params = load_params(args.params)
    make_deterministic(params.train.threads)
    device = select_device(params.train.device)
    train, test = load_split(args.data, "train"), load_split(args.data, "test")
    model = train_classifier(train, params.classifier, device)
    metrics = {"test_accuracy": accuracy(model, test), "train_accuracy": accuracy(model, train),
               "n_train": len(train.labels), "n_test": len(test.labels)}
    with atomic_path(args.out) as tmp:
        torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                    "config": dataclasses.asdict(params.classifier)}, tmp)
    write_json_atomic(args.metrics, metrics)
    print(f"classifier: test accuracy {metrics['test_accuracy']:.4f}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
