"""The whole comparison fed with synthetic feature sets: features -> every metric -> verdicts."""
from dataclasses import replace

import numpy as np
import pytest

from qgan.core import tracking
from qgan.core.metric_registry import METRICS
from qgan.decision.verdict import Design, values_to_csv_rows, values_to_verdicts
from qgan.scoring.metrics import features_to_metrics
from tests.conftest import ROOT, evaluate_in, report_in, run_of, train_in

SEEDS, N, D = 5, 800, 16


def scores_of(real: np.ndarray, arms: dict[str, float], seed: int) -> dict:
    """Per arm and seed: features drawn like the real ones, shifted by the arm's offset, and
    confident class probabilities spread over 10 classes."""
    rng = np.random.default_rng(seed)
    scores = {}
    for arm, shift in arms.items():
        for s in range(SEEDS):
            fake = rng.standard_normal((N, D)) + shift
            probs = np.eye(10)[rng.integers(0, 10, N)] * 0.9 + 0.01
            scores.setdefault(arm, {})[s] = features_to_metrics(real, fake, probs, kid_subsets=10, kid_subset_size=400)
    return scores


def judged(scores: dict, inference: str = "fixed") -> dict[str, str]:
    """``{metric: verdict}`` of entropy vs prng, the primary's and each secondary's."""
    values = {arm: {s: {k: m[k] for k in METRICS} for s, m in per.items()} for arm, per in scores.items()}
    c = values_to_verdicts(values, Design(margin=50.0, inference=inference))["comparisons"]["entropy_vs_prng"]
    return {"fid": c["primary"]["verdict"], "coverage": c["diversity"]["verdict"],
            **{m: x["verdict"] for m, x in c["secondary"].items()}}


def test_a_known_shift_is_called_worse_and_one_distribution_is_never_called_better():
    real = np.random.default_rng(0).standard_normal((N, D))
    shifted = judged(scores_of(real, {"entropy": 0.4, "prng": 0.0}, 1))
    for metric in ("fid", "kid", "precision", "density", "coverage"):
        assert shifted[metric] == "worse", metric
    assert judged(scores_of(real, {"entropy": 0.0, "prng": 0.4}, 3))["fid"] == "better"
    same = judged(scores_of(real, {"entropy": 0.0, "prng": 0.0}, 2))
    assert set(same) == set(METRICS)
    for metric, verdict in same.items():
        assert verdict in ("equivalent", "inconclusive"), (metric, verdict)


@pytest.mark.integration  # trains eight GANs and logs to a real MLflow store
def test_evaluation_writes_metrics_report_and_logs_to_parent_and_children(workspace, tiny_params):
    arms = ("entropy", "prng", "prng2", "distinct-4")
    tiny_params = replace(tiny_params, train=replace(tiny_params.train, arms=arms))
    for arm in tiny_params.train.arms:
        for seed in (0, 1):
            train_in(workspace, tiny_params, arm, seed)
    result = evaluate_in(workspace, tiny_params)
    assert set(result["values"]) == {"entropy", "prng", "prng2", "distinct-4"} and result["n_samples"] == 64
    comps = result["verdicts"]["comparisons"]
    assert set(comps) == {"entropy_vs_prng", "prng2_vs_prng", "distinct-4_vs_prng"}
    assert set(comps["entropy_vs_prng"]["secondary"]) == set(METRICS) - {"fid", "coverage"}
    assert comps["entropy_vs_prng"]["diversity"]["metric"] == "coverage"
    assert comps["entropy_vs_prng"]["primary"]["n_seeds"] == 2 and comps["entropy_vs_prng"]["verdict"] in (
        "better", "worse", "equivalent", "inconclusive")
    assert comps["entropy_vs_prng"]["primary"]["interval"] == [None, None]  # 2 seeds bound nothing, anytime
    assert result["summary"]["prng"]["fid"]["n"] == 2
    assert all(0 <= v[m] <= 1 for m in ("precision", "recall", "coverage") for arm in ("entropy", "prng")
               for v in result["values"][arm].values())
    assert set(result["variance"]) == {"fid", "coverage"}  # one split per family endpoint
    var = result["variance"]["fid"]
    assert set(var["arms"]) == {"entropy", "prng", "prng2"} and var["arms"]["prng"]["eval_var"] > 0  # not the rung
    assert 0 < var["paired"]["entropy_vs_prng"]["eval_share"] <= 1
    assert var["paired"]["entropy_vs_prng"]["shared_latents_var"] >= 0
    assert [len(x) for x in result["runs"]["prng-0"]["redraws"].values()] == [2, 2]  # evaluate.redraws

    # The pool accounting adds up: the entropy runs' ranges tile the pool exactly, each drawn in full.
    pool_bytes = (workspace / "pool.bin").stat().st_size
    acc = result["accounting"]
    assert acc["overlaps"] == [] and acc["outside_pool"] == [] and acc["pool_ranges"] == 6
    assert acc["bytes_in_ranges"] == pool_bytes and acc["max_reuse_factor"] == 1.0
    spans = sorted(tuple(result["noise"][f"entropy-{s}"][r]["normals"])
                   for s in (0, 1) for r in ("train", "grid", "eval"))
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:])) and spans[-1][1] == pool_bytes // 3
    for run in result["noise"].values():
        for region in ("train", "grid", "eval"):
            assert run[region]["drawn"] == run[region]["size"], (run["arm"], region)  # sizes = what was drawn
        assert run["train"]["size"] == result["noise"]["entropy-0"]["train"]["size"]  # every arm alike

    report = report_in(workspace, tiny_params)
    assert report.startswith("# qgan report") and report.index("## Verdict") < report.index("## All metrics")
    assert "Primary family: quality **FID-LeNet**" in report and "anytime-valid 95% confidence sequence" in report
    assert "- A/A control `prng2` vs prng: " in report and "| `distinct-4` | only K distinct latent vectors |" in report
    assert "With 2 paired seeds the anytime-valid interval cannot bound the difference yet (it needs at least 9 " \
        "seeds at alpha 0.025)" in report and "exploratory" in report
    assert "FID-LeNet" in report and "train/entropy-0/entropy-0/samples.png" in report and "not comparable" in report
    assert "train/prng-1/prng-1/losses.png" in report and "![verdicts](verdicts.png)" in report
    assert "16 tests judged as one family at alpha = 0.01 (Holm)" in report
    assert "| bytes | serial 2 | 10,000 |" in report and "bits per byte over" in report
    assert "## Noise accounting" in report and "No normal was read twice" in report
    assert "![epochs distinct-4-1](train/distinct-4-1/distinct-4-1/epochs.png)" in report
    assert (workspace / "reports" / "verdicts.png").stat().st_size > 1000

    # qgan compare on the same values, as a CSV, gives the same verdicts (and numbers) as the stage
    import csv
    import json
    import subprocess
    import sys
    with open(workspace / "values.csv", "w", newline="") as f:
        csv.writer(f).writerows([("arm", "seed", "metric", "value"), *values_to_csv_rows(
            {a: {int(s): v for s, v in per.items()} for a, per in result["values"].items()})])
    out = subprocess.run([sys.executable, "-m", "qgan.cli", "compare", str(workspace / "values.csv"), "--json",
                          "--params", str(ROOT / "params.yaml")], capture_output=True, text=True, cwd=workspace)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(result["verdicts"]))
    # qgan plan takes the same pilot from the MLflow store's runs, and the per-run time recorded there
    out = subprocess.run([sys.executable, "-m", "qgan.cli", "plan", "--mlflow", "--params", str(ROOT / "params.yaml")],
                         capture_output=True, text=True, cwd=workspace)
    assert out.returncode == 0, out.stderr
    assert "4 arms trained per seed" in out.stdout and "s per training run (median recorded here)" in out.stdout
    assert "entropy_vs_prng fid: pilot 2 seeds, sd of differences" in out.stdout

    (a, b), (c, d) = result["noise"]["entropy-1"]["train"]["normals"], result["noise"]["entropy-1"]["train"]["bytes"]
    assert a == result["noise"]["entropy-0"]["eval"]["normals"][1] and (c, d) == (3 * a, 3 * b)  # slot 1 follows slot 0
    assert f"| entropy-1 | pool | [{a:,}, {b:,}) | [{c:,}, {d:,}) | 4,096 | 1 |" in report
    assert (workspace / "reports" / "figures" / "metrics.png").exists()
    assert (workspace / "reports" / "figures" / "per_seed.csv").read_text().startswith("run,arm,seed,fid,kid,")

    client = tracking.client(workspace)
    logged = run_of(workspace, "prng-1").data.metrics
    assert logged["fid_lenet"] == pytest.approx(result["values"]["prng"]["1"]["fid"])
    assert logged["eval_coverage"] == pytest.approx(result["values"]["prng"]["1"]["coverage"])
    parents = {run_of(workspace, f"{a}-{s}").data.tags[tracking.TAG_PARENT]
               for a in tiny_params.train.arms for s in (0, 1)}
    assert len(parents) == 1  # one pipeline run, eight children
    parent = client.get_run(parents.pop())
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["entropy/fid"] == pytest.approx(result["summary"]["entropy"]["fid"]["mean"])
    assert parent.data.metrics["entropy_vs_prng/primary_diff"] == pytest.approx(
        comps["entropy_vs_prng"]["primary"]["mean"])
    assert parent.data.tags["verdict.distinct-4_vs_prng"] == comps["distinct-4_vs_prng"]["verdict"]
    assert parent.data.tags["mlflow.note.content"].startswith("Primary family: quality **FID-LeNet**")
    assert len(parent.data.tags["evaluated_runs"].split(",")) == 8
    children = client.search_runs([parent.info.experiment_id], f"tags.`{tracking.TAG_PARENT}` = '{parent.info.run_id}'")
    assert len(children) == 8
    artifacts = workspace / "mlruns" / parent.info.run_id / "artifacts" / "evaluation"
    assert sorted(p.name for p in artifacts.iterdir()) == ["evaluate.json", "metrics.png"]
    # Re-running only evaluate (say, after an evaluate param changed) opens a parent of its own that
    # names the runs it evaluated; a later training opens a new parent too: this one is finished.
    evaluate_in(workspace, replace(tiny_params, evaluate=replace(tiny_params.evaluate, kid_subsets=5)))
    newer = client.search_runs([parent.info.experiment_id], f"tags.{tracking.TAG_ROLE} = 'pipeline'")
    assert len(newer) == 2 and newer[0].info.run_id != parent.info.run_id and newer[0].info.status == "FINISHED"
    assert set(newer[0].data.tags["evaluated_runs"].split(",")) == set(parent.data.tags["evaluated_runs"].split(","))
    assert newer[0].data.params["evaluate.kid_subsets"] == "5"
    train_in(workspace, tiny_params, "entropy", 0)
    assert run_of(workspace, "entropy-0").data.tags[tracking.TAG_PARENT] not in {r.info.run_id for r in newer}


def test_a_checkpoint_trained_on_other_noise_than_train_seeds_gives_is_refused(tiny_params):
    """Reordering train.seeds moves an entropy run's pool slot without re-running its train stage
    (which does not depend on train.seeds): evaluate names the stage to re-run instead of scoring."""
    from qgan.core.errors import QganError
    from qgan.noise.layout import budget_report
    from qgan.noise.streams import make_noise, noise_context
    from qgan.pipeline.evaluate import check_training_noise

    pool_bytes = budget_report(tiny_params.noise_plan, 256, 0)["bytes_needed"]
    normals = np.zeros(pool_bytes // 3, dtype=np.float32)  # 24-bit uniforms: 3 bytes per normal

    def trained_on(params, seed):
        ctx = noise_context(params.noise_plan, 256, seed, pool_bytes, normals, reading=True)
        return {"noise": {"train": make_noise("entropy", "train", ctx).info}}

    checkpoints = {("entropy", s): trained_on(tiny_params, s) for s in (0, 1)}
    check_training_noise(checkpoints, tiny_params, 256, pool_bytes, normals)  # as trained: accepted
    reordered = replace(tiny_params, train=replace(tiny_params.train, seeds=(1, 0)))
    with pytest.raises(QganError) as info:
        check_training_noise(checkpoints, reordered, 256, pool_bytes, normals)
    assert "entropy-0: trained on noise" in str(info.value) and "`dvc repro -f train@entropy-0`" in str(info.value)
