"""``qgan score IMAGES``: any set of images on the project's instrument, against the test split.

Reads a ``.npy`` array, a ``.npz`` holding one array, or a folder of 28x28 grayscale PNGs
(:func:`read_images`), checks it at the boundary (:func:`qgan.scoring.images.array_to_images`),
and scores it as the evaluate stage scores a generator's samples, on the CPU: the versioned
extractor's features against the real test digits (:func:`run_score`). It writes nothing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from qgan.core.errors import QganError
from qgan.core.metric_registry import METRICS
from qgan.core.runtime import make_deterministic
from qgan.gan.data import load_split
from qgan.gan.models import state_dict_sha256
from qgan.params import Params
from qgan.pipeline.evaluate import load_extractor
from qgan.scoring.classifier import EXTRACTOR_NAME, images_to_outputs
from qgan.scoring.images import array_to_images
from qgan.scoring.metrics import features_to_metrics
from qgan.scoring.score import split_to_reference


def read_images(path: Path) -> np.ndarray:
    """The array a ``.npy`` or single-array ``.npz`` file holds (no pickles), or a folder's PNGs stacked
    ``(N, 28, 28) uint8`` in name order; one line for anything else."""
    if path.is_dir():
        from PIL import Image, UnidentifiedImageError

        files = sorted(path.glob("*.png"))
        if not files:
            raise QganError(f"{path}: no .png files in the folder")
        images = []
        for file in files:
            try:
                img = Image.open(file)
            except (UnidentifiedImageError, OSError):
                raise QganError(f"{file}: not a readable PNG image") from None
            with img:
                if img.size != (28, 28) or img.mode not in ("L", "1", "P", "RGB", "RGBA"):
                    raise QganError(f"{file}: a {img.size[0]}x{img.size[1]} {img.mode} image, not 28x28 grayscale")
                pixels = np.asarray(img.convert("L"))
                if img.mode in ("RGB", "RGBA") and not np.array_equal(np.asarray(img.convert("RGB")),
                                                                         np.repeat(pixels[..., None], 3, 2)):
                    raise QganError(f"{file}: a colour image, not grayscale")
            images.append(pixels)
        return np.stack(images)
    if not path.exists():
        raise QganError(f"{path}: no such file or folder")
    import zipfile

    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded
        with loaded:
            if len(loaded.files) != 1:
                raise QganError(f"{path}: holds {len(loaded.files)} arrays ({', '.join(loaded.files) or 'none'}); "
                                "save exactly one")
            return loaded[loaded.files[0]]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise QganError(f"{path}: not a .npy or .npz array ({reason})") from None


def run_score(params: Params, images_path: Path, classifier: Path, data: Path, classifier_metrics: Path) -> dict:
    """Every metric of the images at ``images_path`` against the data stage's test split, on the
    classifier at ``classifier`` (refused unless its digest is the one ``classifier_metrics`` records)."""
    images = array_to_images(read_images(images_path), str(images_path))  # before anything is loaded
    make_deterministic(params.train.threads)
    model = load_extractor(classifier, classifier_metrics, torch.device("cpu"))
    cfg = params.evaluate
    test = load_split(data, "test")
    reference = split_to_reference(model, test, cfg.batch_size)
    with torch.no_grad():
        feats, probs = images_to_outputs(model, images, cfg.batch_size)
    m = features_to_metrics(reference, feats, probs, cfg.kid_subsets, cfg.kid_subset_size)
    return {"n_images": int(len(images)), "n_test": int(len(test.labels)), "family": list(cfg.family),
            "extractor": {"name": EXTRACTOR_NAME, "sha256": state_dict_sha256(model)},
            "metrics": {k: float(m[k]) for k in METRICS}, "kid_std": float(m["kid_std"]),
            "class_counts": [int(c) for c in m["class_counts"]]}


def score_to_lines(result: dict) -> list[str]:
    """What ``qgan score`` prints: the primary family, every secondary metric, the class histogram."""
    m = result["metrics"]
    lines = [f"{result['n_images']:,} images scored against {result['n_test']:,} real test digits; extractor "
             f"{result['extractor']['name']} {result['extractor']['sha256'][:16]}..."]
    lines += [f"{role}: {METRICS[k][0]} {m[k]:.4f} ({'lower' if METRICS[k][1] else 'higher'} is better)"
              for role, k in zip(("primary (quality)", "primary (diversity)"), result["family"])]
    lines += [f"  {METRICS[k][0]:<30} {v:.4f}" + (f" (sd over subsets {result['kid_std']:.4f})" if k == "kid" else "")
              for k, v in m.items() if k not in result["family"]]
    lines += [f"class histogram (digits 0-9): {' '.join(map(str, result['class_counts']))}",
              "FID-like metrics are biased in N: compare only at equal N (the evaluate stage scores "
              "evaluate.n_samples images per generator)."]
    return lines
