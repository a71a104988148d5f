"""Datasets: IDX parsing and validation, loaders, clear errors for missing data."""

import gzip
import struct

import numpy as np
import pytest

from spikesim import DatasetNotFoundError, ValidationError, data
from spikesim.data.idx import parse_idx


def idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_fake(dirpath, n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for stem, arr in arrays.items():
        with gzip.open(dirpath / f"{stem}.gz", "wb") as fh:
            fh.write(idx_bytes(arr))
    return arrays


def test_idx_round_trip_and_scaling(tmp_path):
    arrays = write_fake(tmp_path)
    ds = data.load("mnist", path=str(tmp_path))
    assert ds.x_train.shape == (12, 784) and ds.x_test.shape == (5, 784)
    assert np.allclose(ds.x_train * 255, arrays["train-images-idx3-ubyte"].reshape(12, -1))
    assert np.array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.x_train.min() >= 0 and ds.x_train.max() <= 1


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "type"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05", "holds 1 bytes"),
    ],
)
def test_bad_idx_is_named(raw, message):
    with pytest.raises(ValidationError, match=message):
        parse_idx(raw, "f.idx")


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist", path=str(tmp_path))
    with pytest.raises(ValidationError, match="unknown dataset 'cifar'"):
        data.load("cifar")


def test_digits_split_is_seeded_and_disjoint():
    a = data.load("digits", seed=1)
    b = data.load("digits", seed=1)
    c = data.load("digits", seed=2)
    assert np.array_equal(a.y_test, b.y_test) and not np.array_equal(a.y_test, c.y_test)
    assert len(a.y_train) + len(a.y_test) == 1797
    assert a.n_features == 64 and a.n_classes == 10
    assert data.load("digits", n_train=100, n_test=10).x_train.shape == (100, 64)


@pytest.mark.skipif(
    not data.images.candidate_dirs("fashion-mnist", None)[-2].exists(),
    reason="Fashion-MNIST not installed (make data)",
)
def test_fashion_mnist_when_installed():
    ds = data.load("fashion-mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10


def test_per_class_keeps_the_first_n_of_every_class_in_order():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 60)
    x = np.arange(60, dtype=float)[:, None] * np.ones((1, 3))
    ds = data.Dataset("toy", x, y, x[:5], y[:5], 4)
    sub = ds.per_class(3)
    # slow reference: walk the examples in order, keep one while its class has < 3
    kept, count = [], {}
    for i, c in enumerate(y):
        if count.get(c, 0) < 3:
            kept.append(i)
            count[c] = count.get(c, 0) + 1
    assert np.array_equal(sub.x_train[:, 0], np.array(kept, dtype=float))
    assert np.array_equal(sub.y_train, y[kept])
    assert np.array_equal(np.bincount(sub.y_train, minlength=4), [3, 3, 3, 3])
    assert sub.x_test is ds.x_test
    with pytest.raises(ValidationError, match="class 0 of 'toy' has only"):
        ds.per_class(int(np.sum(y == 0)) + 1)
    with pytest.raises(ValidationError, match="n_per_class must be a positive integer"):
        ds.per_class(0)


def test_load_applies_n_per_class_before_n_train(tmp_path):
    write_fake(tmp_path, n_train=200)
    full = data.load("mnist", path=str(tmp_path))
    ds = data.load("mnist", path=str(tmp_path), n_per_class=2, n_train=7)
    ref = full.per_class(2)
    assert np.array_equal(ds.y_train, ref.y_train[:7])
    assert np.array_equal(ds.x_train, ref.x_train[:7])
