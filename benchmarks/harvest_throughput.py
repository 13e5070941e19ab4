"""Harvest throughput against the loopback emulator: qgan's concurrent client vs the ideal and
vs a sequential client like the tutorial's.

The emulator (``qgan emulate``, in its own process, as a real service would be) answers every
request after 50 ms and serves at most 512 bytes per request (the EaaS cap). With
``concurrency: 8`` the ideal is 8 x 512 B / 50 ms = 81,920 B/s. qgan is timed
through the whole harvest (requests, validation, health tests, fsync'd appends, manifest);
the sequential client is the tutorial's ``requests.get`` loop (one new connection per request,
without its cache). No assertion: ratios to read.
Run: ``.venv/bin/python benchmarks/harvest_throughput.py``
"""
import base64
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from qgan.entropy.harvest import harvest_to_pool
from qgan.entropy.health import HealthMonitor
from qgan.entropy.sources import make_source
from qgan.params import HarvestConfig

LATENCY, CAP, CONCURRENCY = 0.05, 512, 8
QGAN_BYTES, SEQUENTIAL_REQUESTS = 400 * CAP, 60


def qgan_rate(url: str) -> float:
    cfg = HarvestConfig.from_dict({"source": "eaas", "url": url, "concurrency": CONCURRENCY,
                                   "chunk_bytes": 128 * CAP, "request_bytes": CAP})
    source, monitor = make_source(cfg), HealthMonitor(cfg.min_entropy, cfg.stuck_after)  # imports done here
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        harvest_to_pool(Path(tmp) / "pool.bin", Path(tmp) / "manifest.json", source, QGAN_BYTES,
                        cfg.chunk_bytes, monitor, progress=False)
        return QGAN_BYTES / (time.perf_counter() - start)


def sequential_rate(url: str) -> float:
    """The tutorial's client: ``requests.get(url, headers, params={'size': 512})`` in a loop."""
    headers = {"Authorization": f"Bearer {os.environ['QRNG_API_TOKEN']}"}
    start, got = time.perf_counter(), 0
    for _ in range(SEQUENTIAL_REQUESTS):
        r = requests.get(url, headers=headers, params={"size": CAP}, timeout=10)
        r.raise_for_status()
        got += len(base64.b64decode(r.json()["random_number"]))
    return got / (time.perf_counter() - start)


def main() -> None:
    os.environ.setdefault("QRNG_API_TOKEN", "benchmark-token")
    emulator = subprocess.Popen([sys.executable, "-m", "qgan.cli", "emulate", "--api", "eaas", "--port", "0",
                                 "--latency", str(LATENCY), "--cap", str(CAP)], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", emulator.stdout.readline()).group(0)
        ours = qgan_rate(url)
        seed = sequential_rate(url)
    finally:
        emulator.send_signal(signal.SIGINT)
        emulator.communicate(timeout=30)
    ideal = CONCURRENCY * CAP / LATENCY
    print(f"emulator: {LATENCY * 1000:.0f} ms per request, {CAP} B per request; qgan concurrency {CONCURRENCY}")
    print(f"{'client':<44} {'bytes/s':>10}")
    print(f"{'ideal (8 x 512 B / 50 ms)':<44} {ideal:>10,.0f}")
    print(f"{'qgan harvest (validated, health-tested, fsynced)':<44} {ours:>10,.0f}")
    print(f"{'sequential, like the tutorial':<44} {seed:>10,.0f}")
    print(f"qgan / ideal: {ours / ideal:.2f} (goal >= 0.8); qgan / sequential: {ours / seed:.1f}x")


if __name__ == "__main__":
    main()
