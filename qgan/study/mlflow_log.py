"""A study in the MLflow UI: one run per study and store, beside the blocks' pipeline runs.

The run (named ``study:<name>``, tags ``qgan_role=study``, ``qgan_study=<name>`` and a digest of the
study's identity) holds the study's
identity as params, each look as metrics at step n (``<metric>_estimate``, ``<metric>_low``,
``<metric>_high`` of arm − baseline; unbounded ends are left out), the verdict, n and the stop as tags,
and the values file and figures as artifacts. It is found by its tags, so a study continued on
another machine with the same store keeps one run, and a new store gets one with every look so far.
Each block's pipeline run is named ``study-<name>-<block>`` (the search ``tags.dvc_exp_name LIKE
'study-<name>-%'`` lists them).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from qgan.core import tracking
from qgan.study.record import INSTRUMENT

TAG_STUDY, TAG_IDENTITY, TAG_LOOKS = "qgan_study", "study_identity", "looks_logged"


def identity_hash(record: dict) -> str:
    """A digest of the study's identity: a study restarted under its old name gets a run of its own."""
    ident = {k: v for k, v in record["identity"].items() if k not in INSTRUMENT}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def study_run(root: Path, record: dict) -> tracking.RunLogger:
    """The study's run in the project's store: found by its tags, else created with the identity as params."""
    store, name, ident = tracking.client(root), record["study"], identity_hash(record)
    found = store.search_runs([tracking.experiment_id(root)],
                              f"tags.{tracking.TAG_ROLE} = 'study' and tags.{TAG_STUDY} = '{name}' and "
                              f"tags.{TAG_IDENTITY} = '{ident}'", max_results=1,
                              order_by=["attributes.start_time DESC"])
    if found:
        return tracking.RunLogger(store, found[0].info.run_id)
    run = tracking.RunLogger.start(f"study:{name}", {tracking.TAG_ROLE: "study", TAG_STUDY: name,
                                                     TAG_IDENTITY: ident}, root)
    ident = record["identity"]
    run.log_params({**{f"study.{k}": v for k, v in {**ident["arms"], **ident["seeds"]}.items()},
                    **{f"evaluate.{k}": v for k, v in ident["design"].items()}, **ident["recipe"]})
    return run


def log_study(root: Path, record: dict, figures: list[Path], values: Path) -> str:
    """Log the looks the run does not hold yet, the verdict and stop, and the artifacts; the run's id."""
    run = study_run(root, record)
    logged = int(run.client.get_run(run.run_id).data.tags.get(TAG_LOOKS, 0))
    rows = []
    for look in record["looks"][logged:]:
        for e in look["endpoints"]:
            rows += [(f"{e['metric']}_{part}", x, look["n"])
                     for part, x in (("estimate", e["estimate"]), ("low", e["interval"][0]),
                                     ("high", e["interval"][1])) if x is not None]
    run.log_metrics(rows)
    last, stopped = (record["looks"] or [{}])[-1], record.get("stopped")
    run.set_tags({TAG_LOOKS: len(record["looks"]), "verdict": last.get("verdict", "none"), "n": last.get("n", 0),
                  "stopped": stopped["reason"] if stopped else "no",
                  **{k: record["identity"].get(k) or "" for k in INSTRUMENT}})
    for path in (values, *figures):
        run.log_artifact(path, "study")
    if stopped:
        run.finish()
    return run.run_id
