from pathlib import Path

import pytest

from qgan import tracking


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

    client = tracking._client(store)
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
    resumed = tracking.RunLogger.resume(r.info.run_id)
    resumed.log_metrics([("fid_lenet", 1.5, 0)])
    assert client.get_run(r.info.run_id).data.metrics["fid_lenet"] == 1.5
    assert Path(store / "mlflow.db").exists()
