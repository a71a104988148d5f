"""Signed-weight MLP loss model for the abstract zero-order dynamics (digits experiment).

Weights ``w = sign * exp(theta)`` with fixed random signs (SH sec. 4: the dynamics act on
log-weights ``theta``), tanh hidden layers, linear output, squared error against one-hot
targets, ``L(theta, x, y) = scale * sum_k (f_k(x) - 1[k = y])^2``. Only
``learning_rate * scale`` matters to the zero-order rule (``learning_rate`` is ``alpha`` of
SH eq. 4.5). The default ``scale = 0.2`` is our choice (ANCHORS does not record the
reference's): on digits with ``A = 0.3, learning_rate = 0.02`` it gives the anchored
behaviour (previous-loss baseline near 50% test accuracy after 2e5 updates), while
``scale = 0.5`` (half the summed squared error; equivalently ``learning_rate = 0.05``)
diverges within 1e5 updates, as ANCHORS reports for ``alpha = 0.05``, and ``scale = 1``
within 1e4. The loss of a batch of parameter vectors on one sample is a Numba kernel (one
pass: exp, matrix-vector, tanh).
"""

from __future__ import annotations

import numba
import numpy as np

from spikesim.errors import DatasetNotFoundError, ValidationError
from spikesim.zeroorder.losses import Loss

__all__ = ["SignedMLP", "load_digits_split"]


@numba.njit(cache=True, nogil=True)
def _forward_rows(theta, signs, sizes, x, target, scale, out):  # pragma: no cover - jitted
    m = theta.shape[0]
    widest = 0
    for s in sizes:
        widest = max(widest, s)
    a = np.empty(widest)
    b = np.empty(widest)
    n_layers = sizes.shape[0] - 1
    for r in range(m):
        for i in range(sizes[0]):
            a[i] = x[i]
        off = 0
        for layer in range(n_layers):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            for j in range(n_out):
                acc = 0.0
                base = off + j * n_in
                for i in range(n_in):
                    acc += signs[base + i] * np.exp(theta[r, base + i]) * a[i]
                b[j] = np.tanh(acc) if layer < n_layers - 1 else acc
            off += n_in * n_out
            for j in range(n_out):
                a[j] = b[j]
        loss = 0.0
        for k in range(sizes[n_layers]):
            e = a[k] - (1.0 if k == target else 0.0)
            loss += e * e
        out[r] = scale * loss


class SignedMLP(Loss):
    """Loss model ``L(theta, x, y)`` of a signed-weight tanh MLP (see module docstring).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first (ANCHORS: 64-32-10 on digits).
    seed : int
        Seeds the fixed weight signs (each +1 or -1 with probability 1/2).
    scale : float
        Factor of the summed squared error (see the module docstring).

    Attributes
    ----------
    signs : ndarray, shape (d,)
        ``+1/-1`` per weight, layer by layer, each layer row-major ``(n_out, n_in)``.
    """

    def __init__(self, sizes=(64, 32, 10), seed: int = 0, scale: float = 0.2):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        if self.sizes.ndim != 1 or self.sizes.size < 2 or np.any(self.sizes < 1):
            raise ValidationError(f"sizes must list >= 2 positive widths, got {sizes!r}")
        self.shapes = [
            (int(o), int(i)) for i, o in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        ]
        self.dim = int(sum(o * i for o, i in self.shapes))
        self.scale = float(scale)
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ValidationError(f"loss scale must be finite and > 0, got {scale!r}")
        rng = np.random.default_rng(seed)
        self.signs = np.where(rng.random(self.dim) < 0.5, -1.0, 1.0)

    def init(self, seed: int = 0, spread: float = 0.1) -> np.ndarray:
        """Initial ``theta``, shape (d,): ``|w| ~ 1 / sqrt(fan_in)`` times ``e^{spread N(0,1)}``."""
        rng = np.random.default_rng(seed)
        parts = [
            np.full(o * i, -0.5 * np.log(i)) + spread * rng.standard_normal(o * i)
            for o, i in self.shapes
        ]
        return np.concatenate(parts)

    def weights(self, theta: np.ndarray) -> list[np.ndarray]:
        """Signed weight matrices, shapes ``(n_out, n_in)``, for one ``theta`` (d,)."""
        w = self.signs * np.exp(np.asarray(theta, dtype=float))
        out, off = [], 0
        for o, i in self.shapes:
            out.append(w[off : off + o * i].reshape(o, i))
            off += o * i
        return out

    def value(self, theta, x=None, y=None):
        theta = np.ascontiguousarray(self._check(theta))
        if x is None or y is None:
            raise ValidationError("SignedMLP loss needs a sample (x, y)")
        x = np.asarray(x, dtype=float)
        if x.shape != (self.sizes[0],):
            raise ValidationError(f"x must have shape ({self.sizes[0]},), got {x.shape}")
        out = np.empty(theta.shape[0])
        _forward_rows(theta, self.signs, self.sizes, x, int(y), self.scale, out)
        return out

    def outputs(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Network outputs for inputs ``X`` (n, n_in), one ``theta`` (d,): shape (n, n_out)."""
        a = np.asarray(X, dtype=float)
        ws = self.weights(theta)
        for k, w in enumerate(ws):
            a = a @ w.T
            if k < len(ws) - 1:
                a = np.tanh(a)
        return a

    def accuracy(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        """Fraction of ``argmax`` outputs equal to the labels ``y`` (n,)."""
        return float(np.mean(np.argmax(self.outputs(theta, X), axis=1) == np.asarray(y)))

    def grad(self, theta, x=None, y=None):
        """Backpropagation gradient w.r.t. ``theta`` (``dL/dw * w``), shape (m, d)."""
        theta = self._check(theta)
        x = np.asarray(x, dtype=float)
        rows = []
        for th in theta:
            ws = self.weights(th)
            acts = [x]
            for k, w in enumerate(ws):
                z = w @ acts[-1]
                acts.append(np.tanh(z) if k < len(ws) - 1 else z)
            delta = 2.0 * self.scale * (acts[-1] - np.eye(self.sizes[-1])[int(y)])
            grads = []
            for k in range(len(ws) - 1, -1, -1):
                grads.append(np.outer(delta, acts[k]) * ws[k])
                if k:
                    delta = (ws[k].T @ delta) * (1.0 - acts[k] ** 2)
            rows.append(np.concatenate([g.ravel() for g in grads[::-1]]))
        return np.array(rows)


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """scikit-learn's digits (bundled, no download), pixels scaled to [0, 1], split 80/20.

    Returns ``(X_train, y_train, X_test, y_test)`` with ``X`` of shape ``(n, 64)``.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise DatasetNotFoundError("scikit-learn is needed for the digits data") from exc
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]
