"""The sweep's MLflow bookkeeping: the parent run opened before any fan-out, one child per run after it.

Workers find the pipeline's parent run by its key (:meth:`qgan.core.tracking.RunLogger.open_pipeline`),
so the head opens it first: two workers starting at once would otherwise each create one. A
worker killed mid-item leaves its children RUNNING, and a retry (or a duplicate completion after a
lost worker) makes new ones; :func:`children_kept_once` leaves exactly one child per (arm, seed)
under the parent, the newest finished one, and deletes the others (MLflow's soft delete: they
can be restored, and searches skip them).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from qgan.core import tracking
from qgan.core.atomic import read_json
from qgan.entropy.archive import read_manifest
from qgan.params import load_params

MANIFEST = Path("data/entropy/manifest.json")  # the harvest stage's outputs (dvc.yaml)
DATA_META = Path("data/mnist/meta.json")       # the data stage's digest


def open_parent(root: Path) -> tracking.RunLogger:
    """The parent run the items' train stages will find (created now if none is running)."""
    params = load_params(root / "params.yaml")
    return tracking.RunLogger.open_pipeline(params.flat(), read_manifest(root / MANIFEST),
                                            read_json(root / DATA_META)["digest"], root)


def children_of(parent: tracking.RunLogger, root: Path) -> list:
    """The parent's active training runs."""
    store = parent.client
    return store.search_runs([tracking.ensure_experiment(store, root)],
                             f"tags.`{tracking.TAG_PARENT}` = '{parent.run_id}' and "
                             f"tags.{tracking.TAG_ROLE} = 'training'", max_results=50_000)


def children_kept_once(parent: tracking.RunLogger, root: Path) -> dict[str, int]:
    """Delete all but the newest FINISHED child of each (arm, seed) that has one; counts of kept and deleted."""
    groups = defaultdict(list)
    for run in children_of(parent, root):
        groups[(run.data.tags.get(tracking.TAG_ARM), run.data.tags.get(tracking.TAG_SEED))].append(run)
    kept = deleted = 0
    for runs in groups.values():
        finished = sorted((r for r in runs if r.info.status == "FINISHED"), key=lambda r: r.info.start_time)
        if not finished:
            continue
        kept += 1
        for run in runs:
            if run.info.run_id != finished[-1].info.run_id:
                parent.client.delete_run(run.info.run_id)
                deleted += 1
    return {"kept": kept, "deleted": deleted}
