"""Convert throughput and memory: qgan's conversion vs numpy's generator and the tutorial's path.

Side by side in one process, interleaved over rounds (best round reported), for the same
number of standard normals:

- ``qgan bytes_to_normals`` (24-bit Box-Muller, float32, from bytes already in memory);
- ``numpy default_rng().standard_normal`` (float64, numpy's default, and float32);
- the tutorial's per-batch path: 64 x 100 bytes per batch, ``byte / 255``, Box-Muller
  in numpy, ``torch.from_numpy`` (its infinities included).

Then the memory of streaming a pool file to ``normals.npy`` (``pool_to_normals_file``) for two
pool sizes, each in a fresh subprocess: peak resident memory should not grow with the pool.
No assertion: numbers to read. Run: ``.venv/bin/python benchmarks/convert_throughput.py``
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qgan.noise.convert import bytes_to_normals

N, ROUNDS, BATCH, LATENT = 1 << 24, 5, 64, 100


def tutorial_noise(raw: np.ndarray) -> list:
    """The tutorial's QuantumNoiseGenerator.generate_noise over a byte buffer, batch by batch."""
    size, out = BATCH * LATENT, []
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, len(raw) - size + 1, size):
            uniform = raw[start:start + size].astype(np.float32) / 255.0
            pairs = uniform.reshape(-1, 2)
            r = np.sqrt(-2.0 * np.log(pairs[:, 0]))
            theta = 2.0 * np.pi * pairs[:, 1]
            normal = np.column_stack([r * np.cos(theta), r * np.sin(theta)]).reshape(BATCH, LATENT)
            out.append(torch.from_numpy(normal).float())
    return out


def throughput() -> None:
    torch.set_num_threads(1)
    raw24 = np.frombuffer(np.random.default_rng(0).bytes(3 * N), dtype=np.uint8)
    raw8 = raw24[:N]
    rng = np.random.default_rng(1)
    contenders = {
        "qgan bytes_to_normals (24-bit, float32)": lambda: bytes_to_normals(raw24, 24),
        "numpy standard_normal (float64)": lambda: rng.standard_normal(N),
        "numpy standard_normal (float32)": lambda: rng.standard_normal(N, dtype=np.float32),
        "tutorial per-batch (8-bit /255)": lambda: tutorial_noise(raw8),
    }
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(ROUNDS):  # interleaved, so drift in machine load hits every contender alike
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    ours, numpy64 = best["qgan bytes_to_normals (24-bit, float32)"], best["numpy standard_normal (float64)"]
    print(f"{N:,} normals, best of {ROUNDS} interleaved rounds, 1 thread")
    print(f"{'contender':<42} {'normals/s':>14} {'qgan speed-up':>14}")
    for name, seconds in best.items():
        print(f"{name:<42} {N / seconds:>14,.0f} {seconds / ours:>13.2f}x")
    print(f"qgan vs numpy's generator (float64): {numpy64 / ours:.2f}x (goal >= 1.5x)")


PEAK_SCRIPT = """
import sys
from pathlib import Path
from qgan.noise.convert import pool_to_normals_file
def status(key):  # kB, from this process's own memory map (reset by exec, unlike ru_maxrss)
    return int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith(key + ":")))
before = status("VmRSS")
pool_to_normals_file(Path(sys.argv[1]), Path(sys.argv[2]), 24, "box_muller")
print(before, status("VmHWM"))
"""


def memory() -> None:
    print("\nstreaming a pool file to normals.npy: peak resident memory (fresh process each)")
    print(f"{'pool':>10} {'normals.npy':>12} {'peak RSS':>10} {'growth during convert':>22}")
    with tempfile.TemporaryDirectory() as tmp:
        pool, out = Path(tmp) / "pool.bin", Path(tmp) / "normals.npy"
        for mib in (48, 768):
            with open(pool, "wb") as fh:
                for _ in range(mib // 48):
                    fh.write(np.random.default_rng(mib).bytes(48 << 20))
            done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(pool), str(out)], capture_output=True,
                                  text=True, check=True)
            before, peak = map(int, done.stdout.split())  # KiB
            print(f"{mib:>7} MiB {out.stat().st_size / 2 ** 20:>8.0f} MiB {peak / 1024:>6.0f} MiB "
                  f"{(peak - before) / 1024:>18.0f} MiB")


if __name__ == "__main__":
    throughput()
    memory()
