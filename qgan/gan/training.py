"""Train GANs with the tutorial's recipe, one or many (arm, seed) models per process.

Pairing: for a given seed every arm gets the same weight init, the same data order and the
same dropout masks, from three independent seeds derived from the run's seed
(:func:`pairing_seeds`): init from torch's global generator seeded before building G and D,
data order from its own ``torch.Generator``, dropout masks from the engine's counter-based hash
keyed by the dropout seed (:func:`qgan.gan.engine.dropout_masks`). Only the latent noise differs.

Losses per step (BCE on D's sigmoid output, as the tutorial), per model:
``L_D = BCE(D(x), 1) + BCE(D(G(z1)), 0)`` and ``L_G = BCE(D(G(z2)), 1)``, each BCE a mean over
the batch, with fresh ``z1, z2 ~ noise.sample(B, latent_dim)`` each step; Adam on G and D.
A group's models are stepped together (:class:`GanStack`); the group's objective is the sum of
its models' losses, so each model's gradient is its own.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from qgan.gan.data import Split
from qgan.gan.engine import Adam, StackedMLP, dropout_masks
from qgan.gan.models import Discriminator, Generator, uint8_to_images
from qgan.noise.layout import steps_per_epoch
from qgan.noise.streams import NormalStream
from qgan.params import TrainConfig

LOSS_COLUMNS = ("d_loss_real", "d_loss_fake", "g_loss")  # columns of the per-step loss table
PAIRING_SPAWN_KEY = (0,)  # SeedSequence spawn key of the pairing seeds (noise streams use 2-word keys)
PAIRING = ("init", "order", "dropout")
aten = torch.ops.aten


@dataclass
class TrainedGan:
    generator: Generator
    discriminator: Discriminator
    losses: np.ndarray      # (steps, 3) float32, columns LOSS_COLUMNS
    seconds: float          # wall time of the training loop (of the whole group)


def pairing_seeds(seed: int) -> dict[str, int]:
    """Independent torch seeds ``{"init", "order", "dropout"}`` derived from the run's seed."""
    states = np.random.SeedSequence(seed, spawn_key=PAIRING_SPAWN_KEY).generate_state(len(PAIRING), np.uint64)
    return {name: int(s >> np.uint64(1)) for name, s in zip(PAIRING, states)}  # torch seeds are < 2^63


def build_pair(latent_dim: int, seed: int, device: torch.device) -> tuple[Generator, Discriminator]:
    """G and D initialised from ``seed`` (identical across arms; nn.Linear's default init)."""
    torch.manual_seed(pairing_seeds(seed)["init"])
    return Generator(latent_dim).to(device), Discriminator().to(device)


class GanStack:
    """M (arm, seed) GANs stepped together: stacked G and D, their Adams, data orders, dropout
    keys and noise streams. ``step(real)`` is one D step then one G step for every model."""

    def __init__(self, seeds: list[int], noises: list[NormalStream], cfg: TrainConfig, latent_dim: int,
                 device: torch.device):
        pairs = [build_pair(latent_dim, s, torch.device("cpu")) for s in seeds]
        self.g = StackedMLP([g.model for g, _ in pairs], device)
        self.d = StackedMLP([d.model for _, d in pairs], device)
        betas = (cfg.beta1, cfg.beta2)
        self.adam_g = Adam(self.g.views, self.g.grads, cfg.lr, betas)
        self.adam_d = Adam(self.d.views, self.d.grads, cfg.lr, betas)
        self.keys = torch.tensor([pairing_seeds(s)["dropout"] for s in seeds], dtype=torch.int64, device=device)
        self.orders = [torch.Generator().manual_seed(pairing_seeds(s)["order"]) for s in seeds]
        self.noises, self.latent_dim, self.device, self.batch = noises, latent_dim, device, cfg.batch_size
        drops = [(i, layer.p) for i, layer in enumerate(self.d.layers) if isinstance(layer, torch.nn.Dropout)]
        widths = [self.d.layers[i - 2].out_features for i, _ in drops]   # Linear -> LeakyReLU -> Dropout
        self.p = drops[0][1]
        b, m = self.batch, len(seeds)
        self.mask_shapes = [(2 * b, w) for w in widths] + [(b, w) for w in widths]
        self.targets = torch.cat([torch.ones(m, b, 1), torch.zeros(m, b, 1)], 1).to(device)   # (M, 2B, 1)
        self.inv_batch = torch.full((m, 2 * b, 1), 1.0 / b, device=device)                   # d mean / d element
        self.draw = 0

    def epoch_images(self, images: torch.Tensor) -> torch.Tensor:
        """Each model's shuffled copy of ``images (N, 784)``: ``(M, N, 784)``."""
        perms = [torch.randperm(len(images), generator=g).to(self.device) for g in self.orders]
        return torch.stack([images.index_select(0, p) for p in perms])

    def _z(self) -> torch.Tensor:
        return torch.stack([n.sample(self.batch, self.latent_dim) for n in self.noises]).to(self.device)  # (M,B,L)

    def step(self, real: torch.Tensor) -> torch.Tensor:
        """One D and one G Adam step on ``real (M, B, 784)``; returns losses ``(M, 3)``."""
        b = self.batch
        masks = dropout_masks(self.keys, self.draw, self.mask_shapes, self.p)
        self.draw += 1
        fake = self.g.forward(self._z())                                           # (M, B, 784)
        prob = self.d.forward(torch.cat([real, fake], 1), masks[:2], save=True)    # (M, 2B, 1)
        bce = aten.binary_cross_entropy(prob, self.targets, None, 0)               # (M, 2B, 1) per element
        loss_real, loss_fake = bce[:, :b].mean((1, 2)), bce[:, b:].mean((1, 2))
        self.d.backward(aten.binary_cross_entropy_backward(self.inv_batch, prob, self.targets, None, 0),
                        inputs=False, optimizer=self.adam_d)

        fake = self.g.forward(self._z(), save=True)
        prob = self.d.forward(fake, masks[2:], save=True)                           # (M, B, 1)
        ones = self.targets[:, :b]
        loss_g = aten.binary_cross_entropy(prob, ones, None, 0).mean((1, 2))
        d_fake = self.d.backward(aten.binary_cross_entropy_backward(self.inv_batch[:, :b], prob, ones, None, 0),
                                 weights=False)                                    # D's gradients are not kept
        self.g.backward(d_fake, inputs=False, optimizer=self.adam_g)
        return torch.stack([loss_real, loss_fake, loss_g], 1)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(M, n, 1, 28, 28)`` from ``z (M, n, latent_dim)``, G in eval mode."""
        return self.g.forward(z.to(self.device), train=False).view(z.shape[0], -1, 1, 28, 28)

    def to_modules(self, latent_dim: int) -> list[tuple[Generator, Discriminator]]:
        out = []
        for g_state, d_state in zip(self.g.state_dicts(), self.d.state_dicts()):
            g, d = Generator(latent_dim), Discriminator()
            g.model.load_state_dict(g_state)
            d.model.load_state_dict(d_state)
            out.append((g.to(self.device).eval(), d.to(self.device).eval()))
        return out


@torch.no_grad()
def train_group(train: Split, cfg: TrainConfig, latent_dim: int, seeds: list[int], noises: list[NormalStream],
                device: torch.device, desc: str = "train", progress: bool = True,
                on_epoch_end: Callable[[int, Callable[[list[torch.Tensor]], list[torch.Tensor]], torch.Tensor], None]
                | None = None) -> list[TrainedGan]:
    """Train one GAN per (seed, noise) for ``cfg.epochs`` epochs, all stepped together.

    A model's weights do not depend on the other models of the group or on its position in it
    (on the CPU, tested bit for bit: every kernel computes each model's slice alone).
    ``on_epoch_end(epoch, generate, losses)`` is called after each epoch (1-based); ``generate(zs)`` maps
    one ``(n, latent_dim)`` noise per model to its images ``(n, 1, 28, 28)`` on the CPU (G in eval mode),
    and ``losses`` is the loss table so far, ``(steps done, M, 3)`` on the device (the stage sends
    each epoch's rows to MLflow while the next epoch trains).
    """
    group = GanStack(seeds, noises, cfg, latent_dim, device)
    images = uint8_to_images(train.images).view(len(train.images), -1).to(device)   # (N, 784) in [-1, 1]
    batch, steps = cfg.batch_size, steps_per_epoch(len(images), cfg.batch_size)
    losses = torch.zeros(cfg.epochs * steps, len(seeds), 3, device=device)        # (steps, M, 3)
    bar = tqdm(total=cfg.epochs * steps * len(seeds), desc=desc, unit="model-step", disable=not progress)
    start = time.perf_counter()

    def generate(zs: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(group.generate(torch.stack(zs)).cpu().unbind(0))

    for epoch in range(cfg.epochs):
        shuffled = group.epoch_images(images)                    # (M, N, 784)
        for i in range(steps):
            step = epoch * steps + i
            losses[step] = group.step(shuffled[:, i * batch:(i + 1) * batch])
            bar.update(len(seeds))
            if step % 50 == 0 or step == len(losses) - 1:
                row = losses[step].mean(0).tolist()
                bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", d_loss=f"{row[0] + row[1]:.3f}",
                                g_loss=f"{row[2]:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, generate, losses[:(epoch + 1) * steps])
    bar.close()
    seconds = time.perf_counter() - start
    table = losses.cpu().numpy()
    return [TrainedGan(g, d, table[:, k], seconds) for k, (g, d) in enumerate(group.to_modules(latent_dim))]


def train_gan(train: Split, cfg: TrainConfig, latent_dim: int, seed: int, noise: NormalStream,
              device: torch.device, desc: str = "train", progress: bool = True, on_epoch_end=None) -> TrainedGan:
    """One GAN: :func:`train_group` with a group of one."""
    return train_group(train, cfg, latent_dim, [seed], [noise], device, desc, progress, on_epoch_end)[0]


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
