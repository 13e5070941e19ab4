"""One child per (arm, seed) under the sweep's parent, whatever retries and lost workers left behind."""
from __future__ import annotations

import pytest

from qgan.core import tracking
from qgan.sweep.mlflow_runs import children_kept_once, children_of

pytestmark = pytest.mark.integration  # subprocesses, real git/DVC repos or a real MLflow store


def child(parent, arm: str, seed: int, root, status: str | None) -> str:
    run = tracking.RunLogger.start(f"{arm}-{seed}", {tracking.TAG_PARENT: parent.run_id, tracking.TAG_ROLE: "training",
                                                     tracking.TAG_ARM: arm, tracking.TAG_SEED: seed}, root)
    if status:
        run.client.set_terminated(run.run_id, status)
    return run.run_id


def test_killed_and_duplicate_attempts_are_deleted_and_the_newest_finished_child_is_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    parent = tracking.RunLogger.start("workspace@x", {tracking.TAG_ROLE: "pipeline"}, tmp_path)
    other = tracking.RunLogger.start("workspace@y", {tracking.TAG_ROLE: "pipeline"}, tmp_path)
    killed = child(parent, "prng", 0, tmp_path, None)            # a worker SIGKILLed mid-item: left RUNNING
    first = child(parent, "prng", 0, tmp_path, "FINISHED")       # a duplicate completion ...
    kept = child(parent, "prng", 0, tmp_path, "FINISHED")        # ... and the newest one
    failed = child(parent, "entropy", 0, tmp_path, "FAILED")     # failed, then retried successfully
    retried = child(parent, "entropy", 0, tmp_path, "FINISHED")
    lonely = child(parent, "entropy", 1, tmp_path, None)          # never finished: left alone (item failed)
    elsewhere = child(other, "prng", 0, tmp_path, "FINISHED")     # another pipeline run's child: not ours

    assert children_kept_once(parent, tmp_path) == {"kept": 2, "deleted": 3}
    left = {r.info.run_id for r in children_of(parent, tmp_path)}
    assert left == {kept, retried, lonely}
    assert not {killed, first, failed} & left
    assert {r.info.run_id for r in children_of(other, tmp_path)} == {elsewhere}
    assert parent.client.get_run(killed).info.lifecycle_stage == "deleted"   # soft delete: restorable
    assert children_kept_once(parent, tmp_path) == {"kept": 2, "deleted": 0}  # idempotent
