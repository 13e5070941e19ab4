"""Train the feature extractor (a small CNN) and read features and class probabilities."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from qgan.gan.data import Split
from qgan.gan.models import Classifier, uint8_to_images
from qgan.params import ClassifierConfig


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
