"""The feature extractor: a small LeNet-like CNN, its training, and its features and class
probabilities for a batch of images."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from qgan.gan.data import Split
from qgan.gan.models import uint8_to_images
from qgan.params import ClassifierConfig


class Classifier(nn.Module):
    """LeNet-like CNN: images ``(B, 1, 28, 28)`` -> logits ``(B, 10)``.

    :meth:`features` gives the penultimate activations ``(B, FEATURE_DIM)`` that the
    Frechet distance is computed on ("FID-LeNet", not comparable to Inception FID).
    """

    FEATURE_DIM = 128

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),    # (B, 32, 12, 12)
            nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),   # (B, 64, 4, 4)
            nn.Flatten(), nn.Linear(64 * 4 * 4, self.FEATURE_DIM), nn.ReLU())  # (B, 128)
        self.head = nn.Linear(self.FEATURE_DIM, 10)

    def features(self, img: torch.Tensor) -> torch.Tensor:
        return self.body(img)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(img))

def train_classifier(train: Split, cfg: ClassifierConfig, device: torch.device,
                     progress: bool = True) -> Classifier:
    """Adam on cross-entropy, ``cfg.epochs`` passes, seeded init and data order."""
    torch.manual_seed(cfg.seed)
    model = Classifier().to(device)
    order_rng = torch.Generator().manual_seed(cfg.seed)
    images, labels = uint8_to_images(train.images), torch.from_numpy(train.labels).long()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps = -(-len(labels) // cfg.batch_size)
    bar = tqdm(total=cfg.epochs * steps, desc="classifier", disable=not progress)
    model.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(labels), generator=order_rng)
        for i in range(steps):
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            loss = F.cross_entropy(model(images[idx].to(device)), labels[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


@torch.no_grad()
def images_to_outputs(model: Classifier, images: torch.Tensor, batch_size: int = 500
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 1, 28, 28)`` -> features ``(N, 128) float64`` and class probabilities ``(N, 10)``."""
    model.eval()
    device = next(model.parameters()).device
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        f = model.features(images[start:start + batch_size].to(device))
        feats.append(f.double().cpu())
        probs.append(F.softmax(model.head(f), dim=1).double().cpu())
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def accuracy(model: Classifier, split: Split) -> float:
    _, probs = images_to_outputs(model, uint8_to_images(split.images))
    return float((probs.argmax(1) == split.labels).mean())
