"""Training-step time with the pool's noise vs ``torch.randn``, side by side in one process.

Trains the default GAN recipe (MLP G and D, batch 64, latent 100, 2 threads) through the real
:func:`qgan.gan.training.train_gan` on the bundled digits, one block of epochs per source per round,
interleaved over rounds so that drift in machine load hits every source alike. Sources:

- ``torch``: the ``torch`` arm (``torch.randn`` from its own generator): the baseline;
- ``entropy``: the ``entropy`` arm, normals read from a memory-mapped ``normals.npy`` on disk;
- ``tutorial``: the tutorial's per-batch path (bytes / 255, numpy Box-Muller per batch)
  on bytes already fetched (its network time left out); its infinities (``log(0)``) are
  counted and zeroed, or training would stop on NaN.

Prints seconds per step and the ratio to ``torch``. Goal: entropy / torch <= 1.03.
No assertion: a ratio to read. Run: ``.venv/bin/python benchmarks/noise_overhead.py``
"""
import statistics
import tempfile
from pathlib import Path

from qgan.core.numerics import pin_cpu_numerics

pin_cpu_numerics()  # as the train stage does, before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from qgan.core.runtime import make_deterministic  # noqa: E402
from qgan.gan.data import load_source  # noqa: E402
from qgan.gan.training import train_gan  # noqa: E402
from qgan.noise.convert import pool_to_normals_file  # noqa: E402
from qgan.noise.streams import ArrayNoise, NormalStream, TorchNoise  # noqa: E402
from qgan.params import DataConfig, TrainConfig  # noqa: E402

LATENT, BATCH = 100, 64  # the default recipe
EPOCHS_PER_BLOCK = 2      # epochs each source trains per round (62 steps each on 4,000 digits)
ROUNDS = 8                # interleaved rounds, after one warm-up round; round r trains seed r in every source


class TutorialNoise(NormalStream):
    """the tutorial's ``QuantumNoiseGenerator.generate_noise``, per call, on a byte buffer."""

    def __init__(self, raw: bytes):
        super().__init__({"source": "tutorial"})
        self.raw, self.pos, self.nonfinite = np.frombuffer(raw, dtype=np.uint8), 0, 0

    def _next(self, n: int) -> np.ndarray:
        size = n + n % 2
        quantum_bytes = self.raw[self.pos:self.pos + size]
        self.pos += size
        uniform = quantum_bytes.astype(np.float32) / 255.0            # reaches 0: log(0) = -inf
        pairs = uniform.reshape(-1, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.sqrt(-2.0 * np.log(pairs[:, 0]))
            theta = 2.0 * np.pi * pairs[:, 1]
            normal = np.column_stack([r * np.cos(theta), r * np.sin(theta)]).reshape(-1)[:n]
        bad = ~np.isfinite(normal)
        self.nonfinite += int(bad.sum())
        normal[bad] = 0.0  # not in the tutorial: its infinities would stop training (BCE on NaN)
        return normal.astype(np.float32)


def main() -> None:
    make_deterministic(2)
    train, _ = load_source(DataConfig())
    cfg = TrainConfig(epochs=EPOCHS_PER_BLOCK)
    steps = EPOCHS_PER_BLOCK * (len(train.labels) // BATCH)
    need = (ROUNDS + 1) * steps * 2 * BATCH * LATENT  # normals each source draws in all
    with tempfile.TemporaryDirectory() as tmp:
        pool, out = Path(tmp) / "pool.bin", Path(tmp) / "normals.npy"
        pool.write_bytes(np.random.default_rng(0).bytes(3 * need))
        pool_to_normals_file(pool, out, 24, "box_muller")
        sources = {"torch": TorchNoise(0),
                   "entropy": ArrayNoise(np.load(out, mmap_mode="r"), 0, need),
                   "tutorial": TutorialNoise(np.random.default_rng(1).bytes(need + 2))}
        seconds = {name: [] for name in sources}
        for r in range(-1, ROUNDS):  # round -1 warms caches and allocators up and is not counted
            for name, noise in sources.items():
                trained = train_gan(train, cfg, LATENT, max(r, 0), noise, torch.device("cpu"), progress=False)
                if r >= 0:
                    seconds[name].append(trained.seconds)  # the training loop only, not model set-up
    base = sum(seconds["torch"])
    print(f"{ROUNDS} rounds x {steps} steps per source, batch {BATCH}, latent {LATENT}, 2 threads, CPU")
    print(f"{'source':<15} {'ms per step':>12} {'time vs torch':>14} {'median of round ratios':>24}")
    for name, values in seconds.items():
        ratios = [v / t for v, t in zip(values, seconds["torch"])]
        print(f"{name:<15} {1000 * sum(values) / (ROUNDS * steps):>12.2f} {sum(values) / base:>13.3f}x "
              f"{statistics.median(ratios):>23.3f}x")
    print(f"goal: entropy / torch <= 1.03; the tutorial's path made "
          f"{sources['tutorial'].nonfinite:,} non-finite normals of {need:,}")


if __name__ == "__main__":
    main()
