"""The ``harvest`` stage: top the append-only entropy pool up to what the configured runs draw.

The one stage that builds an entropy source (:func:`qgan.entropy.sources.make_source`), so the
one that depends on the HTTP client.
"""
from __future__ import annotations

from pathlib import Path

from qgan.core.atomic import write_json_atomic
from qgan.entropy.harvest import harvest_to_pool
from qgan.entropy.health import HealthMonitor
from qgan.entropy.sources import make_source
from qgan.gan.data import expected_train_size
from qgan.noise.layout import budget_report
from qgan.params import Params


def run_harvest(params: Params, pool: Path, manifest_path: Path, metrics: Path) -> tuple[dict, dict]:
    """Append to ``pool`` until it holds ``harvest.bytes`` (``auto``: what the runs need); write
    the budget report to ``metrics``. A missing token, URL, device or file stops before any write.
    Returns the report (what ``metrics`` holds) and the pool's manifest."""
    cfg = params.harvest
    n_train = expected_train_size(params.data)
    needed = budget_report(params.noise_plan, n_train, 0)["bytes_needed"]
    target = needed if cfg.bytes == "auto" else cfg.bytes
    source = make_source(cfg)
    manifest, appended = harvest_to_pool(pool, manifest_path, source, target, cfg.chunk_bytes,
                                         HealthMonitor(cfg.min_entropy, cfg.stuck_after))
    report = {**budget_report(params.noise_plan, n_train, manifest["total_bytes"]), "target_bytes": target,
              "appended_bytes": appended}
    write_json_atomic(metrics, report)
    return report, manifest
