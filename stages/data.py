"""DVC stage `data`: MNIST splits as uint8 arrays with a digest (see qgan.gan.data)."""
import argparse
import sys
from pathlib import Path

from qgan.core.stage import run_stage
from qgan.gan.data import source_to_data_dir
from qgan.params import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, required=True, help="folder for the arrays and meta.json")
    args = ap.parse_args()
    cfg = load_params(args.params).data
    meta = source_to_data_dir(cfg, args.out)
    print(f"data: {meta['n_train']} train, {meta['n_test']} test images from {cfg.source}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
