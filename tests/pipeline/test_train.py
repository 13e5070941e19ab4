"""run_train on a tiny workspace with a real MLflow store (no DVC)."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from qgan.core import tracking
from qgan.noise.layout import PoolTooSmall, budget_report, run_demand
from tests.conftest import checkpoint_in, evaluate_in, report_in, run_of, short_pool_workspace, train_block_in, train_in

pytestmark = pytest.mark.integration  # trains GANs and logs to a real MLflow store


def _ckpt(ws, name):
    return checkpoint_in(ws, name)


def test_training_records_accounting_and_mlflow_run(workspace, tiny_params):
    metrics = train_in(workspace, tiny_params, "entropy", 1)
    ckpt = _ckpt(workspace, "entropy-1")
    d = run_demand(tiny_params.noise_plan, 256)
    train = ckpt["noise"]["train"]
    slot = d.train_normals + d.grid_normals + d.eval_normals  # seed 1 sits in slot 1, after slot 0's three ranges
    assert train["normals"] == [slot, slot + d.train_normals]
    assert train["bytes"] == [3 * slot, 3 * (slot + d.train_normals)]  # 24-bit: 3 bytes per normal
    assert train["drawn"] == train["size"] == d.train_normals and train["reuse_factor"] == 1.0
    assert ckpt["noise"]["grid"]["drawn"] == 64 * 8 and ckpt["noise"]["eval"]["drawn"] == 0  # eval: planned
    assert ckpt["noise"]["grid"]["normals"] == [slot + d.train_normals, slot + d.train_normals + d.grid_normals]
    assert ckpt["noise"]["eval"]["normals"] == [slot + d.train_normals + d.grid_normals, 2 * slot]
    assert metrics["generator_sha256"] == ckpt["generator_sha256"] and metrics["reuse_factor"] == 1.0
    for name in ("samples.png", "epochs.png", "losses.png", "losses.csv"):
        assert (workspace / "reports" / "train" / "entropy-1" / "entropy-1" / name).stat().st_size > 0

    client = tracking.client(workspace)
    assert not {"mlflow_run_id", "mlflow_parent_run_id", "seconds"} & (set(ckpt) | set(metrics))  # content only
    run = run_of(workspace, "entropy-1")
    tags, manifest = run.data.tags, json.loads((workspace / "manifest.json").read_text())
    assert tags[tracking.TAG_ENTROPY_SHA256] == manifest["sha256"]
    assert tags[tracking.TAG_ENTROPY_BYTES] == str(manifest["total_bytes"])
    assert tags[tracking.TAG_QUANTUM] == "false" and tags[tracking.TAG_EMULATED] == "false"
    assert tags[tracking.TAG_GENERATOR_SHA256] == ckpt["generator_sha256"] and tags[tracking.TAG_REUSE] == "1.0"
    assert tags[tracking.TAG_DATA_DIGEST] == json.loads((workspace / "data" / "meta.json").read_text())["digest"]
    assert tags[tracking.TAG_ARM] == "entropy" and tags[tracking.TAG_SEED] == "1"
    assert tags[tracking.TAG_ROLE] == "training" and run.data.metrics["seconds"] > 0
    params = run.data.params
    assert params["latent_dim"] == "8" and params["arm"] == "entropy" and params["train.on_exhausted"] == "error"
    assert params["runtime.threads"] == "2" and params["runtime.torch"] == torch.__version__
    assert len(client.get_metric_history(run.info.run_id, "g_loss")) == len(np.loadtxt(
        workspace / "reports" / "train" / "entropy-1" / "entropy-1" / "losses.csv", delimiter=",", skiprows=1))
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

    parent = client.get_run(tags[tracking.TAG_PARENT])
    assert parent.data.tags[tracking.TAG_ROLE] == "pipeline" and parent.info.status == "RUNNING"
    assert parent.info.run_name == "workspace@no-git" and parent.data.params["latent_dim"] == "8"


def test_short_pool_stops_with_the_numbers_then_cycles_in_every_arm(workspace, tiny_params):
    short = short_pool_workspace(workspace, tiny_params, 0.75)
    need = budget_report(tiny_params.noise_plan, 256, 0)["bytes_needed"]
    with pytest.raises(PoolTooSmall, match=f"set harvest.bytes: {need} "):
        train_in(short, tiny_params, "entropy", 0)
    assert not (short / "models").exists()
    assert tracking.client(workspace).search_runs(
        [tracking.ensure_experiment(tracking.client(workspace), workspace)], "tags.arm = 'entropy'") == []

    cycle = replace(tiny_params, train=replace(tiny_params.train, on_exhausted="cycle"))
    for arm in ("entropy", "prng"):
        for seed in (0, 1):
            assert train_in(short, cycle, arm, seed)["reuse_factor"] > 1.0
    ent, prn = _ckpt(short, "entropy-1")["noise"], _ckpt(short, "prng-1")["noise"]
    assert ent["reuse_factor"] == prn["reuse_factor"] > 1.0
    assert ent["train"]["size"] == prn["train"]["size"] < ent["train_demand"] == ent["train"]["drawn"]
    run = run_of(short, "prng-1", workspace)
    assert float(run.data.tags[tracking.TAG_REUSE]) == prn["reuse_factor"]
    assert run.data.metrics["reuse_factor"] == prn["reuse_factor"]
    result = evaluate_in(short, cycle)
    assert result["accounting"]["max_reuse_factor"] == ent["reuse_factor"]
    assert "**Training noise was reused**" in report_in(short, cycle)


def test_a_block_trains_as_one_group_and_logs_each_run(workspace, tiny_params):
    """One stage call for block "0-1": a checkpoint, a figure folder and an MLflow child per run,
    each recording the group it trained in; the block's metrics file holds both runs."""
    params = replace(tiny_params, train=replace(tiny_params.train, seeds=("0-1",)))
    metrics = train_block_in(workspace, params, "prng", "0-1")
    assert set(metrics) == {"prng-0", "prng-1"}
    assert json.loads((workspace / "metrics" / "prng-0-1.json").read_text()) == metrics
    for position, seed in enumerate((0, 1)):
        ckpt = checkpoint_in(workspace, f"prng-{seed}", "0-1")
        assert ckpt["group"] == {"block": "0-1", "seeds": [0, 1], "position": position, "size": 2, "device": "cpu"}
        assert ckpt["generator_sha256"] == metrics[f"prng-{seed}"]["generator_sha256"]
        assert (workspace / "reports" / "train" / "prng-0-1" / f"prng-{seed}" / "epochs.png").stat().st_size > 0
        run = run_of(workspace, f"prng-{seed}", block="0-1")
        assert run.data.tags[tracking.TAG_SEED] == str(seed) and run.data.tags["group"].startswith("0-1 (2 models")
        assert run.data.metrics["group_seconds"] >= run.data.metrics["seconds"] > 0
    assert metrics["prng-0"]["generator_sha256"] != metrics["prng-1"]["generator_sha256"]
    from qgan.core.errors import QganError
    from qgan.pipeline.train import TrainInputs, TrainOutputs, run_train
    inputs = TrainInputs(workspace / "data", workspace / "blocks" / "0-1", workspace / "manifest.json")
    with pytest.raises(QganError, match="train block '2-3' is not in train.seeds"):
        run_train(params, "prng", "2-3", inputs, TrainOutputs(*(workspace / "x" / n for n in "abc")))
    assert not (workspace / "x").exists()
