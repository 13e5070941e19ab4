"""The evaluation on MLflow: each run's metrics on its own training run, the verdicts on the
pipeline's parent run (metrics, tags, and the verdict summary as the run's description)."""
from __future__ import annotations

import json
from pathlib import Path

from qgan.core import tracking
from qgan.core.metric_registry import METRICS
from qgan.decision.verdict_text import verdicts_to_markdown
from qgan.params import Params

DESCRIPTION_TAG = "mlflow.note.content"  # what the MLflow UI shows as a run's description


def log_evaluation(result: dict, checkpoints: dict[tuple[str, int], dict], params: Params, manifest: dict,
                   data_digest: str, artifacts: list[Path]) -> None:
    """Each run's ``eval_<metric>``; on the parent run the per-arm means (``<arm>/<metric>``), each
    comparison's family endpoints' estimates (median or mean: tag ``estimand.<pair>``) and intervals
    (``<arm>_vs_<baseline>/primary_*`` and ``/diversity_*``), the family's verdict (tag
    ``verdict.<pair>``), the description, the metrics file and figures; then the parent is finished."""
    children = []
    for (arm, seed), checkpoint in checkpoints.items():
        run = tracking.RunLogger.find_training(arm, seed, checkpoint["generator_sha256"])
        if run is None:  # the store may have been reset since training
            print(f"warning: no MLflow training run of {arm}-{seed} with this generator; metrics not logged")
            continue
        children.append(run.run_id)
        v, extra = result["values"][arm][str(seed)], result["runs"][f"{arm}-{seed}"]
        run.log_metrics([("fid_lenet", v["fid"], 0), ("eval_n_samples", result["n_samples"], 0),
                         ("eval_kid_std", extra["kid_std"], 0), *((f"eval_{m}", v[m], 0) for m in METRICS)])
        run.set_tags({"noise_eval": json.dumps(result["noise"][f"{arm}-{seed}"]["eval"]),
                      tracking.TAG_EXTRACTOR: result["extractor"]["sha256"]})
    parent = tracking.RunLogger.open_pipeline(params.flat(), manifest, data_digest)
    rows = [(f"{arm}/{m}", s["mean"], 0) for arm, per in result["summary"].items() for m, s in per.items()]
    tags = {"evaluated_runs": ",".join(children), "eval_n_samples": result["n_samples"],
            tracking.TAG_EXTRACTOR: result["extractor"]["sha256"]}
    if result["verdicts"]:
        for pair, c in result["verdicts"]["comparisons"].items():
            for role in ("primary", "diversity"):
                e = c.get(role)
                rows += [(f"{pair}/{role}_{k}", x, 0) for k, x in (
                    ("diff", e["estimate"]), ("low", e["interval"][0]), ("high", e["interval"][1]), ("mde", e["mde"]))
                    if x is not None] if e else []
            tags[f"verdict.{pair}"], tags[f"estimand.{pair}"] = c["verdict"], c["primary"]["estimand"]
        tags[DESCRIPTION_TAG] = verdicts_to_markdown(result)
    parent.log_metrics(rows)
    parent.set_tags(tags)
    for path in artifacts:
        if path.exists():
            parent.log_artifact(path, "evaluation")
    parent.finish()
