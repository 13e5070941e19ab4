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


def mlflow_values(metrics: tuple[str, ...], root: Path | None = None) -> dict[str, dict[int, dict[str, float]]]:
    """``values[arm][seed][metric]`` from the training runs' ``eval_<metric>`` for each of ``metrics``
    (latest per arm and seed; runs that lack one are left out)."""
    values: dict[str, dict[int, dict[str, float]]] = {}
    for run in sorted(training_runs(root), key=lambda r: r.info.start_time):
        tags, logged = run.data.tags, run.data.metrics
        if all(f"eval_{m}" in logged for m in metrics):
            values.setdefault(tags[tracking.TAG_ARM], {})[int(tags[tracking.TAG_SEED])] = {
                m: logged[f"eval_{m}"] for m in metrics}
    if not values:
        raise QganError(f"the MLflow store has no training run with {', '.join(f'eval_{m}' for m in metrics)}; "
                        "run the pipeline first")
    return values


def seconds_per_run(root: Path | None = None) -> float | None:
    """Median training seconds per run recorded in the MLflow store (None if it has none)."""
    seconds = [r.data.metrics["seconds"] for r in training_runs(root) if "seconds" in r.data.metrics]
    return statistics.median(seconds) if seconds else None
