"""Latent-noise throughput: qgan's sources vs ``torch.randn``, side by side in one process.

Draws the training recipe's batches (64 x 100) from each source, interleaved over rounds,
and prints normals per second and the ratio to ``torch.randn``. No assertion: a ratio to read.
Run: ``.venv/bin/python benchmarks/noise_sources.py``
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from qgan.noise.convert import pool_to_normals_file
from qgan.noise.streams import ArrayNoise, PrngNoise

BATCH, LATENT, DRAWS, ROUNDS = 64, 100, 2000, 5


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        pool, out = Path(tmp) / "pool.bin", Path(tmp) / "normals.npy"
        need = BATCH * LATENT * DRAWS * ROUNDS
        pool.write_bytes(np.random.default_rng(0).bytes(3 * need))
        pool_to_normals_file(pool, out, 24, "box_muller")
        normals = np.load(out, mmap_mode="r")
        entropy = ArrayNoise(normals, 0, need)
        prng = PrngNoise(np.random.SeedSequence(0), 24, "box_muller")
        gen = torch.Generator().manual_seed(0)
        sources = {"torch.randn": lambda: torch.randn(BATCH, LATENT, generator=gen),
                   "entropy (pool memmap)": lambda: entropy.sample(BATCH, LATENT),
                   "prng (PCG64 bytes -> Box-Muller)": lambda: prng.sample(BATCH, LATENT)}
        seconds = dict.fromkeys(sources, 0.0)
        for _ in range(ROUNDS):  # interleaved, so drift in machine load hits every source alike
            for name, draw in sources.items():
                start = time.perf_counter()
                for _ in range(DRAWS):
                    draw()
                seconds[name] += time.perf_counter() - start
    base = seconds["torch.randn"]
    print(f"{'source':<34} {'normals/s':>14} {'time vs torch.randn':>20}")
    for name, s in seconds.items():
        print(f"{name:<34} {BATCH * LATENT * DRAWS * ROUNDS / s:>14,.0f} {s / base:>19.2f}x")


if __name__ == "__main__":
    main()
