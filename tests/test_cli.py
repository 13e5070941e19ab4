import json
import subprocess
import sys

import pytest
import yaml

from qgan.noise.layout import budget_report
from qgan.params import dict_to_params
from tests.conftest import ROOT, TINY, merged

pytestmark = pytest.mark.integration  # the qgan command in subprocesses, `qgan ui` on loopback


def _qgan(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "qgan.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_console_script_help_lists_budget():
    import shutil
    from pathlib import Path
    script = shutil.which("qgan", path=str(Path(sys.executable).parent))  # the pyproject entry point
    assert script, "the qgan console script is not installed beside this python"
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "budget" in out.stdout


def test_budget_prints_demand_pool_and_deficit(tmp_path, raw_params):
    raw = merged(raw_params, TINY)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "pool.bin").write_bytes(b"\x00" * 1000)
    out = _qgan("budget", "--params", str(tmp_path / "params.yaml"), "--pool", str(tmp_path / "pool.bin"))
    assert out.returncode == 0, out.stderr
    expected = budget_report(dict_to_params(raw).noise_plan, 256, 1000)
    lines = dict(line.split("  ", 1) for line in out.stdout.splitlines())
    assert lines["normals per run: total"].strip() == f"{expected['normals_per_run']:,}"
    assert lines["bytes needed"].strip() == f"{expected['bytes_needed']:,}"
    assert lines["deficit"].strip() == f"{expected['deficit_bytes']:,} bytes"
    assert lines["with this pool"].strip().startswith("training stops: the pool holds 1,000 bytes")
    cycle = merged(raw, {"train": {"on_exhausted": "cycle"}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(cycle))
    (tmp_path / "pool.bin").write_bytes(b"\x00" * (expected["bytes_needed"] * 3 // 4))
    out = _qgan("budget", "--params", str(tmp_path / "params.yaml"), "--pool", str(tmp_path / "pool.bin"))
    reuse = budget_report(dict_to_params(cycle).noise_plan, 256, expected["bytes_needed"] * 3 // 4)["reuse_factor"]
    assert reuse > 1 and f"training reads each normal {reuse:.3g} times" in out.stdout


def test_budget_bad_params_one_line(tmp_path, raw_params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(merged(raw_params, {"convert": {"bits": 7}})))
    out = _qgan("budget", "--params", str(tmp_path / "params.yaml"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "convert.bits: 7" in out.stderr


def test_budget_estimates_requests_and_time_for_a_service(tmp_path, raw_params):
    raw = merged(raw_params, {**TINY, "harvest": {"source": "eaas", "url": "http://127.0.0.1:1/", "concurrency": 4}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "pool.bin").write_bytes(b"")
    chunk = {"offset": 0, "length": 0, "sha256": "", "source": "eaas", "quantum": False, "latency_mean": 0.2}
    (tmp_path / "manifest.json").write_text(json.dumps({"total_bytes": 0, "sha256": "", "chunks": [chunk, chunk]}))
    out = _qgan("budget", "--params", str(tmp_path / "params.yaml"), "--pool", str(tmp_path / "pool.bin"))
    assert out.returncode == 0, out.stderr
    lines = dict(line.split("  ", 1) for line in out.stdout.splitlines())
    deficit = budget_report(dict_to_params(raw).noise_plan, 256, 0)["deficit_bytes"]
    requests = -(-deficit // 512)
    assert lines["requests for the deficit"].strip().startswith(f"{requests:,} (eaas: at most 512 bytes each")
    assert lines["estimated time"].strip() == f"{requests * 0.2 / 4 / 60:,.1f} min"


def test_ui_serves_the_project_store_on_loopback(tmp_path):
    """`qgan ui` runs a real `mlflow ui` on 127.0.0.1 against <root>/mlflow.db."""
    import os
    import urllib.request

    from qgan.core import tracking
    from tests.conftest import free_port, stop_process_group, wait_for_http

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    env.update(DVC_ROOT=str(tmp_path), MLFLOW_DISABLE_TELEMETRY="true")
    code = "from qgan.core import tracking; tracking.RunLogger.start('entropy-0', {}).finish()"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qgan.cli", "ui", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc)
        url = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name={tracking.EXPERIMENT}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            experiment = json.loads(resp.read())["experiment"]
        assert experiment["artifact_location"] == (tmp_path / "mlruns").as_uri()
    finally:
        stop_process_group(proc)
    banner = f"qgan ui: MLflow UI at http://127.0.0.1:{port} (store sqlite:///{tmp_path / 'mlflow.db'})"
    printed = proc.stdout.read()
    assert banner in printed
    table = f"http://127.0.0.1:{port}/#/experiments/{experiment['experiment_id']}?workflowType=machine_learning"
    assert f"qgan ui: the runs table: {table}" in printed  # the Model training view, not GenAI traces

    remote = subprocess.run([sys.executable, "-m", "qgan.cli", "ui"], cwd=tmp_path, capture_output=True, text=True,
                            env={**env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, timeout=60)
    assert remote.returncode == 2 and remote.stderr.count("\n") == 1 and "names a tracking server" in remote.stderr


def _values_csv(path, shifts: dict[str, float], seeds: int, sd: float = 1.0, seed: int = 0):
    import numpy as np
    rng = np.random.default_rng(seed)
    rows = ["arm,seed,metric,value"]
    for s in range(seeds):
        base = 80 + rng.normal(0, 5)
        cover = 0.8 + rng.normal(0, 0.02)
        for arm, shift in shifts.items():  # a lower FID comes with more coverage here
            rows.append(f"{arm},{s},fid,{base + shift + rng.normal(0, sd)!r}")
            rows.append(f"{arm},{s},coverage,{cover - shift / 200 + rng.normal(0, sd / 200)!r}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_compare_prints_one_verdict_per_arm_and_json_codes(tmp_path):
    values = _values_csv(tmp_path / "v.csv", {"prng": 0.0, "entropy": -20.0, "prng2": 0.0}, 30)
    out = _qgan("compare", str(values), "--margin", "3", "--diversity-margin", "0.02")
    assert out.returncode == 0, out.stderr
    assert ("primary fid (margin ±3) and diversity coverage (margin ±0.02), Holm, alpha 0.05, anytime inference"
            in out.stdout)
    assert any(line.startswith("entropy_vs_prng") and " better " in line for line in out.stdout.splitlines())
    data = json.loads(_qgan("compare", str(values), "--margin", "3", "--diversity-margin", "0.02", "--json",
                            "--inference", "fixed").stdout)
    assert {c["verdict"] for c in data["comparisons"].values()} == {"better", "equivalent"}
    assert data["design"]["inference"] == "fixed" and data["comparisons"]["prng2_vs_prng"]["primary"]["mde"] > 0
    assert data["comparisons"]["entropy_vs_prng"]["diversity"]["verdict"] == "better"  # more coverage
    alone = json.loads(_qgan("compare", str(values), "--primary", "fid", "--margin", "3", "--json").stdout)
    assert alone["design"]["diversity"] is None and alone["comparisons"]["entropy_vs_prng"]["diversity"] is None
    bad = _qgan("compare", str(values), "--baseline", "torch")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "baseline arm 'torch' has no values" in bad.stderr


def test_compare_options_are_checked_as_params_are(tmp_path):
    """Options overriding evaluate.* go through the same checks as params.yaml: one line naming the key."""
    values = _values_csv(tmp_path / "v.csv", {"prng": 0.0, "entropy": 0.0}, 6)
    for option, value, key in (("--margin", "-1", "evaluate.margin: -1.0"), ("--alpha", "0.7", "evaluate.alpha: 0.7"),
                               ("--primary", "accuracy", "evaluate.primary: 'accuracy'")):
        bad = _qgan("compare", str(values), option, value)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        assert f"qgan compare options: {key} is not allowed" in bad.stderr, bad.stderr
    ok = _qgan("compare", str(values), "--primary", "fid", "--alpha", "0.1", "--json")
    assert json.loads(ok.stdout)["design"] == {"primary": "fid", "margin": 10.0, "diversity": None,
                                               "diversity_margin": 0.01, "alpha": 0.1, "inference": "anytime",
                                               "baseline": "prng"}


def test_plan_prints_seeds_runs_and_hours_from_a_pilot(tmp_path):
    pilot = _values_csv(tmp_path / "pilot.csv", {"prng": 0.0, "entropy": 0.0}, 6, sd=8.0)
    out = _qgan("plan", "--pilot", str(pilot), "--seconds-per-run", "50", "--arms", "6")
    assert out.returncode == 0, out.stderr
    assert "6 arms trained per seed; 50.0 s per training run" in out.stdout
    assert "entropy_vs_prng fid: pilot 6 seeds" in out.stdout and "entropy_vs_prng coverage: pilot 6" in out.stdout
    line = next(x for x in out.stdout.splitlines() if "to detect a difference of one margin" in x)
    seeds = int(line.split(": ")[1].split(" seeds")[0])
    assert f"= {seeds * 6} training runs, {seeds * 6 * 50 / 3600:.1f} h here" in line and "(sd range: " in line
    missing = _qgan("plan", "--pilot", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "none.json" in missing.stderr and missing.stderr.count("\n") == 1
