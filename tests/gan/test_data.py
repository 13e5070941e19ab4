import gzip

import numpy as np
import pytest

from qgan.core.errors import QganError
from qgan.gan.data import (
    Split,
    expected_train_size,
    load_source,
    load_split,
    read_idx,
    save_splits,
    stratified_order,
    subsample,
)
from qgan.params import DataConfig


def test_stratified_order_prefixes_are_balanced():
    labels = np.repeat(np.arange(10), [50, 50, 50, 50, 50, 100, 100, 100, 100, 100])
    order = stratified_order(labels, seed=3)
    assert sorted(order) == list(range(len(labels)))
    for n in (10, 75, 300):
        counts = np.bincount(labels[order[:n]], minlength=10)
        expected = n * np.bincount(labels) / len(labels)
        assert np.all(np.abs(counts - expected) <= 1), (n, counts)
    assert not np.array_equal(order, stratified_order(labels, seed=4))


def test_bundled_split_is_deterministic_stratified_and_disjoint():
    cfg = DataConfig(source="bundled")
    train, test = load_source(cfg)
    assert (len(train.labels), len(test.labels)) == (4000, 1000)
    assert np.bincount(test.labels).tolist() == [100] * 10
    train2, test2 = load_source(cfg)
    assert np.array_equal(test.images, test2.images) and np.array_equal(train.labels, train2.labels)
    test_rows = {img.tobytes() for img in test.images}
    assert sum(img.tobytes() in test_rows for img in train.images) == 0


def test_subsample_and_too_many(tmp_path):
    train, _ = load_source(DataConfig(source="bundled"))
    small = subsample(train, 200, 0, "n_train")
    assert np.bincount(small.labels).tolist() == [20] * 10
    with pytest.raises(QganError, match="data.n_train: 5000"):
        subsample(train, 5000, 0, "n_train")


def _write_idx(path, arr, gz):
    header = b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    (gzip.open if gz else open)(path, "wb").write(header + arr.tobytes())


@pytest.mark.parametrize("gz", [False, True])
def test_idx_source_reads_local_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    names = {"train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
             "train-labels-idx1-ubyte": np.arange(30, dtype=np.uint8) % 10,
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             "t10k-labels-idx1-ubyte": np.arange(20, dtype=np.uint8) % 10}
    for name, arr in names.items():
        _write_idx(tmp_path / (name + (".gz" if gz else "")), arr, gz)
    cfg = DataConfig(source="idx", path=str(tmp_path))
    train, test = load_source(cfg)
    assert np.array_equal(train.images, names["train-images-idx3-ubyte"])
    assert np.array_equal(test.labels, names["t10k-labels-idx1-ubyte"])
    assert expected_train_size(cfg) == 30


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    with pytest.raises(QganError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")
    with pytest.raises(QganError, match="header says"):
        read_idx(tmp_path / "short")
    with pytest.raises(QganError, match="has no train-labels"):
        expected_train_size(DataConfig(source="idx", path=str(tmp_path)))


def test_save_and_load_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    split = Split(rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), (np.arange(12) % 10).astype(np.uint8))
    meta = save_splits(tmp_path, split, split, DataConfig(source="bundled"))
    again = load_split(tmp_path, "test")
    assert np.array_equal(again.images, split.images) and meta["n_train"] == 12
    assert len(meta["digest"]) == 64
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(QganError, match="must be"):
        Split(split.images.astype(np.float32), split.labels)

