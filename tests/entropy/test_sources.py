"""Device and file sources, the harvest stage's one-line errors, and `qgan emulate` as a process."""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest
import requests
import yaml

from qgan.core.errors import QganError
from qgan.entropy.harvest import harvest_to_pool
from qgan.entropy.sources import make_source
from qgan.params import HarvestConfig
from tests.conftest import ROOT


def _harvest(tmp_path, cfg: dict, target: int, chunk: int = 1000):
    source = make_source(HarvestConfig.from_dict(cfg))
    return harvest_to_pool(tmp_path / "pool.bin", tmp_path / "manifest.json", source, target, chunk, progress=False)


def test_device_source_reads_a_character_device(tmp_path):
    manifest, appended = _harvest(tmp_path, {"source": "device", "path": "/dev/urandom", "quantum": False,
                                             "label": "kernel CSPRNG as a stand-in"}, 5000)
    assert appended == 5000 and manifest["chunks"][0]["source"] == "device" and manifest["quantum"] is False
    assert manifest["source_info"]["device"] == {"path": "/dev/urandom", "label": "kernel CSPRNG as a stand-in",
                                                 "quantum": False}


def test_device_source_reads_a_fifo_in_pieces(tmp_path):
    fifo = tmp_path / "qrandom0"
    os.mkfifo(fifo)
    data = os.urandom(3000)

    def writer():
        with open(fifo, "wb") as fh:
            for i in range(0, len(data), 700):  # a device that delivers in small reads
                fh.write(data[i:i + 700])
                fh.flush()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    manifest, _ = _harvest(tmp_path, {"source": "device", "path": str(fifo), "quantum": True}, 3000, chunk=1000)
    thread.join(10)
    assert (tmp_path / "pool.bin").read_bytes() == data and manifest["quantum"] is True


def test_device_errors(tmp_path):
    with pytest.raises(QganError, match="harvest.path: /nonexistent/qrandom0: no such device"):
        make_source(HarvestConfig.from_dict({"source": "device", "path": "/nonexistent/qrandom0", "quantum": True}))
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(QganError, match="not a character device"):
        make_source(HarvestConfig.from_dict({"source": "device", "path": str(tmp_path / "plain"), "quantum": True}))


def test_file_import_never_imports_a_byte_twice(tmp_path):
    dump = tmp_path / "vendor.bin"
    data = os.urandom(3000)
    dump.write_bytes(data)
    cfg = {"source": "file", "path": str(dump), "quantum": True, "label": "Quantis dump 2026-11"}
    _harvest(tmp_path, cfg, 1000)
    manifest, appended = _harvest(tmp_path, cfg, 2500)
    assert appended == 1500 and (tmp_path / "pool.bin").read_bytes() == data[:2500]
    sha = hashlib.sha256(data).hexdigest()
    record = manifest["imports"][sha]
    assert record == {"label": "Quantis dump 2026-11", "quantum": True, "name": "vendor.bin", "size": 3000,
                      "imported": 2500}
    with pytest.raises(QganError, match=r"vendor.bin has 500 unimported bytes left.*pool kept at 3,000 bytes"):
        _harvest(tmp_path, cfg, 4000)
    assert (tmp_path / "pool.bin").read_bytes() == data  # the last 500 good bytes were kept, once
    assert json.loads((tmp_path / "manifest.json").read_text())["imports"][sha]["imported"] == 3000


def test_file_with_a_stuck_region_stops_the_import(tmp_path):
    dump = tmp_path / "bad.bin"
    dump.write_bytes(os.urandom(1000) + bytes(1000))
    with pytest.raises(QganError, match="failed the SP 800-90B health tests; import stopped; pool kept at 1,000 bytes"):
        _harvest(tmp_path, {"source": "file", "path": str(dump), "quantum": False, "label": "x"}, 2000)


def _stage(tmp_path, harvest: dict, env: dict | None = None):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"harvest": harvest, "train": {"seeds": [0], "epochs": 1},
                                                          "data": {"n_train": 256}}))
    return subprocess.run([sys.executable, "-m", "stages.harvest", "--params", "params.yaml", "--pool",
                           "data/entropy/pool.bin", "--manifest", "data/entropy/manifest.json", "--metrics",
                           "metrics/harvest.json"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"], **(env or {})})


@pytest.mark.integration
@pytest.mark.parametrize("harvest, shown", [
    ({"source": "anu"}, "harvest.source anu: needs a token in the environment: set QRNG_API_TOKEN"),
    ({"source": "quantum-foam"}, "params.yaml: harvest.source: 'quantum-foam' is not allowed"),
    ({"source": "device", "path": "/dev/qrandom9", "quantum": True}, "harvest.path: /dev/qrandom9: no such device"),
    ({"source": "file", "path": "missing.bin", "quantum": True, "label": "x"}, "harvest.path: 'missing.bin': no such"),
    ({"source": "eaas"}, "harvest.url: null is not allowed for eaas"),
])
def test_stage_bad_input_is_one_line_and_writes_nothing(tmp_path, harvest, shown):
    out = _stage(tmp_path, harvest, {"QRNG_API_TOKEN": "t"} if harvest["source"] == "eaas" else None)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and shown in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.integration
def test_qgan_emulate_serves_until_interrupted(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "qgan.cli", "emulate", "--api", "eaas", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        r = requests.get(url, params={"size": 16}, headers={"Authorization": "Bearer t"}, timeout=10)
        assert r.status_code == 200 and r.headers["X-QRNG-Emulator"] == "qgan"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "served 1 good answers to 1 requests" in out
