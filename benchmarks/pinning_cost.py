"""What pinning the CPU numerics costs: training steps and classifier epochs, pinned vs native.

The pin (qgan/core/numerics.py: ATen AVX2 kernels, oneDNN capped at AVX2, MKL CNR AVX2 strict)
applies only before torch loads, so each measurement is a fresh process; the two modes
alternate over rounds on the same machine. Default recipe: GAN steps of batch 64, latent 100
on the 4,000 bundled digits; the classifier's default epoch (batch 128). Prints seconds per
unit, the speed of pinned relative to native for each, and last ``ratio <pinned / native
speed of a training step>`` (below 1: the pin costs that much).
Run: ``.venv/bin/python benchmarks/pinning_cost.py``
"""
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 3            # alternating native/pinned process pairs
STEPS = 124           # timed GAN steps per process (two epochs), after WARMUP
WARMUP = 10           # untimed GAN steps first (allocations, kernel choice)
THREADS = 2           # train.threads

PROBE = """
from qgan.core.numerics import pin_cpu_numerics
pin_cpu_numerics()
import json, time, torch
from qgan.core.runtime import make_deterministic
from qgan.scoring.classifier import train_classifier
from qgan.gan.data import load_source
from qgan.gan.training import train_gan
from qgan.noise.streams import TorchNoise
from qgan.params import ClassifierConfig, DataConfig, TrainConfig
runtime = make_deterministic({threads})
train, _ = load_source(DataConfig())
steps_per_epoch = len(train.labels) // 64

def gan(steps):
    epochs = -(-steps // steps_per_epoch)
    start = time.perf_counter()
    train_gan(train, TrainConfig(epochs=epochs), 100, 0, TorchNoise(0), torch.device("cpu"), progress=False)
    return (time.perf_counter() - start) / (epochs * steps_per_epoch)

gan({warmup})
step = gan({steps})
start = time.perf_counter()
train_classifier(train, ClassifierConfig(epochs=1), torch.device("cpu"), progress=False)
epoch = time.perf_counter() - start
print(json.dumps({{"step": step, "epoch": epoch, "capability": runtime["aten_cpu_capability"]}}))
"""


def measure(mode: str) -> dict:
    env = {**os.environ, "QGAN_CPU_NUMERICS": mode}
    code = PROBE.format(threads=THREADS, warmup=WARMUP, steps=STEPS)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    results: dict[str, list[dict]] = {"native": [], "pinned": []}
    for _ in range(ROUNDS):
        for mode in results:
            results[mode].append(measure(mode))
    step = {m: statistics.median(r["step"] for r in rs) for m, rs in results.items()}
    epoch = {m: statistics.median(r["epoch"] for r in rs) for m, rs in results.items()}
    print(f"{ROUNDS} rounds, {THREADS} threads; native ATen kernels: {results['native'][0]['capability']}, "
          f"pinned: {results['pinned'][0]['capability']}")
    print(f"{'':<28} {'native':>10} {'pinned':>10} {'pinned speed / native':>22}")
    print(f"{'GAN training step (ms)':<28} {step['native'] * 1e3:>10.2f} {step['pinned'] * 1e3:>10.2f} "
          f"{step['native'] / step['pinned']:>22.3f}")
    print(f"{'classifier epoch (s)':<28} {epoch['native']:>10.2f} {epoch['pinned']:>10.2f} "
          f"{epoch['native'] / epoch['pinned']:>22.3f}")
    print(f"ratio {step['native'] / step['pinned']:.3f}")


if __name__ == "__main__":
    main()
