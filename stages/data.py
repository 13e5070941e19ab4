"""DVC stage `data`: MNIST splits as uint8 arrays with a digest (see qgan.data)."""
import argparse
import sys
from pathlib import Path

from qgan.data import load_source, save_splits, subsample
from qgan.params import load_params
from qgan.stage import run_stage


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, required=True, help="folder for the arrays and meta.json")
    args = ap.parse_args()
    cfg = load_params(args.params).data
    train, test = load_source(cfg)
    train = subsample(train, cfg.n_train, cfg.split_seed, "n_train")
    test = subsample(test, cfg.n_test, cfg.split_seed, "n_test")
    meta = save_splits(args.out, train, test, cfg)
    print(f"data: {meta['n_train']} train, {meta['n_test']} test images from {cfg.source}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
