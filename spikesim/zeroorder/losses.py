"""Smooth loss models for the zero-order dynamics, vectorised over parameter vectors.

A *loss* is any callable ``loss(theta, x, y) -> values`` taking parameters of shape
``(m, d)`` (``m`` parameter vectors, e.g. independent replicates or Monte Carlo draws) and
one data sample ``(x, y)`` (``None`` for losses without data), returning shape ``(m,)``.
The classes here also provide ``grad(theta, x, y) -> (m, d)`` for plain SGD, the gradient
flow and the checks of the theory. :func:`pointwise` wraps a function of one ``(d,)``
vector so that it fits this interface.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["Loss", "LeastSquares", "Quadratic", "TanhNet", "pointwise"]


class Loss:
    """Base class: ``dim`` parameters; ``value`` (also ``__call__``) and ``grad``."""

    dim: int

    def value(self, theta: np.ndarray, x=None, y=None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def grad(self, theta: np.ndarray, x=None, y=None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} has no gradient")

    def __call__(self, theta: np.ndarray, x=None, y=None) -> np.ndarray:
        return self.value(theta, x, y)

    def _check(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 2 or theta.shape[1] != self.dim:
            raise ValidationError(
                f"{type(self).__name__}: theta must have shape (m, {self.dim}), got {theta.shape}"
            )
        return theta


class Quadratic(Loss):
    """``L(theta) = 1/2 (theta - c)^T diag(h) (theta - c)`` (no data).

    Parameters
    ----------
    center : ndarray, shape (d,)
        The minimiser ``c``.
    curvature : ndarray, shape (d,) or float
        Diagonal Hessian ``h`` (> 0).
    """

    def __init__(self, center, curvature=1.0):
        self.center = np.asarray(center, dtype=float).ravel()
        self.dim = self.center.size
        self.curvature = np.broadcast_to(np.asarray(curvature, dtype=float), (self.dim,)).copy()
        if self.dim == 0 or np.any(~np.isfinite(self.curvature)) or np.any(self.curvature <= 0):
            raise ValidationError(f"Quadratic: curvature must be finite and > 0, got {curvature}")

    def value(self, theta, x=None, y=None):
        r = self._check(theta) - self.center
        return 0.5 * (r * r) @ self.curvature

    def grad(self, theta, x=None, y=None):
        return (self._check(theta) - self.center) * self.curvature


class LeastSquares(Loss):
    """Linear least squares ``L(theta) = ||Y - X theta||^2 / (2 n)`` on a fixed data set.

    ``x``/``y`` passed at call time are ignored: the design ``X`` (n, d) and targets
    ``Y`` (n,) are fixed at construction (a full-batch loss). With ``X`` the identity this
    is SH's sec. 3 example ``||Y - theta||^2`` up to the factor ``1/(2n)``; pass
    ``scale=1`` to drop that factor.
    """

    def __init__(self, X, Y, scale: float | None = None):
        self.X = np.atleast_2d(np.asarray(X, dtype=float))
        self.Y = np.asarray(Y, dtype=float).ravel()
        if self.X.shape[0] != self.Y.size:
            raise ValidationError(
                f"LeastSquares: X has {self.X.shape[0]} rows but Y has {self.Y.size} values"
            )
        self.dim = self.X.shape[1]
        self.scale = 1.0 / (2.0 * self.Y.size) if scale is None else float(scale)

    def value(self, theta, x=None, y=None):
        r = self._check(theta) @ self.X.T - self.Y
        return self.scale * np.einsum("mi,mi->m", r, r)

    def grad(self, theta, x=None, y=None):
        r = self._check(theta) @ self.X.T - self.Y
        return 2.0 * self.scale * (r @ self.X)


class TanhNet(Loss):
    """One-hidden-layer tanh network with squared error, on a fixed small data set.

    ``f(x) = v^T tanh(W x)``, ``theta = (W.ravel(), v)``, so ``d = hidden * (inputs + 1)``;
    ``L(theta) = weight * mean_i (f(x_i) - y_i)^2 / 2``. Smooth with bounded derivatives on bounded
    sets, used as the "small network" in the theory checks.

    Parameters
    ----------
    X : ndarray, shape (n, p)
    Y : ndarray, shape (n,)
    hidden : int
    weight : float
        Overall factor of the loss.
    """

    def __init__(self, X, Y, hidden: int, weight: float = 1.0):
        self.weight = float(weight)
        self.X = np.atleast_2d(np.asarray(X, dtype=float))
        self.Y = np.asarray(Y, dtype=float).ravel()
        self.hidden = int(hidden)
        if self.hidden < 1 or self.X.shape[0] != self.Y.size:
            raise ValidationError(
                f"TanhNet: need hidden >= 1 and len(X) == len(Y), got hidden={hidden}, "
                f"{self.X.shape[0]} inputs, {self.Y.size} targets"
            )
        self.inputs = self.X.shape[1]
        self.dim = self.hidden * (self.inputs + 1)

    def _split(self, theta):
        theta = self._check(theta)
        k = self.hidden * self.inputs
        return theta[:, :k].reshape(-1, self.hidden, self.inputs), theta[:, k:]

    def predict(self, theta) -> np.ndarray:
        """Network outputs on the data, shape ``(m, n)`` for ``theta`` of shape ``(m, d)``."""
        W, v = self._split(theta)
        h = np.tanh(np.einsum("mhp,np->mnh", W, self.X))
        return np.einsum("mnh,mh->mn", h, v)

    def value(self, theta, x=None, y=None):
        r = self.predict(theta) - self.Y
        return 0.5 * self.weight * np.mean(r * r, axis=1)

    def grad(self, theta, x=None, y=None):
        W, v = self._split(theta)
        h = np.tanh(np.einsum("mhp,np->mnh", W, self.X))
        r = (np.einsum("mnh,mh->mn", h, v) - self.Y) * (self.weight / self.Y.size)
        gv = np.einsum("mn,mnh->mh", r, h)
        back = r[:, :, None] * v[:, None, :] * (1.0 - h * h)
        gW = np.einsum("mnh,np->mhp", back, self.X)
        return np.concatenate([gW.reshape(len(theta), -1), gv], axis=1)


class pointwise(Loss):  # noqa: N801 - used like a function decorator
    """Wrap ``fn(theta_vector, x, y) -> float`` (one ``(d,)`` vector) as a batched loss.

    Loops over the rows in Python: simple but slow; write a vectorised loss for speed.
    """

    def __init__(self, fn: Callable, dim: int, grad: Callable | None = None):
        self.fn = fn
        self.dim = int(dim)
        self._grad = grad

    def value(self, theta, x=None, y=None):
        theta = self._check(theta)
        return np.array([float(self.fn(t, x, y)) for t in theta])

    def grad(self, theta, x=None, y=None):
        if self._grad is None:
            raise ValidationError("pointwise loss was built without grad=")
        theta = self._check(theta)
        return np.array([np.asarray(self._grad(t, x, y), dtype=float) for t in theta])
