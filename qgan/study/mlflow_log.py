"""A study in the MLflow UI: one run per study and store, beside the blocks' pipeline runs.

The run (named ``study:<name>``, tags ``qgan_role=study`` and ``qgan_study=<name>``) holds the study's
identity as params, each look as metrics at step n (``<metric>_estimate``, ``<metric>_low``,
``<metric>_high`` of arm − baseline; unbounded ends are left out), the verdict, n and the stop as tags,
and the values file and figures as artifacts. It is found by its tags, so a study continued on
another machine with the same store keeps one run, and a new store gets one with every look so far.
Each block's pipeline run is named ``study-<name>-<block>`` (the search ``tags.dvc_exp_name LIKE
'study-<name>-%'`` lists them).
"""
from __future__ import annotations

from pathlib import Path

from qgan.core import tracking

TAG_STUDY, TAG_LOOKS = "qgan_study", "looks_logged"


def study_run(root: Path, record: dict) -> tracking.RunLogger:
    """The study's run in the project's store: found by its tags, else created with the identity as params."""
    store, name = tracking.client(root), record["study"]
    found = store.search_runs([tracking.experiment_id(root)],
                              f"tags.{tracking.TAG_ROLE} = 'study' and tags.{TAG_STUDY} = '{name}'", max_results=1,
                              order_by=["attributes.start_time DESC"])
    if found:
        return tracking.RunLogger(store, found[0].info.run_id)
    run = tracking.RunLogger.start(f"study:{name}", {tracking.TAG_ROLE: "study", TAG_STUDY: name}, root)
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
                  "extractor_sha256": record["identity"].get("extractor_sha256")})
    for path in (values, *figures):
        run.log_artifact(path, "study")
    if stopped:
        run.finish()
    return run.run_id
