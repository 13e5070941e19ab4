"""Training throughput: model-steps per second of qgan's engine against the previous loop.

The baseline is the training loop qgan shipped before the engine (kept here verbatim in
spirit: ``nn.Module`` G and D, ``nn.BCELoss``, two ``torch.optim.Adam`` (foreach), dropout
from ``bernoulli_``, D on real and fake in two passes). The engine (qgan.gan.training.train_group)
trains a group of M (arm, seed) models in one process. Both run the default recipe (batch 64,
latent 100, 4,000 digits of random pixels: speed does not depend on the pixels), interleaved
over rounds in one process with the pinned numerics. On the CPU: M = 1, 2, 8 and the default
block's size (4); on CUDA, when present: M = 1, 64, 256. Prints model-steps per second and
runs per hour (60 epochs x 62 steps) for each (medians over rounds), and last
``ratio <median over rounds of engine / baseline at the default group size on this device>``
(CPU: the default block, 4; CUDA: 256). Both time their training loop only.
Run: ``.venv/bin/python benchmarks/train_throughput.py [--device cuda] [--rounds N]``
"""
from qgan.core.numerics import pin_cpu_numerics

pin_cpu_numerics()

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from qgan.core.runtime import make_deterministic, select_device  # noqa: E402
from qgan.gan.data import Split  # noqa: E402
from qgan.gan.models import Discriminator, Generator, uint8_to_images  # noqa: E402
from qgan.gan.training import train_group  # noqa: E402
from qgan.noise.streams import TorchNoise  # noqa: E402
from qgan.params import TrainConfig  # noqa: E402

LATENT = 100           # the default latent_dim
N_TRAIN = 4000         # the bundled training split's size
RUN_STEPS = 60 * 62    # model-steps of one default run (60 epochs of 62 steps)


def baseline_steps(train: Split, cfg: TrainConfig, steps: int, device: torch.device) -> float:
    """The previous loop for ``steps`` steps; returns seconds."""
    torch.manual_seed(0)
    generator, discriminator = Generator(LATENT).to(device), Discriminator().to(device)
    noise = TorchNoise(0)
    images = uint8_to_images(train.images)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    bce, batch = nn.BCELoss(), cfg.batch_size
    ones, zeros = torch.ones(batch, 1, device=device), torch.zeros(batch, 1, device=device)
    losses = torch.zeros(steps, 3, device=device)
    perm = torch.randperm(len(images))
    start = time.perf_counter()
    for i in range(steps):
        j = i % (len(images) // batch)
        real = images[perm[j * batch:(j + 1) * batch]].to(device)
        fake = generator(noise.sample(batch, LATENT).to(device))
        loss_real = bce(discriminator(real), ones)
        loss_fake = bce(discriminator(fake.detach()), zeros)
        opt_d.zero_grad()
        (loss_real + loss_fake).backward()
        opt_d.step()
        loss_g = bce(discriminator(generator(noise.sample(batch, LATENT).to(device))), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        losses[i] = torch.stack([loss_real.detach(), loss_fake.detach(), loss_g.detach()])
    losses.sum().item()
    return time.perf_counter() - start


def engine_steps(train: Split, cfg: TrainConfig, group: int, device: torch.device) -> float:
    """A group of ``group`` models for ``cfg.epochs`` epochs; returns the seconds of its training
    loop (like the baseline's: model building and the hand-back to modules are not timed)."""
    seeds = list(range(group))
    runs = train_group(train, cfg, LATENT, seeds, [TorchNoise(s) for s in seeds], device, progress=False)
    return runs[0].seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    device = select_device(args.device)
    runtime = make_deterministic(2)
    rng = np.random.default_rng(0)
    train = Split(rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8), (np.arange(N_TRAIN) % 10).astype(np.uint8))
    cfg = TrainConfig(epochs=1)
    steps = N_TRAIN // cfg.batch_size
    default = len(TrainConfig().blocks[0][1]) if device.type == "cpu" else 256  # the default block's size
    groups = sorted({1, 2, 8, default} if device.type == "cpu" else {1, 64, 256})
    print(f"device {device} ({runtime['aten_cpu_capability']} CPU kernels, {torch.get_num_threads()} threads), "
          f"{steps} steps per epoch, {args.rounds} rounds; default group size {default}")
    baseline_steps(train, cfg, 5, device)
    engine_steps(train, cfg, 1, device)  # warm-up: allocations, kernel choice
    rates: dict = {"baseline": []}
    for _ in range(args.rounds):
        rates["baseline"].append(steps / baseline_steps(train, cfg, steps, device))
        for group in groups:
            rates.setdefault(group, []).append(group * steps / engine_steps(train, cfg, group, device))
    base = statistics.median(rates["baseline"])
    print(f"{'loop':<28} {'model-steps/s':>14} {'runs/hour':>10} {'vs baseline':>12}")
    print(f"{'baseline (previous loop)':<28} {base:>14.1f} {3600 * base / RUN_STEPS:>10.1f} {1.0:>12.2f}")
    for group in groups:
        rate = statistics.median(rates[group])
        print(f"{f'engine, group of {group}':<28} {rate:>14.1f} {3600 * rate / RUN_STEPS:>10.1f} {rate / base:>12.2f}")
    per_round = [e / b for e, b in zip(rates[default], rates["baseline"])]  # each round side by side
    print(f"per-round ratios at the default group size: {', '.join(f'{r:.2f}' for r in per_round)}")
    print(f"ratio {statistics.median(per_round):.3f}")


if __name__ == "__main__":
    main()
