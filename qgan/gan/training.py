"""Train one GAN (one arm, one seed) with the tutorial's recipe.

Pairing: for a given seed every arm gets the same weight init, the same data order and the
same dropout masks, from three independent seeds derived from the run's seed
(:func:`pairing_seeds`): init from torch's global generator seeded before building G and D,
data order from its own ``torch.Generator``, dropout from the global generator re-seeded
after init (noise sources never touch it). Only the latent noise differs.

Losses per step (BCE, as the tutorial):
``L_D = BCE(D(x), 1) + BCE(D(G(z1)), 0)`` and ``L_G = BCE(D(G(z2)), 1)``, with fresh
``z1, z2 ~ noise.sample(B, latent_dim)`` each step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from qgan.gan.data import Split
from qgan.gan.models import Discriminator, Generator, uint8_to_images
from qgan.noise.layout import steps_per_epoch
from qgan.noise.streams import NormalStream
from qgan.params import TrainConfig

LOSS_COLUMNS = ("d_loss_real", "d_loss_fake", "g_loss")  # columns of the per-step loss table
PAIRING_SPAWN_KEY = (0,)  # SeedSequence spawn key of the pairing seeds (noise streams use 2-word keys)
PAIRING = ("init", "order", "dropout")


@dataclass
class TrainedGan:
    generator: Generator
    discriminator: Discriminator
    losses: np.ndarray      # (steps, 3) float32, columns LOSS_COLUMNS
    seconds: float          # wall time of the training loop


def pairing_seeds(seed: int) -> dict[str, int]:
    """Independent torch seeds ``{"init", "order", "dropout"}`` derived from the run's seed."""
    states = np.random.SeedSequence(seed, spawn_key=PAIRING_SPAWN_KEY).generate_state(len(PAIRING), np.uint64)
    return {name: int(s >> np.uint64(1)) for name, s in zip(PAIRING, states)}  # torch seeds are < 2^63


def build_pair(latent_dim: int, seed: int, device: torch.device) -> tuple[Generator, Discriminator]:
    """G and D initialised from ``seed`` (identical across arms); the global generator is then
    re-seeded for dropout, so dropout masks do not depend on how much init drew."""
    seeds = pairing_seeds(seed)
    torch.manual_seed(seeds["init"])
    pair = Generator(latent_dim).to(device), Discriminator().to(device)
    torch.manual_seed(seeds["dropout"])
    return pair


def train_gan(train: Split, cfg: TrainConfig, latent_dim: int, seed: int, noise: NormalStream,
              device: torch.device, desc: str = "train", progress: bool = True,
              on_epoch_end: Callable[[int, Generator], None] | None = None) -> TrainedGan:
    """Run ``cfg.epochs`` epochs of alternating D and G Adam steps on ``train``.

    ``on_epoch_end(epoch, generator)`` is called after each epoch (1-based) with G in eval
    mode under ``torch.no_grad``; it must not draw from torch's global generator.
    """
    generator, discriminator = build_pair(latent_dim, seed, device)
    order_rng = torch.Generator().manual_seed(pairing_seeds(seed)["order"])
    images = uint8_to_images(train.images)  # (N, 1, 28, 28) in [-1, 1]
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    bce = nn.BCELoss()
    batch = cfg.batch_size
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    steps = steps_per_epoch(len(images), batch)
    losses = torch.zeros(cfg.epochs * steps, 3, device=device)
    bar = tqdm(total=cfg.epochs * steps, desc=desc, unit="step", disable=not progress)
    start = time.perf_counter()
    generator.train(), discriminator.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(images), generator=order_rng)
        for i in range(steps):
            real = images[perm[i * batch:(i + 1) * batch]].to(device)     # (B, 1, 28, 28)
            z = noise.sample(batch, latent_dim).to(device)                 # (B, latent_dim)
            fake = generator(z)
            loss_real = bce(discriminator(real), ones)
            loss_fake = bce(discriminator(fake.detach()), zeros)
            opt_d.zero_grad()
            (loss_real + loss_fake).backward()
            opt_d.step()

            z = noise.sample(batch, latent_dim).to(device)                 # (B, latent_dim)
            loss_g = bce(discriminator(generator(z)), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()

            step = epoch * steps + i
            losses[step] = torch.stack([loss_real.detach(), loss_fake.detach(), loss_g.detach()])
            bar.update()
            if step % 25 == 0 or step == len(losses) - 1:
                d, g = (losses[step, 0] + losses[step, 1]).item(), losses[step, 2].item()
                bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", d_loss=f"{d:.3f}", g_loss=f"{g:.3f}")
        if on_epoch_end is not None:
            generator.eval()
            with torch.no_grad():
                on_epoch_end(epoch + 1, generator)
            generator.train()
    bar.close()
    seconds = time.perf_counter() - start
    return TrainedGan(generator.eval(), discriminator.eval(), losses.cpu().numpy(), seconds)


@torch.no_grad()
def generate_images(generator: Generator, noise: NormalStream, n: int, batch_size: int = 500
                    ) -> torch.Tensor:
    """``n`` images ``(n, 1, 28, 28)`` float32 in [-1, 1] on the CPU, G in eval mode."""
    generator.eval()
    device = next(generator.parameters()).device
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        out.append(generator(noise.sample(b, generator.latent_dim).to(device)).cpu())
    return torch.cat(out)


def loss_summary(losses: np.ndarray, steps_per_epoch_: int) -> dict:
    """Mean losses over the last epoch, for metrics files."""
    last = losses[-steps_per_epoch_:]
    return {"d_loss": float((last[:, 0] + last[:, 1]).mean()), "g_loss": float(last[:, 2].mean()),
            "d_loss_real": float(last[:, 0].mean()), "d_loss_fake": float(last[:, 1].mean())}
