"""End to end with real DVC and a real MLflow store, in a temporary copy of this repo.

Tiny config (256 images, 1 epoch, 2 seeds in one block "0-1": each arm's stage trains both as
one group), reproduced once per module. The tests do not depend
on their order: a test that changes the workspace (a workspace experiment, a moved pool) puts it
back (:func:`restored`), and queries name the default run by its params.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import SUBPROCESS_ENV, sh, tiny_repo

pytestmark = pytest.mark.integration  # real DVC repo, dvc exp run/queue, subprocesses

ENV = SUBPROCESS_ENV


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


def exp_name_of(output: str) -> str:
    """The experiment name `dvc exp run` printed."""
    return output.split("Reproducing experiment '")[1].split("'")[0]


BASE = "params.latent_dim = '8' and params.`harvest.source` = 'system'"  # the fixture's own run


@contextlib.contextmanager
def restored(repo: Path):
    """Put the workspace back as the fixture left it: tracked files from git, outputs from DVC's cache."""
    try:
        yield
    finally:
        sh(repo, "git", "checkout", "--", ".")
        sh(repo, "dvc", "checkout", "--force")
        assert "up to date" in sh(repo, "dvc", "status").stdout


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runs_with(repo: Path, query: str):
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("qgan")
    return client, exp, client.search_runs([exp.experiment_id], query)


# Tags every training run carries (README: "Experiments and MLflow").
CHILD_TAGS = ("arm", "seed", "entropy_sha256", "entropy_bytes", "entropy_source", "quantum", "entropy_emulated",
              "generator_sha256", "data_digest", "noise_reuse_factor", "code_dirty", "qgan_role",
              "mlflow.parentRunId", "mlflow.source.git.commit")


def pipeline_runs(repo: Path, query: str, exp_name: str | None) -> tuple[object, list]:
    """The finished parent and the arm-seed children found by ``query``, checked for every tag."""
    client, _, runs = runs_with(repo, query)
    parents = [r for r in runs if r.data.tags.get("qgan_role") == "pipeline"]
    children = [r for r in runs if r.data.tags.get("qgan_role") == "training"]
    assert len(parents) == 1 and len(children) == 4, [r.info.run_name for r in runs]
    parent = parents[0]
    assert parent.info.status == "FINISHED" and "fid" in " ".join(parent.data.metrics)
    assert {(r.data.tags["arm"], r.data.tags["seed"]) for r in children} == {
        ("entropy", "0"), ("entropy", "1"), ("prng", "0"), ("prng", "1")}
    extra = ("dvc_exp_name", "dvc_baseline_rev") if exp_name else ()
    for r in children:
        missing = [t for t in (*CHILD_TAGS, *extra) if not r.data.tags.get(t)]
        assert not missing and r.info.status == "FINISHED", (r.info.run_name, missing)
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id and "fid_lenet" in r.data.metrics
        if exp_name:
            assert r.data.tags["dvc_exp_name"] == exp_name
    if exp_name:
        assert parent.info.run_name == exp_name and parent.data.tags["dvc_exp_name"] == exp_name
    return parent, children


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git + DVC repo holding this checkout's files and the tiny params, reproduced once."""
    repo = tiny_repo(tmp_path_factory.mktemp("pipeline") / "qgan", ["0-1"])  # one block: a group of two models
    out = sh(repo, "dvc", "repro")
    assert ran_stages(out.stdout) == {"data", "harvest", "convert", "classifier", "evaluate", "report",
                                      "slice@0-1", "train@entropy-0-1", "train@prng-0-1"}
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "reproduced")
    return repo


def test_repro_outputs_then_clean_status_and_nothing_to_rerun(repo):
    for out in ("data/mnist/meta.json", "data/entropy/pool.bin", "data/noise/normals.npy", "models/classifier.pt",
                "data/noise/blocks/0-1/block.json", "models/gan/entropy-0-1/entropy-1.pt", "metrics/evaluate.json",
                "reports/report.md", "reports/noise/noise.png", "reports/train/prng-0-1/prng-0/samples.png",
                "reports/figures/metrics.png", "reports/verdicts.png"):
        assert (repo / out).stat().st_size > 0, out
    manifest = json.loads((repo / "data/entropy/manifest.json").read_text())
    assert manifest["total_bytes"] == (repo / "data/entropy/pool.bin").stat().st_size
    assert manifest["sha256"] == digest(repo / "data/entropy/pool.bin") and manifest["quantum"] is False
    assert "up to date" in sh(repo, "dvc", "status").stdout
    assert ran_stages(sh(repo, "dvc", "repro").stdout) == set()
    ev = json.loads((repo / "metrics/evaluate.json").read_text())
    assert set(ev["values"]) == {"entropy", "prng"}
    shown = json.loads(sh(repo, "dvc", "metrics", "show", "--json").stdout)
    files = next(iter(shown.values()))["data"]
    assert files["metrics/entropy_tests.json"]["data"]["tests"]["frequency"]["n"] > 0
    assert files["metrics/noise.json"]["data"]["randomness"]["tests"] == 16
    head = sh(repo, "git", "rev-parse", "HEAD~1").stdout.strip()  # the commit `dvc repro` ran on
    parent, _ = pipeline_runs(repo, BASE, None)
    assert parent.info.run_name == f"workspace@{head[:7]}"


def test_an_http_client_edit_changes_only_the_harvest_stage(repo):
    """The light registries keep the HTTP client out of every stage but harvest: editing it leaves
    data, classifier, every slice and train stage and evaluate clean; a noise-layer edit does not."""
    with restored(repo):
        client = repo / "qgan/entropy/http_client.py"
        client.write_text(client.read_text() + "\n# an edit to the HTTP client\n")
        changed = set(json.loads(sh(repo, "dvc", "status", "--json").stdout))
        assert changed == {"harvest"}, changed
        streams = repo / "qgan/noise/streams.py"
        streams.write_text(streams.read_text() + "\n# an edit to the noise streams\n")
        changed = set(json.loads(sh(repo, "dvc", "status", "--json").stdout))
        assert {"train@entropy-0-1", "train@prng-0-1", "evaluate"} <= changed and "report" not in changed, changed


def test_replay_fetches_the_pool_from_dvc_and_is_bit_identical(repo):
    _, _, runs = runs_with(repo, f"{BASE} and tags.arm = 'entropy' and tags.seed = '1'")
    pool = repo / "data/entropy/pool.bin"
    pool.rename(repo / "pool.moved")  # no local pool: replay must find the recorded one in DVC's cache
    try:
        out = sh(repo, "qgan", "replay", runs[0].info.run_id, "--quiet", check=False)
        (repo / "dvc.lock").rename(repo / "lock.moved")  # nor a dvc.lock here: look through git revisions
        from_git = sh(repo, "qgan", "replay", runs[0].info.run_id, "--quiet", check=False)
    finally:
        (repo / "pool.moved").rename(pool)
        if (repo / "lock.moved").exists():
            (repo / "lock.moved").rename(repo / "dvc.lock")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fetched data/entropy/pool.bin with DVC from the working tree's dvc.lock" in out.stdout
    assert "code: this checkout matches the recorded revision" in out.stdout and "bit-identical" in out.stdout
    assert "trained in block 0-1 (2 models, position 1); replayed alone" in out.stdout
    head = sh(repo, "git", "rev-parse", "HEAD").stdout.strip()  # the commit that recorded the pool
    assert from_git.returncode == 0, from_git.stdout + from_git.stderr
    assert f"fetched data/entropy/pool.bin with DVC from revision {head[:12]}" in from_git.stdout
    assert "up to date" in sh(repo, "dvc", "status").stdout


def test_dvc_plots_show_renders_the_noise_plots(repo):
    rendered = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)["data"]
    for title in ("Noise histogram vs N(0, 1) density", "Normal Q-Q plot",
                  "Pool byte histogram, standardised residuals",
                  "FID-LeNet per run (lower is better)", "Coverage per run"):
        assert rendered[title][0]["type"] == "vega", title
        assert rendered[title][0]["content"]["data"]["values"], title  # the CSV rows made it into the plot
    assert any(key.endswith("reports/noise/noise.png") for key in rendered)
    assert any(key.endswith("reports/figures/metrics.png") for key in rendered)
    html = sh(repo, "dvc", "plots", "show", "-o", "plots-html")
    assert (repo / "plots-html" / "index.html").stat().st_size > 0, html.stdout


@pytest.mark.parametrize("key, value, shown", [
    ("latent_dim", -3, "params.yaml: latent_dim: -3"),
    ("train.arms", ["entropy", "bogus"], "params.yaml: train.arms: 'bogus'"),
    ("convert.bits", 7, "params.yaml: convert.bits: 7"),
])
def test_bad_param_stops_with_one_line_and_writes_nothing(repo, key, value, shown):
    params_file = repo / "params.yaml"
    original = params_file.read_text()
    before = {p: digest(p) for p in (repo / "data").rglob("*") if p.is_file()}
    lock = (repo / "dvc.lock").read_text()
    raw = yaml.safe_load(original)
    section, _, name = key.rpartition(".")
    (raw[section] if section else raw)[name] = value
    params_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        out = sh(repo, "dvc", "repro", check=False)
    finally:
        params_file.write_text(original)
    assert out.returncode != 0
    errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("qgan: error:")]
    assert len(errors) == 1 and shown in errors[0], out.stdout + out.stderr
    assert {p: digest(p) for p in (repo / "data").rglob("*") if p.is_file()} == before
    assert (repo / "dvc.lock").read_text() == lock
    assert not [p for p in repo.rglob("*.tmp") if ".dvc" not in p.parts]


def test_exp_run_latent_dim_reruns_only_what_depends_on_it(repo):
    pool = digest(repo / "data/entropy/pool.bin")
    with restored(repo):
        out = sh(repo, "dvc", "exp", "run", "-S", "latent_dim=6")
    ran = ran_stages(out.stdout)
    assert {"data", "convert", "classifier"}.isdisjoint(ran), ran
    assert {"train@entropy-0-1", "train@prng-0-1", "evaluate"} <= ran
    assert digest(repo / "data/entropy/pool.bin") == pool
    pipeline_runs(repo, "params.latent_dim = '6'", exp_name_of(out.stdout))  # a workspace experiment, every tag
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or [])]
    metrics = [run["data"]["metrics"] for e in exps for run in e["revs"]]
    evaluated = [m["metrics/evaluate.json"]["data"] for m in metrics if m.get("metrics/evaluate.json")]
    assert evaluated
    for data in evaluated:  # what `dvc exp show` shows: every metric for each arm, and the verdicts
        for metric in ("fid", "kid", "precision", "recall", "density", "coverage"):
            assert {"entropy", "prng"} <= set(data["summary"]) and "mean" in data["summary"]["entropy"][metric], metric
        assert data["verdicts"]["comparisons"]["entropy_vs_prng"]["verdict"] in (
            "better", "worse", "equivalent", "inconclusive")


def test_adding_an_arm_trains_only_that_arm(repo):
    """A new arm moves no pool range: its stage trains, evaluate re-runs, no other train stage does."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    with restored(repo):
        out = sh(repo, "dvc", "exp", "run", "-S", "train.arms=[entropy,prng,torch]")
        ran = ran_stages(out.stdout)
        assert {"train@torch-0-1", "evaluate"} <= ran, ran
        assert not {"train@entropy-0-1", "train@prng-0-1", "convert", "classifier"} & ran, ran
        after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
        for stage in ("train@entropy-0-1", "train@prng-0-1"):
            assert after[stage]["outs"] == lock[stage]["outs"], stage
        assert set(json.loads((repo / "metrics/evaluate.json").read_text())["values"]) == {"entropy", "prng", "torch"}
        for new in ("models/gan/torch-0-1", "reports/train/torch-0-1"):  # outputs of a stage the restored
            shutil.rmtree(repo / new)                                    # params no longer have
        (repo / "metrics/train/torch-0-1.json").unlink()


def test_adding_seeds_trains_only_the_new_block(repo):
    """Appending a block grows the pool and re-cuts every slice, but the old block's slice comes
    out byte-identical, so its train stages do not run; the old generators stay as they were."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    with restored(repo):
        out = sh(repo, "dvc", "exp", "run", "-S", "train.seeds=[0-1,2]")
        ran = ran_stages(out.stdout)
        assert {"harvest", "convert", "slice@0-1", "slice@2", "train@entropy-2", "train@prng-2", "evaluate"} <= ran
        assert not {"train@entropy-0-1", "train@prng-0-1"} & ran, ran
        after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
        assert after["slice@0-1"]["outs"] == lock["slice@0-1"]["outs"]
        for stage in ("train@entropy-0-1", "train@prng-0-1"):
            assert after[stage]["outs"] == lock[stage]["outs"], stage
        assert json.loads((repo / "metrics/evaluate.json").read_text())["verdicts"]["comparisons"][
            "entropy_vs_prng"]["primary"]["n_seeds"] == 3
        for new in ("models/gan/entropy-2", "models/gan/prng-2", "reports/train/entropy-2", "reports/train/prng-2",
                    "data/noise/blocks/2"):
            shutil.rmtree(repo / new)
        for new in ("metrics/train/entropy-2.json", "metrics/train/prng-2.json"):
            (repo / new).unlink()


def test_temp_experiment_logs_to_the_repo_store(repo):
    out = sh(repo, "dvc", "exp", "run", "--temp", "-S", "latent_dim=5")
    _, runs = pipeline_runs(repo, "params.latent_dim = '5'", exp_name_of(out.stdout))
    _, exp, _ = runs_with(repo, "params.latent_dim = '5'")
    assert exp.artifact_location == (repo / "mlruns").as_uri()
    for r in runs:
        assert (repo / "mlruns" / r.info.run_id / "artifacts" / "figures" / "samples.png").exists()
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))


def test_queued_experiment_logs_to_the_repo_store(repo):
    """`dvc exp run --queue` + `dvc queue start`: the run happens in a temp dir under .dvc/tmp,
    and its runs land in the repo's one store, found by the query users type."""
    import time

    queued = sh(repo, "dvc", "exp", "run", "--queue", "-S", "latent_dim=64")
    name = queued.stdout.split("Queued experiment '")[1].split("'")[0]
    sh(repo, "dvc", "queue", "start", "-j", "1")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # bounded: the queue finishes or the test fails
        status = sh(repo, "dvc", "queue", "status").stdout
        if name in status and not any(s in status for s in ("Queued", "Running")):
            break
        time.sleep(3)
    logs = sh(repo, "dvc", "queue", "logs", name, check=False).stdout
    assert name in status and "Success" in status, status + logs
    parent, children = pipeline_runs(repo, "params.latent_dim = '64'", name)
    assert all(r.data.tags["dvc_baseline_rev"] == sh(repo, "git", "rev-parse", "HEAD").stdout.strip()
               for r in children)
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_qrng_token_reaches_no_file_and_no_output(repo):
    """Appends emulated QRNG bytes to the repo's pool in a workspace experiment, then restores it."""
    from qgan.entropy.emulator import Emulator, EmulatorConfig

    token = f"qrng-secret-{uuid.uuid4().hex}"  # made now, so no source file holds it
    env = {**ENV, "QRNG_API_TOKEN": token}
    pool = repo / "data/entropy/pool.bin"
    target = pool.stat().st_size + 20_000
    with restored(repo):  # the pool grows and params change: put the workspace back after
        with Emulator(EmulatorConfig(api="eaas", token=token)) as emu:
            args = ["dvc", "exp", "run", "-S", "harvest.source=eaas", "-S", f"harvest.url='{emu.url}'",
                    "-S", f"harvest.bytes={target}"]
            good = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
            assert good.returncode == 0, good.stdout[-2000:] + good.stderr[-2000:]
            assert emu.requests >= 40 and "harvest" in ran_stages(good.stdout)
        manifest = json.loads((repo / "data/entropy/manifest.json").read_text())
        assert manifest["total_bytes"] == target and manifest["emulated"] is True and manifest["quantum"] is False
        # the appended bytes lie past every run's slots: no slice changed, so nothing re-trained, and the
        # pipeline's parent run (evaluate) names the whole pool, QRNG chunks included
        assert not {s for s in ran_stages(good.stdout) if s.startswith("train@")}
        _, _, runs = runs_with(repo, "params.`harvest.source` = 'eaas'")
        assert [r.data.tags["qgan_role"] for r in runs] == ["pipeline"] and runs[0].info.status == "FINISHED"
        assert runs[0].data.tags["quantum"] == "false" and runs[0].data.tags["entropy_emulated"] == "true"
        assert runs[0].data.tags["entropy_source"] == "system,eaas"
        with Emulator(EmulatorConfig(api="eaas", token="another-token")) as emu:  # the error path: 401
            params = yaml.safe_load((repo / "params.yaml").read_text())
            params["harvest"].update(source="eaas", url=emu.url, bytes=target + 5000)
            (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            bad = subprocess.run(["dvc", "repro", "-s", "harvest"], cwd=repo, env=env, capture_output=True, text=True,
                                 timeout=300)
            assert emu.faults.get("refused", 0) >= 1
        assert bad.returncode != 0 and "HTTP 401: the service refused the token" in bad.stdout + bad.stderr
        for output in (good.stdout, good.stderr, bad.stdout, bad.stderr):
            assert token not in output
        assert _files_containing(repo, token.encode()) == []  # pool, manifest, dvc.lock, mlflow.db, mlruns, .git, .dvc


def test_a_forced_rerun_with_the_same_result_changes_no_output(repo):
    """Outputs depend only on their content (no run ids, wall times or random archive names), so
    re-running a stage that computes the same thing leaves every md5 as it was."""
    outs = ["models/classifier.pt", "metrics/classifier.json", "models/gan/prng-0-1/prng-0.pt",
            "metrics/train/prng-0-1.json", "reports/train/prng-0-1/prng-0/losses.csv",
            "reports/train/prng-0-1/prng-1/samples.png"]
    before = {p: digest(repo / p) for p in outs}
    with restored(repo):
        ran = ran_stages(sh(repo, "dvc", "repro", "-f", "-s", "classifier", "train@prng-0-1").stdout)
        assert ran == {"classifier", "train@prng-0-1"}
        assert {p: digest(repo / p) for p in outs} == before
        assert "up to date" in sh(repo, "dvc", "status").stdout  # nothing downstream to re-run
    classifier = json.loads((repo / "metrics/classifier.json").read_text())
    assert classifier["numerics"]["numerics"] == "pinned" and len(classifier["extractor_sha256"]) == 64
    evaluated = json.loads((repo / "metrics/evaluate.json").read_text())
    assert evaluated["extractor"]["sha256"] == classifier["extractor_sha256"]


def test_pool_travels_through_a_dvc_remote_and_replays_in_a_fresh_clone(repo, tmp_path):
    """Back the archive up to a DVC remote; a clone with an empty cache and no pool replays an
    entropy run from it, bit-identical."""
    remote, clone = tmp_path / "remote", tmp_path / "clone"
    sh(repo, "dvc", "remote", "add", "--local", "-d", "backup", str(remote))  # .dvc/config.local: untracked
    try:
        sh(repo, "dvc", "push", "-r", "backup")
    finally:
        sh(repo, "dvc", "remote", "remove", "--local", "backup")
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, "dvc", "remote", "add", "--local", "-d", "backup", str(remote))
    assert not (clone / "data/entropy/pool.bin").exists() and not list((clone / ".dvc").glob("cache/*"))
    _, _, runs = runs_with(repo, f"{BASE} and tags.arm = 'entropy' and tags.seed = '0'")
    env = {**ENV, "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"}
    out = subprocess.run(["qgan", "replay", runs[0].info.run_id, "--quiet"], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fetched data/entropy/pool.bin with DVC" in out.stdout and "bit-identical" in out.stdout
