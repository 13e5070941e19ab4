"""The feature extractor: a small LeNet-like CNN, its training, its features and class
probabilities for a batch of images, the effective rank of its feature space, and the
versioned digests that pin it.

It trains on the training digits less the last ``classifier.holdout`` (:func:`split_holdout`:
MNIST's validation 10,000), so the real-data floor is computed on digits it has never seen.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from qgan.core.errors import QganError
from qgan.gan.data import Split
from qgan.gan.models import state_dict_sha256, uint8_to_images
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


def split_holdout(train: Split, holdout: int) -> tuple[Split, Split]:
    """``(fit, held)``: the first ``n - holdout`` training digits (the extractor learns from them) and
    the last ``holdout`` (never seen by it: the real floor). One line if ``holdout`` exceeds ``n / 2``."""
    n = len(train.labels)
    if holdout > n // 2:
        raise QganError(f"params.yaml: classifier.holdout: {holdout} is not allowed (at most half of the {n} "
                        "training digits)")
    return train.take(np.arange(n - holdout)), train.take(np.arange(n - holdout, n))


def features_to_rank(features: np.ndarray) -> dict:
    """How many directions a feature space uses: for features ``(n, D)`` with covariance eigenvalues
    ``l_1..l_D``, the participation ratio ``(sum l)^2 / sum l^2`` (1 if one direction carries all
    the variance, D if all carry the same), and the trace ``sum l``."""
    eig = np.clip(np.linalg.eigvalsh(np.cov(np.asarray(features, dtype=np.float64), rowvar=False)), 0, None)
    return {"feature_dim": int(features.shape[1]), "effective_rank": float(eig.sum() ** 2 / (eig ** 2).sum()),
            "trace": float(eig.sum())}


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


EXTRACTOR_NAME = "classifier penultimate (128-d), v3"  # what FID-LeNet and the other metrics are computed on
# The shipped extractor: its weights (``.pt``, a state dict) and provenance (``.json``: weight digest,
# the data digest, classifier params and CPU numerics it was trained with, its key). Shipped rather
# than re-trained per machine because training's last bits follow the CPU vendor (MKL honours its
# reproducible AVX2 branch only on Intel CPUs; oneDNN promises bitwise results only on one
# platform): an extractor re-trained elsewhere is another extractor, like Inception re-trained.
SHIPPED = Path(__file__).with_name("extractors") / "fid-lenet-v3"
SHIPPED_PROVENANCE: dict = json.loads(SHIPPED.with_suffix(".json").read_text())
# The versioned extractors: for a (data digest, classifier params, numerics) key, the weight digest
# (state_dict_sha256) its training must give. A classifier stage that trains (``classifier.source:
# train``) with a key here and other weights stops instead of scoring with a different extractor.
VERSIONED_EXTRACTORS: dict[str, str] = {SHIPPED_PROVENANCE["extractor_key"]: SHIPPED_PROVENANCE["extractor_sha256"]}


def recipe(cfg: ClassifierConfig) -> dict:
    """The params that decide the weights (all but ``source``)."""
    return {k: v for k, v in cfg.to_dict().items() if k != "source"}


def extractor_key(data_digest: str, cfg: ClassifierConfig, numerics: dict) -> str:
    """sha256 of what decides the classifier's weights: the data, its recipe and the CPU numerics."""
    ident = {"data": data_digest, "classifier": recipe(cfg), "numerics": numerics}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def check_versioned(key: str, digest: str, versioned: dict[str, str] = VERSIONED_EXTRACTORS) -> None:
    """Stop with one line if ``key`` names a versioned extractor and ``digest`` is not its weights."""
    want = versioned.get(key)
    if want is not None and want != digest:
        raise QganError(f"classifier: these weights have digest {digest[:16]}..., but the versioned extractor for "
                        f"this data, these params and these CPU numerics is {want[:16]}...: this machine computes "
                        "differently (another CPU vendor?), and its FID-LeNet would not compare with other machines'; "
                        "set classifier.source: versioned to use the shipped weights; nothing was written")


def load_shipped(data_digest: str, cfg: ClassifierConfig, shipped: Path = SHIPPED) -> Classifier:
    """The shipped extractor, after checking that it was made for this data and recipe (else one
    line: train one with ``classifier.source: train``) and that its weights are intact."""
    prov = json.loads(shipped.with_suffix(".json").read_text())
    if data_digest != prov["data_digest"]:
        raise QganError(f"classifier.source: versioned: the shipped extractor was trained on the default data "
                        f"(mnist, digest {prov['data_digest'][:16]}...), not this data ({data_digest[:16]}...); "
                        "set classifier.source: train")
    changed = {k: v for k, v in recipe(cfg).items() if prov["classifier"].get(k) != v}
    if changed:
        named = ", ".join(f"classifier.{k} {prov['classifier'].get(k)} -> {v}" for k, v in sorted(changed.items()))
        raise QganError(f"classifier.source: versioned: the shipped extractor was trained with other params ({named}); "
                        "set classifier.source: train, or restore them")
    model = Classifier()
    try:
        model.load_state_dict(torch.load(shipped.with_suffix(".pt"), map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError) as exc:
        raise QganError(f"{shipped.with_suffix('.pt')}: not a classifier state dict ({type(exc).__name__}); "
                        "reinstall qgan") from None
    digest = state_dict_sha256(model)
    if digest != prov["extractor_sha256"]:
        raise QganError(f"{shipped.with_suffix('.pt')}: weights have digest {digest[:16]}..., not the shipped "
                        f"{prov['extractor_sha256'][:16]}... (damaged file); reinstall qgan")
    return model.eval()


def same_extractor(digests: dict[str, str]) -> str:
    """The one extractor digest of ``{what: digest}``; refuses (one line) to compare metrics of two."""
    found = sorted(set(digests.values()))
    if len(found) > 1:
        named = ", ".join(f"{what} {d[:16]}..." for what, d in sorted(digests.items()))
        raise QganError(f"cannot compare metrics computed with different feature extractors ({named}): "
                        "re-run the classifier stage, then evaluate")
    return found[0]
