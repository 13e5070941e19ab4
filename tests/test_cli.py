import json
import subprocess
import sys

import yaml

from qgan.budget import budget_report
from qgan.params import dict_to_params
from tests.conftest import ROOT, TINY, merged


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
    expected = budget_report(dict_to_params(raw), 256, 1000)
    lines = dict(line.split("  ", 1) for line in out.stdout.splitlines())
    assert lines["normals per run: total"].strip() == f"{expected['normals_per_run']:,}"
    assert lines["bytes needed"].strip() == f"{expected['bytes_needed']:,}"
    assert lines["deficit"].strip() == f"{expected['deficit_bytes']:,} bytes"


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
    deficit = budget_report(dict_to_params(raw), 256, 0)["deficit_bytes"]
    requests = -(-deficit // 512)
    assert lines["requests for the deficit"].strip().startswith(f"{requests:,} (eaas: at most 512 bytes each")
    assert lines["estimated time"].strip() == f"{requests * 0.2 / 4 / 60:,.1f} min"
