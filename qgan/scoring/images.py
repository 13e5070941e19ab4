"""Images from elsewhere, checked at the boundary: any accepted layout and scale -> the generator's.

``qgan score`` takes arrays as ``(N, 28, 28)``, ``(N, 1, 28, 28)`` or ``(N, 784)``, as uint8 in
[0, 255] or floats in [0, 1] or [-1, 1] (the range decides which: a float array with a negative
value is read as [-1, 1]), and returns ``(N, 1, 28, 28)`` float32 in [-1, 1]: uint8 exactly as
:func:`qgan.gan.models.uint8_to_images` maps it (``x / 127.5 - 1``), so uint8 in any layout and
float32 in [-1, 1] made that way score identically, and [0, 1] floats (``2x - 1``) to float
rounding. Anything else is one :class:`QganError` line naming what was wrong.
"""
from __future__ import annotations

import numpy as np
import torch

from qgan.core.errors import QganError

MIN_IMAGES = 2  # the metrics need at least two images (covariances, k-NN radii)


def array_to_images(x: np.ndarray, what: str = "images") -> torch.Tensor:
    """``x`` in an accepted layout and scale -> ``(N, 1, 28, 28)`` float32 in [-1, 1]."""
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1:] == (784,):
        x = x.reshape(-1, 28, 28)
    elif x.ndim == 4 and x.shape[1:] == (1, 28, 28):
        x = x[:, 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise QganError(f"{what}: shape {tuple(x.shape)} is not (N, 28, 28), (N, 1, 28, 28) or (N, 784)")
    if len(x) < MIN_IMAGES:
        raise QganError(f"{what}: {len(x)} image(s); at least {MIN_IMAGES} are needed")
    if x.dtype == np.uint8:
        return torch.from_numpy(x.astype(np.float32)).div_(127.5).sub_(1.0).unsqueeze(1)
    if x.dtype.kind != "f":
        raise QganError(f"{what}: dtype {x.dtype} is not uint8 or a float type")
    if not np.isfinite(x).all():
        raise QganError(f"{what}: {int((~np.isfinite(x)).sum())} values are NaN or infinite")
    low, high = float(x.min()), float(x.max())
    if low < 0:
        if low < -1 or high > 1:
            raise QganError(f"{what}: float values in [{low:.4g}, {high:.4g}] are in neither [0, 1] nor [-1, 1]")
        return torch.from_numpy(x.astype(np.float32)).unsqueeze(1)
    if high > 1:
        raise QganError(f"{what}: float values in [{low:.4g}, {high:.4g}] are in neither [0, 1] nor [-1, 1] "
                        "(uint8 pixels must have dtype uint8)")
    return torch.from_numpy((x.astype(np.float64) * 2.0 - 1.0).astype(np.float32)).unsqueeze(1)
