from pathlib import Path

import pytest

from qgan.core import tracking

pytestmark = pytest.mark.integration  # a real `mlflow server` and MLflow stores


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    return tmp_path


def test_root_and_uri_follow_dvc_root(store, tmp_path, monkeypatch):
    elsewhere = tmp_path / "exps" / "tmp123"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)  # like a `dvc exp run --temp` working copy
    assert tracking.project_root() == store
    assert tracking.tracking_uri(store) == f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert tracking.tracking_uri(store) == "http://127.0.0.1:9"


def test_project_root_finds_dvc_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert tracking.project_root(tmp_path / "a" / "b") == tmp_path


def test_run_logger_writes_to_root_store_with_absolute_artifacts(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_EXP_NAME", "brave-exp")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "a" * 40)
    run = tracking.RunLogger.start("entropy-0", {tracking.TAG_ARM: "entropy", tracking.TAG_SEED: 0})
    run.log_params({"latent_dim": 64, "train.seeds": [0, 1]})
    run.log_metrics((("g_loss", float(s), s) for s in range(2500)))  # more than one batch
    artifact = tmp_path / "note.txt"
    artifact.write_text("hello")
    run.log_artifact(artifact, "figures")
    run.finish()

    client = tracking.client(store)
    exp = client.get_experiment_by_name(tracking.EXPERIMENT)
    assert exp.artifact_location == (store / "mlruns").as_uri()
    found = client.search_runs([exp.experiment_id], "params.latent_dim = '64'")
    assert len(found) == 1
    r = found[0]
    assert r.data.tags[tracking.TAG_DVC_EXP_NAME] == "brave-exp"
    assert r.data.tags[tracking.TAG_DVC_BASELINE_REV] == "a" * 40
    assert r.data.tags["mlflow.source.git.commit"] == "a" * 40
    assert r.info.status == "FINISHED"
    assert len(client.get_metric_history(r.info.run_id, "g_loss")) == 2500
    assert (store / "mlruns" / r.info.run_id / "artifacts" / "figures" / "note.txt").read_text() == "hello"
    again = tracking.RunLogger(tracking.client(store), r.info.run_id)  # a finished run takes more metrics
    again.log_metrics([("fid_lenet", 1.5, 0)])
    assert client.get_run(r.info.run_id).data.metrics["fid_lenet"] == 1.5
    assert Path(store / "mlflow.db").exists()


@pytest.fixture
def mlflow_server(tmp_path):
    """A real ``mlflow server`` on loopback with its own SQLite store and proxied artifacts."""
    import subprocess
    import sys

    from tests.conftest import free_port, stop_process_group, wait_for_http

    port = free_port()
    server = tmp_path / "server"
    server.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                             f"sqlite:///{server / 'store.db'}", "--artifacts-destination", str(server / "artifacts"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**__import__("os").environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}", server
    finally:
        stop_process_group(proc)


def test_training_and_replay_against_a_remote_tracking_server(workspace, tiny_params, mlflow_server, monkeypatch,
                                                             capsys):
    import json

    from qgan.cli import main
    from tests.conftest import checkpoint_in, train_in

    url, server = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    train_in(workspace, tiny_params, "entropy", 0)
    ckpt = checkpoint_in(workspace, "entropy-0")
    assert not (workspace / "mlflow.db").exists() and not (workspace / "mlruns").exists()  # all went to the server

    client = tracking.client(workspace)
    assert client.tracking_uri == url
    run = client.get_run(tracking.RunLogger.find_training("entropy", 0, ckpt["generator_sha256"], workspace).run_id)
    assert run.data.tags[tracking.TAG_GENERATOR_SHA256] == ckpt["generator_sha256"]
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"mnist-bundled", "entropy-pool"}
    assert len(client.get_metric_history(run.info.run_id, "d_loss_real")) == 8
    listed = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"checkpoint", "figures", "images", "replay"} <= listed
    stored = list((server / "artifacts").rglob("run.json"))  # the server wrote them under its destination
    assert len(stored) == 1 and json.loads(stored[0].read_text())["generator_sha256"] == ckpt["generator_sha256"]
    assert client.get_run(run.data.tags[tracking.TAG_PARENT]).data.tags[tracking.TAG_ROLE] == "pipeline"

    capsys.readouterr()
    assert main(["replay", run.info.run_id, "--quiet", "--pool", str(workspace / "pool.bin")]) == 0
    assert "bit-identical" in capsys.readouterr().out
