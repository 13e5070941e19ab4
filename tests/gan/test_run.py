"""run_training and run_evaluation on a tiny workspace with a real MLflow store (no DVC)."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from qgan.core import tracking
from qgan.evaluation.evaluate import EvaluateInputs, EvaluateOutputs, ReportInputs, run_evaluation
from qgan.noise.layout import PoolTooSmall, budget_report, run_demand
from tests.conftest import short_pool_workspace, train_in

pytestmark = pytest.mark.integration  # trains GANs and logs to a real MLflow store


def _ckpt(ws, name):
    return torch.load(ws / "models" / f"{name}.pt", weights_only=True)


def test_training_records_accounting_and_mlflow_run(workspace, tiny_params):
    metrics = train_in(workspace, tiny_params, "entropy", 1)
    ckpt = _ckpt(workspace, "entropy-1")
    d = run_demand(tiny_params.noise_plan, 256)
    train = ckpt["noise"]["train"]
    assert train["normals"] == [d.train_normals, 2 * d.train_normals]  # seed 1 sits in slot 1
    assert train["bytes"] == [3 * d.train_normals, 6 * d.train_normals]  # 24-bit: 3 bytes per normal
    assert train["drawn"] == train["size"] == d.train_normals and train["reuse_factor"] == 1.0
    assert ckpt["noise"]["grid"]["drawn"] == 64 * 8 and ckpt["noise"]["eval"]["drawn"] == 0  # eval: planned
    assert ckpt["noise"]["eval"]["normals"][0] >= 2 * (d.train_normals + d.grid_normals)
    assert metrics["generator_sha256"] == ckpt["generator_sha256"] and metrics["reuse_factor"] == 1.0
    for name in ("samples.png", "epochs.png", "losses.png", "losses.csv"):
        assert (workspace / "reports" / "train" / "entropy-1" / name).stat().st_size > 0

    client = tracking._client(workspace)
    run = client.get_run(ckpt["mlflow_run_id"])
    tags, manifest = run.data.tags, json.loads((workspace / "manifest.json").read_text())
    assert tags[tracking.TAG_ENTROPY_SHA256] == manifest["sha256"]
    assert tags[tracking.TAG_ENTROPY_BYTES] == str(manifest["total_bytes"])
    assert tags[tracking.TAG_QUANTUM] == "false" and tags[tracking.TAG_EMULATED] == "false"
    assert tags[tracking.TAG_GENERATOR_SHA256] == ckpt["generator_sha256"] and tags[tracking.TAG_REUSE] == "1.0"
    assert tags[tracking.TAG_DATA_DIGEST] == json.loads((workspace / "data" / "meta.json").read_text())["digest"]
    assert tags[tracking.TAG_ARM] == "entropy" and tags[tracking.TAG_SEED] == "1"
    assert tags[tracking.TAG_PARENT] == ckpt["mlflow_parent_run_id"] and tags[tracking.TAG_ROLE] == "training"
    params = run.data.params
    assert params["latent_dim"] == "8" and params["arm"] == "entropy" and params["train.on_exhausted"] == "error"
    assert params["runtime.threads"] == "2" and params["runtime.torch"] == torch.__version__
    assert len(client.get_metric_history(run.info.run_id, "g_loss")) == len(np.loadtxt(
        workspace / "reports" / "train" / "entropy-1" / "losses.csv", delimiter=",", skiprows=1))
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"mnist-bundled", "entropy-pool"}
    assert inputs["entropy-pool"].dataset.digest == manifest["sha256"][:32]
    assert json.loads(inputs["entropy-pool"].dataset.profile)["bytes"] == manifest["total_bytes"]
    assert {t.key: t.value for t in inputs["mnist-bundled"].tags}[tracking.DATA_CONTEXT] == "training"
    artifacts = workspace / "mlruns" / run.info.run_id / "artifacts"
    assert len(list((artifacts / "images").glob("samples+step+1+*.png"))) >= 1  # one grid per epoch, fixed noise
    assert (artifacts / "checkpoint" / "entropy-1.pt").exists()
    record = json.loads((artifacts / "replay" / "run.json").read_text())
    assert record["params"]["train"]["seeds"] == [0, 1] and record["noise"]["train"] == train

    parent = client.get_run(ckpt["mlflow_parent_run_id"])
    assert parent.data.tags[tracking.TAG_ROLE] == "pipeline" and parent.info.status == "RUNNING"
    assert parent.info.run_name == "workspace@no-git" and parent.data.params["latent_dim"] == "8"


def test_short_pool_stops_with_the_numbers_then_cycles_in_every_arm(workspace, tiny_params):
    short = short_pool_workspace(workspace, tiny_params, 0.75)
    need = budget_report(tiny_params.noise_plan, 256, 0)["bytes_needed"]
    with pytest.raises(PoolTooSmall, match=f"set harvest.bytes: {need} "):
        train_in(short, tiny_params, "entropy", 0)
    assert not (short / "models").exists()
    assert tracking._client(workspace).search_runs(
        [tracking.ensure_experiment(tracking._client(workspace), workspace)], "tags.arm = 'entropy'") == []

    cycle = replace(tiny_params, train=replace(tiny_params.train, on_exhausted="cycle"))
    for arm in ("entropy", "prng"):
        for seed in (0, 1):
            assert train_in(short, cycle, arm, seed)["reuse_factor"] > 1.0
    ent, prn = _ckpt(short, "entropy-1")["noise"], _ckpt(short, "prng-1")["noise"]
    assert ent["reuse_factor"] == prn["reuse_factor"] > 1.0
    assert ent["train"]["size"] == prn["train"]["size"] < ent["train_demand"] == ent["train"]["drawn"]
    run = tracking._client(workspace).get_run(_ckpt(short, "prng-1")["mlflow_run_id"])
    assert float(run.data.tags[tracking.TAG_REUSE]) == prn["reuse_factor"]
    assert run.data.metrics["reuse_factor"] == prn["reuse_factor"]
    result = _evaluate(short, cycle)
    assert result["accounting"]["max_reuse_factor"] == ent["reuse_factor"]
    assert "**Training noise was reused**" in (short / "reports" / "report.md").read_text()


def _evaluate(ws, params):
    from qgan.evaluation.classifier import accuracy, train_classifier
    from qgan.gan.data import load_split
    model = train_classifier(load_split(ws / "data", "train"), params.classifier, torch.device("cpu"),
                             progress=False)
    torch.save({"state_dict": model.state_dict()}, ws / "classifier.pt")
    (ws / "classifier.json").write_text(json.dumps({"test_accuracy": accuracy(model, load_split(ws / "data", "test"))}))
    return run_evaluation(
        params, EvaluateInputs(ws / "data", ws / "models", ws / "classifier.pt", ws / "normals.npy",
                               ws / "manifest.json", ws / "reports" / "train"),
        ReportInputs(ws / "noise.json", ws / "entropy_tests.json", ws / "missing.png", ws / "classifier.json"),
        EvaluateOutputs(ws / "evaluate.json", ws / "reports" / "report.md", ws / "reports" / "figures"))


def test_evaluation_writes_metrics_report_and_logs_to_parent_and_children(workspace, tiny_params):
    tiny_params = replace(tiny_params, train=replace(tiny_params.train, arms=("entropy", "prng", "prng2", "legacy8")))
    for arm in tiny_params.train.arms:
        for seed in (0, 1):
            train_in(workspace, tiny_params, arm, seed)
    result = _evaluate(workspace, tiny_params)
    assert set(result["fid"]) == {"entropy", "prng", "prng2", "legacy8"} and result["n_samples"] == 64
    assert set(result["verdicts"]) == {"entropy_vs_prng", "prng2_vs_prng", "legacy8_vs_prng"}
    from qgan.evaluation.metrics import METRICS
    assert set(result["paired"]["entropy_vs_prng"]) == set(METRICS) == set(result["verdicts"]["entropy_vs_prng"])
    assert result["paired"]["entropy_vs_prng"]["kid"]["n_seeds"] == 2
    assert all(0 <= result[m][arm]["mean"] <= 1 for m in ("precision", "recall", "coverage")
               for arm in ("entropy", "prng"))

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

    report = (workspace / "reports" / "report.md").read_text()
    assert "FID-LeNet" in report and "train/entropy-0/samples.png" in report and "not comparable" in report
    assert "## Verdicts" in report and "**entropy vs prng** over 2 paired seeds" in report
    assert "## Controls" in report and "train/prng-1/losses.png" in report
    assert "- Negative control `prng2` vs `prng`: " in report and "- Positive control `legacy8` vs `prng`: " in report
    assert "16 tests judged as one family at alpha = 0.01 (Holm)" in report
    assert "| bytes | serial 2 | 10,000 |" in report and "bits per byte over" in report
    assert "## Noise accounting" in report and "No normal was read twice" in report
    assert "![epochs legacy8-1](train/legacy8-1/epochs.png)" in report
    assert "| entropy-1 | pool | [4,096, 8,192) | [12,288, 24,576) | 4,096 | 1 |" in report
    assert (workspace / "reports" / "figures" / "metrics.png").exists()
    assert (workspace / "reports" / "figures" / "per_seed.csv").read_text().startswith("run,arm,seed,fid,kid,")

    client = tracking._client(workspace)
    ckpt = _ckpt(workspace, "prng-1")
    logged = client.get_run(ckpt["mlflow_run_id"]).data.metrics
    assert logged["fid_lenet"] == pytest.approx(result["fid"]["prng"]["1"])
    assert logged["eval_coverage"] == pytest.approx(result["coverage"]["prng"]["1"])
    parents = {_ckpt(workspace, f"{a}-{s}")["mlflow_parent_run_id"] for a in tiny_params.train.arms for s in (0, 1)}
    assert len(parents) == 1  # one pipeline run, eight children
    parent = client.get_run(parents.pop())
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["entropy/fid"] == pytest.approx(result["fid"]["entropy"]["mean"])
    assert parent.data.metrics["entropy_vs_prng/fid_diff"] == pytest.approx(
        result["paired"]["entropy_vs_prng"]["fid"]["mean"])
    assert parent.data.tags["verdict.legacy8_vs_prng.kid"] == result["verdicts"]["legacy8_vs_prng"]["kid"]
    assert len(parent.data.tags["evaluated_runs"].split(",")) == 8
    children = client.search_runs([parent.info.experiment_id], f"tags.`{tracking.TAG_PARENT}` = '{parent.info.run_id}'")
    assert len(children) == 8
    artifacts = workspace / "mlruns" / parent.info.run_id / "artifacts" / "evaluation"
    assert sorted(p.name for p in artifacts.iterdir()) == ["evaluate.json", "metrics.png", "report.md"]
    # Re-running only evaluate (say, after an evaluate param changed) opens a parent of its own that
    # names the runs it evaluated; a later training opens a new parent too: this one is finished.
    _evaluate(workspace, replace(tiny_params, evaluate=replace(tiny_params.evaluate, kid_subsets=5)))
    newer = client.search_runs([parent.info.experiment_id], f"tags.{tracking.TAG_ROLE} = 'pipeline'")
    assert len(newer) == 2 and newer[0].info.run_id != parent.info.run_id and newer[0].info.status == "FINISHED"
    assert set(newer[0].data.tags["evaluated_runs"].split(",")) == set(parent.data.tags["evaluated_runs"].split(","))
    assert newer[0].data.params["evaluate.kid_subsets"] == "5"
    train_in(workspace, tiny_params, "entropy", 0)
    assert _ckpt(workspace, "entropy-0")["mlflow_parent_run_id"] not in {r.info.run_id for r in newer}
