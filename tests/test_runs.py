"""run_training and run_evaluation on a tiny workspace with a real MLflow store (no DVC)."""
import json

import numpy as np
import pytest
import torch

from qgan import tracking
from qgan.budget import budget_report, run_demand
from qgan.data import load_source, save_splits, subsample
from qgan.harvest import harvest_to_pool
from qgan.params import HarvestConfig
from qgan.sources import make_source
from qgan.convert import pool_to_normals_file
from qgan.noise import NoiseExhausted
from qgan.randomness import pool_to_byte_histogram, randomness_report
from qgan.evaluate import run_evaluation
from qgan.runs import run_training


@pytest.fixture
def workspace(tmp_path, tiny_params, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    train, test = load_source(tiny_params.data)
    save_splits(tmp_path / "data", subsample(train, 256, 0, "n_train"), subsample(test, 100, 0, "n_test"),
                tiny_params.data)
    need = budget_report(tiny_params, 256, 0)["bytes_needed"]
    harvest_to_pool(tmp_path / "pool.bin", tmp_path / "manifest.json", make_source(HarvestConfig()), need, 1 << 20,
                    progress=False)
    pool_to_normals_file(tmp_path / "pool.bin", tmp_path / "normals.npy", 24, "box_muller")
    noise, entropy = randomness_report(tmp_path / "pool.bin", pool_to_byte_histogram(tmp_path / "pool.bin"),
                                       np.load(tmp_path / "normals.npy"), 1000, 10_000, 0.01)
    (tmp_path / "noise.json").write_text(json.dumps({"bits": 24, "method": "box_muller", **noise}))
    (tmp_path / "entropy_tests.json").write_text(json.dumps(entropy))
    return tmp_path


def _train(ws, params, arm, seed):
    return run_training(params, arm, seed, ws / "data", ws / "normals.npy", ws / "manifest.json",
                        ws / "models" / f"{arm}-{seed}.pt", ws / "metrics" / f"{arm}-{seed}.json",
                        ws / "reports" / "train" / f"{arm}-{seed}", progress=False)


def test_training_records_accounting_and_mlflow_run(workspace, tiny_params):
    metrics = _train(workspace, tiny_params, "entropy", 1)
    ckpt = torch.load(workspace / "models" / "entropy-1.pt", weights_only=True)
    demand = run_demand(tiny_params, 256)
    assert ckpt["noise"]["train"]["range"] == [demand.train_normals, 2 * demand.train_normals]  # slot 1
    assert ckpt["noise"]["train_normals_drawn"] == demand.train_normals
    assert metrics["generator_sha256"] == ckpt["generator_sha256"]
    for name in ("samples.png", "losses.png", "losses.csv"):
        assert (workspace / "reports" / "train" / "entropy-1" / name).stat().st_size > 0
    client = tracking._client(workspace)
    run = client.get_run(ckpt["mlflow_run_id"])
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert run.data.tags[tracking.TAG_ENTROPY_SHA256] == manifest["sha256"]
    assert run.data.tags[tracking.TAG_QUANTUM] == "false"
    assert run.data.tags[tracking.TAG_GENERATOR_SHA256] == ckpt["generator_sha256"]
    assert run.data.params["latent_dim"] == "8" and run.data.params["arm"] == "entropy"
    assert len(client.get_metric_history(run.info.run_id, "g_loss")) == len(np.loadtxt(
        workspace / "reports" / "train" / "entropy-1" / "losses.csv", delimiter=",", skiprows=1))


def test_short_pool_stops_before_training(workspace, tiny_params):
    normals = np.load(workspace / "normals.npy")
    np.save(workspace / "normals.npy", normals[:100])
    with pytest.raises(NoiseExhausted, match="pool gives only 100"):
        _train(workspace, tiny_params, "entropy", 0)
    assert not (workspace / "models" / "entropy-0.pt").exists()


def test_evaluation_writes_metrics_report_and_logs_fid(workspace, tiny_params):
    from dataclasses import replace

    from qgan.classifier import accuracy, train_classifier
    from qgan.data import load_split
    tiny_params = replace(tiny_params, train=replace(tiny_params.train, arms=("entropy", "prng", "prng2", "legacy8")))
    for arm in tiny_params.train.arms:
        for seed in (0, 1):
            _train(workspace, tiny_params, arm, seed)
    model = train_classifier(load_split(workspace / "data", "train"), tiny_params.classifier,
                             torch.device("cpu"), progress=False)
    torch.save({"state_dict": model.state_dict()}, workspace / "classifier.pt")
    (workspace / "classifier.json").write_text(json.dumps(
        {"test_accuracy": accuracy(model, load_split(workspace / "data", "test"))}))
    result = run_evaluation(tiny_params, workspace / "data", workspace / "models", workspace / "classifier.pt",
                            workspace / "normals.npy", workspace / "manifest.json", workspace / "noise.json",
                            workspace / "entropy_tests.json", workspace / "missing.png", workspace / "classifier.json",
                            workspace / "reports" / "train", workspace / "evaluate.json",
                            workspace / "reports" / "report.md", workspace / "reports" / "figures")
    assert set(result["fid"]) == {"entropy", "prng", "prng2", "legacy8"} and result["n_samples"] == 64
    assert set(result["verdicts"]) == {"entropy_vs_prng", "prng2_vs_prng", "legacy8_vs_prng"}
    from qgan.metrics import METRICS
    assert set(result["paired"]["entropy_vs_prng"]) == set(METRICS) == set(result["verdicts"]["entropy_vs_prng"])
    assert result["paired"]["entropy_vs_prng"]["kid"]["n_seeds"] == 2
    assert all(0 <= result[m][arm]["mean"] <= 1 for m in ("precision", "recall", "coverage") for arm in ("entropy", "prng"))
    report = (workspace / "reports" / "report.md").read_text()
    assert "FID-LeNet" in report and "train/entropy-0/samples.png" in report and "not comparable" in report
    assert "## Verdicts" in report and "**entropy vs prng** over 2 paired seeds" in report
    assert "## Controls" in report and "train/prng-1/losses.png" in report
    assert "- Negative control `prng2` vs `prng`: " in report and "- Positive control `legacy8` vs `prng`: " in report
    assert "16 tests judged as one family at alpha = 0.01 (Holm)" in report
    assert "| bytes | serial 2 | 10,000 |" in report and "bits per byte over" in report
    assert (workspace / "reports" / "figures" / "metrics.png").exists()
    assert (workspace / "reports" / "figures" / "per_seed.csv").read_text().startswith("run,arm,seed,fid,kid,")
    ckpt = torch.load(workspace / "models" / "prng-1.pt", weights_only=True)
    logged = tracking._client(workspace).get_run(ckpt["mlflow_run_id"]).data.metrics
    assert logged["fid_lenet"] == pytest.approx(result["fid"]["prng"]["1"])
    assert logged["eval_coverage"] == pytest.approx(result["coverage"]["prng"]["1"])
    artifacts = workspace / "mlruns" / ckpt["mlflow_run_id"] / "artifacts" / "evaluation"
    assert sorted(p.name for p in artifacts.iterdir()) == ["evaluate.json", "metrics.png", "report.md"]
