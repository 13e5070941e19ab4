"""The training runs the MLflow store holds, read for ``qgan plan``: per-seed values and seconds per run."""
from __future__ import annotations

import statistics
from pathlib import Path

from qgan.core import tracking
from qgan.core.errors import QganError


def training_runs(root: Path | None = None) -> list:
    """Every training run of the project's MLflow experiment."""
    root = root or tracking.project_root()
    return tracking.client(root).search_runs([tracking.experiment_id(root)], f"tags.{tracking.TAG_ROLE} = 'training'",
                                             max_results=50_000)


def mlflow_values(metric: str, root: Path | None = None) -> dict[str, dict[int, dict[str, float]]]:
    """``values[arm][seed][metric]`` from the training runs' ``eval_<metric>`` (latest per arm and seed)."""
    values: dict[str, dict[int, dict[str, float]]] = {}
    for run in sorted(training_runs(root), key=lambda r: r.info.start_time):
        tags, metrics = run.data.tags, run.data.metrics
        if f"eval_{metric}" in metrics:
            values.setdefault(tags[tracking.TAG_ARM], {})[int(tags[tracking.TAG_SEED])] = {
                metric: metrics[f"eval_{metric}"]}
    if not values:
        raise QganError(f"the MLflow store has no training run with eval_{metric}; run the pipeline first")
    return values


def seconds_per_run(root: Path | None = None) -> float | None:
    """Median training seconds per run recorded in the MLflow store (None if it has none)."""
    seconds = [r.data.metrics["seconds"] for r in training_runs(root) if "seconds" in r.data.metrics]
    return statistics.median(seconds) if seconds else None
