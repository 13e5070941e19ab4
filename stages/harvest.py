"""DVC stage `harvest`: top the append-only entropy pool up to what training needs."""
import argparse
import sys
from pathlib import Path

from qgan.core.atomic import write_json_atomic
from qgan.core.stage import run_stage
from qgan.entropy.harvest import harvest_to_pool
from qgan.entropy.health import HealthMonitor
from qgan.entropy.sources import make_source
from qgan.gan.data import expected_train_size
from qgan.noise.layout import budget_report
from qgan.params import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--pool", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    args = ap.parse_args()
    params = load_params(args.params)
    cfg = params.harvest
    n_train = expected_train_size(params.data)
    needed = budget_report(params.noise_plan, n_train, 0)["bytes_needed"]
    target = needed if cfg.bytes == "auto" else cfg.bytes
    source = make_source(cfg)  # a missing token, URL, device or file stops here, before any write
    manifest, appended = harvest_to_pool(args.pool, args.manifest, source, target, cfg.chunk_bytes,
                                         HealthMonitor(cfg.min_entropy, cfg.stuck_after))
    report = budget_report(params.noise_plan, n_train, manifest["total_bytes"])
    write_json_atomic(args.metrics, {**report, "target_bytes": target, "appended_bytes": appended})
    kind = "emulated" if manifest.get("emulated") else "quantum" if manifest["quantum"] else "not quantum"
    print(f"harvest: pool {manifest['total_bytes']:,} bytes (needed {needed:,}, appended {appended:,}) "
          f"from {cfg.source}; pool is {kind}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
