"""SIGKILL the harvest stage at random moments, then re-run: the archive always matches its
manifest, and the last run ends with exactly the requested bytes, each served answer once."""
import hashlib
import json
import os
import random
import subprocess
import sys
import time

import pytest
import yaml

from qgan.entropy.emulator import Emulator, EmulatorConfig
from tests.conftest import ROOT

pytestmark = pytest.mark.integration  # SIGKILL loops over harvest subprocesses

TARGET = 192 * 1024
TOKEN = "kill-test-token"


def _run(tmp_path, url):
    return subprocess.Popen(
        [sys.executable, "-m", "stages.harvest", "--params", "params.yaml", "--pool", "pool.bin",
         "--manifest", "manifest.json", "--metrics", "harvest.json"], cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ["PATH"], "QRNG_API_TOKEN": TOKEN})


def _consistent(tmp_path) -> tuple[bytes, dict]:
    """The recorded prefix hashes to the manifest; any tail is shorter than one chunk."""
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    pool = (tmp_path / "pool.bin").read_bytes()
    recorded = pool[:manifest["total_bytes"]]
    assert len(pool) >= manifest["total_bytes"] and hashlib.sha256(recorded).hexdigest() == manifest["sha256"]
    assert len(pool) - manifest["total_bytes"] <= 4096
    for c in manifest["chunks"]:
        assert hashlib.sha256(pool[c["offset"]:c["offset"] + c["length"]]).hexdigest() == c["sha256"]
    return recorded, manifest


def test_sigkill_at_random_moments_never_corrupts_the_archive(tmp_path):
    rng = random.Random(7)
    with Emulator(EmulatorConfig(api="eaas", latency=0.02, seed=5)) as emu:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"harvest": {
            "source": "eaas", "url": emu.url, "bytes": TARGET, "chunk_bytes": 4096, "concurrency": 1}}))
        kills, sizes = 0, []
        for _ in range(40):  # bounded: at most 40 runs to land 10 kills mid-harvest
            proc = _run(tmp_path, emu.url)
            pool, before = tmp_path / "pool.bin", sizes[-1] if sizes else 0
            deadline = time.monotonic() + 60  # bounded wait for this run's first append, however slow the machine
            while proc.poll() is None and (pool.stat().st_size if pool.exists() else 0) <= before \
                    and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.4))  # then a random moment: a chunk lands every ~0.2 s
            if proc.poll() is None:
                proc.kill()
                kills += 1
            proc.wait(10)
            if (tmp_path / "manifest.json").exists():
                sizes.append(_consistent(tmp_path)[1]["total_bytes"])
            if kills == 10 or (sizes and sizes[-1] == TARGET):
                break
        assert kills == 10 and len(set(sizes)) >= 5, sizes  # killed at many different points
        final = _run(tmp_path, emu.url)
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err
        pool, manifest = _consistent(tmp_path)
    assert len(pool) == (tmp_path / "pool.bin").stat().st_size == TARGET == manifest["total_bytes"]
    assert len(set(hashlib.sha256(pool[i:i + 512]).digest() for i in range(0, TARGET, 512))) == TARGET // 512
    served = set(emu.served)
    assert all(pool[i:i + 512] in served for i in range(0, TARGET, 512))  # only bytes the service sent, once
