"""Synthetic classification tasks that need nothing installed."""

from __future__ import annotations

import numpy as np

from spikesim.data.base import Dataset, register, split


def gaussian_blobs(
    *, n: int, n_features: int, n_classes: int, spread: float, seed: int, test_fraction: float
) -> Dataset:
    """Class prototypes uniform in [0, 1]^n_features, examples = prototype + N(0, spread^2)
    noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    protos = rng.random((n_classes, n_features))
    y = rng.integers(0, n_classes, n)
    x = np.clip(protos[y] + spread * rng.standard_normal((n, n_features)), 0.0, 1.0)
    return Dataset("blobs", *split(x, y, seed=seed, test_fraction=test_fraction), n_classes)


@register("blobs")
def blobs(*, path: str | None, seed: int, test_fraction: float) -> Dataset:
    """2,000 examples, 20 features, 4 classes (Gaussian blobs, spread 0.15)."""
    return gaussian_blobs(
        n=2000, n_features=20, n_classes=4, spread=0.15, seed=seed, test_fraction=test_fraction
    )
