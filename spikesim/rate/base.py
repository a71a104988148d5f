"""The rate-learner interface and its registry.

A rate learner is a small stateful object with a scikit-learn-like constructor that only
stores hyperparameters (no computation, no allocation of weights: that happens lazily on the
first :meth:`RateLearner.fit_batch`, or explicitly in :meth:`RateLearner.initialize`).

Every learner in :data:`REGISTRY` passes the shared test suite ``tests/test_rate_conformance.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from spikesim.errors import DivergenceError, ValidationError

REGISTRY: dict[str, type[RateLearner]] = {}


def register(name: str) -> Callable[[type[RateLearner]], type[RateLearner]]:
    """Class decorator: register a learner class under ``name``."""

    def deco(cls: type[RateLearner]) -> type[RateLearner]:
        if name in REGISTRY:
            raise ValueError(f"rate learner {name!r} registered twice")
        REGISTRY[name] = cls
        cls.name = name
        return cls

    return deco


def available() -> list[str]:
    """Names of the registered rate learners, sorted."""
    _load_all()
    return sorted(REGISTRY)


def make(name: str, **params: Any) -> RateLearner:
    """Construct the learner registered as ``name`` with hyperparameters ``params``."""
    _load_all()
    if name not in REGISTRY:
        raise ValidationError(
            f"unknown rate learner {name!r}; available: {', '.join(sorted(REGISTRY))}"
        )
    return REGISTRY[name](**params)


def _load_all() -> None:
    # Importing the package imports every learner module, which registers the classes.
    import spikesim.rate  # noqa: F401


class RateLearner:
    """Base class of rate-based learners.

    Subclasses implement :meth:`initialize`, :meth:`_fit_batch`, :meth:`_predict_scores`,
    :meth:`state_dict` and :meth:`load_state_dict`.

    Parameters (common to all learners; subclasses add their own)
    ----------
    sizes : sequence of int
        Layer sizes ``[n_in, n_hidden..., n_out]``.
    seed : int
        Seed of every random choice the learner makes (initial weights, signs, ...).
    """

    name: ClassVar[str] = "base"
    #: minibatch size of the learner's paper (``spikesim bench rate`` measures at it)
    paper_batch_size: ClassVar[int] = 20

    def __init__(self, sizes: tuple[int, ...] | list[int] = (784, 500, 10), seed: int = 0):
        self.sizes = tuple(int(s) for s in sizes)
        self.seed = int(seed)
        self._initialized = False

    # -- public API ---------------------------------------------------------------------
    def initialize(self) -> RateLearner:
        """Allocate and initialise parameters from ``seed``. Returns ``self``."""
        raise NotImplementedError

    def fit_batch(self, x: np.ndarray, y: np.ndarray, index: np.ndarray | None = None) -> float:
        """One learning step on a minibatch.

        Parameters
        ----------
        x : ndarray, shape (batch, n_in)
            Inputs, finite floats.
        y : ndarray, shape (batch,)
            Integer class labels in ``[0, n_out)``.
        index : ndarray of int, shape (batch,), optional
            Indices of the examples in the training set (used by learners with persistent
            per-example state, such as equilibrium propagation).

        Returns
        -------
        float
            The minibatch training loss before the update.

        Raises
        ------
        ValidationError
            Bad shapes, NaN in ``x``, labels out of range.
        DivergenceError
            The loss or the parameters became non-finite.
        """
        x, y = self._check_xy(x, y)
        if not self._initialized:
            self.initialize()
        loss = float(self._fit_batch(x, y, index))
        if not np.isfinite(loss) or not self._params_finite():
            raise DivergenceError(
                f"{self.name}: training diverged (loss={loss!r}, parameters non-finite or "
                f"beyond {self.divergence_limit:g}); lower the learning rate"
            )
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class labels, shape ``(batch,)``, for ``x`` of shape ``(batch, n_in)``."""
        return np.argmax(self.predict_scores(x), axis=1)

    def predict_scores(self, x: np.ndarray) -> np.ndarray:
        """Output-layer scores, shape ``(batch, n_out)``."""
        x = self._check_x(x)
        if not self._initialized:
            self.initialize()
        return self._predict_scores(x)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        """Classification accuracy in [0, 1] on ``(x, y)``."""
        x, y = self._check_xy(x, y)
        return float(np.mean(self.predict(x) == y))

    def state_dict(self) -> dict[str, np.ndarray]:
        """All learned state as a flat dict of arrays (copies)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore state produced by :meth:`state_dict`."""
        raise NotImplementedError

    def n_parameters(self) -> int:
        """Number of trainable weights and biases."""
        raise NotImplementedError

    def flops_per_sample(self, batch: int) -> float:
        """Floating-point operations per training sample at minibatch size ``batch``.

        Counted from the algorithm's matrix products of every phase (2 flops per
        multiply-add); used by ``spikesim bench rate`` for ``fraction_of_gemm_peak``.
        """
        raise NotImplementedError(f"{self.name}: flops_per_sample is not defined")

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        """Small, fast hyperparameters for the shared test suite (a few hundred steps on a
        20-feature, 4-class task must lower the training loss). ``sizes`` and ``seed`` are
        set by the suite."""
        return {}

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        """Hyperparameters (merged over :meth:`conformance_params`) that make training
        diverge within a few steps, e.g. an absurd learning rate; ``None`` if no setting of
        this learner can diverge (the suite then only checks injected non-finite state)."""
        return None

    def get_params(self) -> dict[str, Any]:
        """Constructor hyperparameters (scikit-learn style)."""
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    # -- to implement -------------------------------------------------------------------
    def _fit_batch(self, x: np.ndarray, y: np.ndarray, index: np.ndarray | None) -> float:
        raise NotImplementedError

    def _predict_scores(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    #: parameters larger than this in magnitude count as diverged (a bounded loss, such
    #: as the hinge loss, lets weights grow without ever becoming non-finite)
    divergence_limit: ClassVar[float] = 1e12

    def _params_finite(self) -> bool:
        for v in self.state_dict().values():
            v = np.asarray(v)
            if v.dtype.kind in "fc" and not np.all(np.abs(v) < self.divergence_limit):
                return False
        return True

    # -- validation ---------------------------------------------------------------------
    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValidationError(
                f"{self.name}: x must have shape (batch, {self.sizes[0]}), got {x.shape}"
            )
        if not np.issubdtype(x.dtype, np.number):
            raise ValidationError(f"{self.name}: x must be numeric, got dtype {x.dtype}")
        if not np.all(np.isfinite(x)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise ValidationError(
                f"{self.name}: x contains a non-finite value {float(x[bad])} at {bad}"
            )
        return x

    def _check_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x)
        y = np.asarray(y)
        if y.shape != (x.shape[0],):
            raise ValidationError(f"{self.name}: y must have shape ({x.shape[0]},), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValidationError(f"{self.name}: y must hold integer labels, got {y.dtype}")
        n_out = self.sizes[-1]
        if y.size and (y.min() < 0 or y.max() >= n_out):
            bad = y[(y < 0) | (y >= n_out)][0]
            raise ValidationError(f"{self.name}: label {bad} out of range [0, {n_out})")
        return x, y
