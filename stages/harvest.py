"""DVC stage `harvest`: top the append-only entropy pool up to what training needs."""
import argparse
import sys
from pathlib import Path

from qgan.core.stage import run_stage
from qgan.params import load_params
from qgan.pipeline.harvest import run_harvest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pool", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    params = load_params(args.params)
    report, manifest = run_harvest(params, args.pool, args.manifest, args.metrics)
    kind = "emulated" if manifest.get("emulated") else "quantum" if manifest["quantum"] else "not quantum"
    print(f"harvest: pool {manifest['total_bytes']:,} bytes (needed {report['bytes_needed']:,}, appended "
          f"{report['appended_bytes']:,}) from {params.harvest.source}; pool is {kind}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
