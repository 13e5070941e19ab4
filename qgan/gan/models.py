"""The tutorial's MLP GAN (kept as the default), the image encoding and a weight digest.

Images are ``(B, 1, 28, 28)`` float32 in [-1, 1] (``pixel / 127.5 - 1``) everywhere.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn as nn

IMAGE_SIZE = 28 * 28


class Generator(nn.Module):
    """z ``(B, latent_dim)`` -> images ``(B, 1, 28, 28)`` in [-1, 1] (the tutorial's, unchanged)."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.LeakyReLU(0.2), nn.BatchNorm1d(256),
            nn.Linear(256, 512), nn.LeakyReLU(0.2), nn.BatchNorm1d(512),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2), nn.BatchNorm1d(1024),
            nn.Linear(1024, IMAGE_SIZE), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z).view(-1, 1, 28, 28)  # (B, 1, 28, 28)


class Discriminator(nn.Module):
    """images ``(B, 1, 28, 28)`` -> probability real ``(B, 1)`` (the tutorial's, unchanged)."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(IMAGE_SIZE, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img.view(-1, IMAGE_SIZE))  # (B, 1)


def uint8_to_images(pixels: np.ndarray) -> torch.Tensor:
    """``(N, 28, 28) uint8 -> (N, 1, 28, 28) float32`` in [-1, 1]."""
    return torch.from_numpy(pixels).float().div_(127.5).sub_(1.0).unsqueeze(1)


def checkpoint_to_generator(checkpoint: dict, device: torch.device) -> Generator:
    """The generator of a train-stage checkpoint (``{"latent_dim", "generator": state_dict, ...}``), in eval mode."""
    generator = Generator(checkpoint["latent_dim"]).to(device)
    generator.load_state_dict(checkpoint["generator"])
    return generator.eval()


def state_dict_sha256(module: nn.Module) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in state_dict order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return digest.hexdigest()
