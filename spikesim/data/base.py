"""The dataset container and the registry of loaders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["Dataset", "register", "available", "load"]

_LOADERS: dict[str, Callable[..., Dataset]] = {}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset split into training and test sets.

    Attributes
    ----------
    name : str
    x_train : ndarray of float64, shape (n_train, n_features)
        Inputs scaled to [0, 1].
    y_train : ndarray of int64, shape (n_train,)
        Labels in ``[0, n_classes)``.
    x_test : ndarray of float64, shape (n_test, n_features)
    y_test : ndarray of int64, shape (n_test,)
    n_classes : int
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` training and ``n_test`` test examples (None: all)."""
        return Dataset(
            self.name,
            self.x_train[:n_train],
            self.y_train[:n_train],
            self.x_test[:n_test],
            self.y_test[:n_test],
            self.n_classes,
        )

    def per_class(self, n: int) -> Dataset:
        """The first ``n`` training examples of every class, in their original order (a
        balanced subset; Alonso et al. 2022, appendix Table 8: 10, 100, 500 per class). The
        test set is kept.

        Raises
        ------
        ValidationError
            ``n`` is not a positive integer, or a class has fewer than ``n`` examples.
        """
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise ValidationError(f"n_per_class must be a positive integer, got {n!r}")
        keep = np.zeros(len(self.y_train), dtype=bool)
        for c in range(self.n_classes):
            where = np.flatnonzero(self.y_train == c)
            if len(where) < n:
                raise ValidationError(
                    f"n_per_class = {n}: class {c} of {self.name!r} has only {len(where)} "
                    "training examples"
                )
            keep[where[:n]] = True
        return Dataset(
            self.name,
            self.x_train[keep],
            self.y_train[keep],
            self.x_test,
            self.y_test,
            self.n_classes,
        )


def register(name: str) -> Callable:
    """Decorator registering a loader ``f(*, path, seed, test_fraction) -> Dataset``."""

    def deco(fn):
        _LOADERS[name] = fn
        return fn

    return deco


def available() -> list[str]:
    """Names of the registered datasets, sorted."""
    return sorted(_LOADERS)


def load(
    name: str,
    *,
    path: str | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    n_train: int | None = None,
    n_test: int | None = None,
    n_per_class: int | None = None,
) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`available` (``"fashion-mnist"``, ``"mnist"``, ``"digits"``, ...).
    path : str, optional
        Directory holding the dataset's files (IDX datasets); default: ``$SPIKESIM_DATA``
        and the standard locations (see :mod:`spikesim.data.images`).
    seed : int
        Seed of the train/test split for datasets without a fixed split, and of synthetic
        data.
    test_fraction : float
        Held-out fraction for datasets without a fixed split, in (0, 1).
    n_train, n_test : int, optional
        Keep only the first examples of each split.
    n_per_class : int, optional
        Keep only the first ``n_per_class`` training examples of every class
        (:meth:`Dataset.per_class`), before ``n_train`` is applied.

    Returns
    -------
    Dataset
    """
    if name not in _LOADERS:
        raise ValidationError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    if not 0.0 < test_fraction < 1.0:
        raise ValidationError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    for label, n in (("n_train", n_train), ("n_test", n_test)):
        if n is not None and (not isinstance(n, int | np.integer) or n < 1):
            raise ValidationError(f"{label} must be a positive integer, got {n!r}")
    ds = _LOADERS[name](path=path, seed=int(seed), test_fraction=float(test_fraction))
    if n_per_class:
        ds = ds.per_class(n_per_class)
    return ds.subset(n_train, n_test) if (n_train or n_test) else ds


def split(x: np.ndarray, y: np.ndarray, *, seed: int, test_fraction: float):
    """A seeded random train/test split: ``x_train, y_train, x_test, y_test``."""
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]
