"""Built-in tasks used by the demo: small datasets that need nothing installed."""

from __future__ import annotations

import numpy as np


def digits(seed: int = 0, test_fraction: float = 0.2):
    """scikit-learn's 8x8 digits scaled to [0, 1], split by a seeded permutation.

    Returns
    -------
    x_train (n_train, 64), y_train (n_train,), x_test (n_test, 64), y_test (n_test,)
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float64)
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]
