"""Image datasets: Fashion-MNIST and MNIST (IDX files), scikit-learn's 8x8 digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikesim.data.base import Dataset, register, split
from spikesim.data.idx import read_idx
from spikesim.errors import DatasetNotFoundError, ValidationError

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

HOW_TO_GET = {
    "fashion-mnist": (
        "install the Debian package (`sudo apt-get install dataset-fashion-mnist`, files in "
        "/usr/share/datasets/fashion-mnist), or put the four IDX .gz files in a directory "
        "and pass it as path= or $SPIKESIM_DATA"
    ),
    "mnist": (
        "put the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) in a directory and "
        "pass it as path= or $SPIKESIM_DATA"
    ),
}


def candidate_dirs(name: str, path: str | None) -> list[Path]:
    """Directories searched for dataset ``name``, in order.

    ``path`` if given, else ``$SPIKESIM_DATA/name`` and ``$SPIKESIM_DATA`` if that variable
    is set (and nothing else: a dataset missing there is an error, not a fall back to
    another folder), else the system and user folders.
    """
    if path is not None:
        return [Path(path)]
    env = os.environ.get("SPIKESIM_DATA")
    if env:
        return [Path(env) / name, Path(env)]
    dirs = []
    dirs += [Path("/usr/share/datasets") / name, Path.home() / ".cache" / "spikesim" / name]
    return dirs


def _find(directory: Path, stem: str) -> Path | None:
    for suffix in (".gz", ""):
        p = directory / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def locate(name: str, path: str | None = None) -> dict[str, Path] | None:
    """The four IDX files of ``name`` in the first candidate directory that has them all.

    Returns ``{"x_train": path, ...}``, or None when no candidate directory has them.
    """
    for d in candidate_dirs(name, path):
        found = {k: _find(d, stem) for k, stem in FILES.items()}
        if all(found.values()):
            return found
    return None


def load_idx_dataset(name: str, path: str | None) -> Dataset:
    """Load the four IDX files of ``name`` from the first directory that has them all."""
    found = locate(name, path)
    if found is not None:
        return _assemble(name, {k: read_idx(p) for k, p in found.items()})
    tried = ", ".join(map(str, candidate_dirs(name, path)))
    files = ", ".join(f"{stem}[.gz]" for stem in FILES.values())
    where = (
        f"$SPIKESIM_DATA={os.environ['SPIKESIM_DATA']} does not hold it"
        if path is None and os.environ.get("SPIKESIM_DATA")
        else "not found"
    )
    raise DatasetNotFoundError(
        f"dataset {name!r}: {where} (looked in {tried} for {files}); to get it, {HOW_TO_GET[name]}"
    )


def _assemble(name: str, a: dict[str, np.ndarray]) -> Dataset:
    for split_name in ("train", "test"):
        x, y = a[f"x_{split_name}"], a[f"y_{split_name}"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValidationError(
                f"{name}: {split_name} images {x.shape} and labels {y.shape} do not match"
            )
        if y.size and y.max() > 9:
            raise ValidationError(f"{name}: {split_name} label {int(y.max())} out of range 0..9")
    return Dataset(
        name,
        a["x_train"].reshape(len(a["x_train"]), -1).astype(np.float64) / 255.0,
        a["y_train"].astype(np.int64),
        a["x_test"].reshape(len(a["x_test"]), -1).astype(np.float64) / 255.0,
        a["y_test"].astype(np.int64),
        10,
    )


@register("fashion-mnist")
def fashion_mnist(*, path: str | None, seed: int, test_fraction: float) -> Dataset:
    """Fashion-MNIST: 60,000 training and 10,000 test images, 28x28 -> 784 features.
    The split is the dataset's own (``seed`` and ``test_fraction`` are unused)."""
    return load_idx_dataset("fashion-mnist", path)


@register("mnist")
def mnist(*, path: str | None, seed: int, test_fraction: float) -> Dataset:
    """MNIST from a user-supplied directory (same IDX format as Fashion-MNIST)."""
    return load_idx_dataset("mnist", path)


@register("digits")
def digits(*, path: str | None, seed: int, test_fraction: float) -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, 64 features scaled to [0, 1]), split by a
    seeded permutation into ``1 - test_fraction`` training and ``test_fraction`` test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float64)
    y = d.target.astype(np.int64)
    return Dataset("digits", *split(x, y, seed=seed, test_fraction=test_fraction), 10)
