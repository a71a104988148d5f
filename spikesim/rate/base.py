"""The rate-learner interface and its registry.

A rate learner is a small stateful object whose constructor only stores hyperparameters
(scikit-learn's convention): every subclass of :class:`RateLearner` is made a keyword-only
dataclass, so its hyperparameters are the annotated class attributes, with their defaults,
and a preset is a subclass that changes some defaults. No computation, no random draw and no
allocation happens before :meth:`RateLearner.initialize` (called by the first
:meth:`RateLearner.fit_batch`); the hyperparameters are checked there, or at once by
:func:`make`.

Classes are either abstract (not registered: shared machinery) or final (registered under a
name with :func:`register`, never subclassed by another registered learner). A learner states
what it can do in class attributes (``uses_example_index``, ``counts_flops``,
``paper_batch_size``); callers read those, they never probe with ``hasattr``.

Every registered learner passes :func:`spikesim.testing.rate.check_rate_learner`.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, dataclass_transform

import numpy as np

from spikesim.errors import DivergenceError, ValidationError

#: floating-point types a learner computes in
DTYPES = ("float32", "float64")
#: what the output of a learner that declares ``reconstructs`` learns
TARGETS = ("label", "input")

REGISTRY: dict[str, type[RateLearner]] = {}


def register(name: str) -> Callable[[type[RateLearner]], type[RateLearner]]:
    """Class decorator: register a final learner class under ``name``.

    Raises
    ------
    TypeError
        ``name`` is taken, the class is abstract, or it subclasses a registered learner
        (registered learners are final: a preset subclasses the same abstract base).
    """

    def deco(cls: type[RateLearner]) -> type[RateLearner]:
        if name in REGISTRY:
            raise TypeError(f"rate learner {name!r} registered twice")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(cls.__abstractmethods__))
            raise TypeError(f"rate learner {name!r} is abstract (does not define {missing})")
        for other in REGISTRY.values():
            if issubclass(cls, other):
                raise TypeError(
                    f"rate learner {name!r} subclasses the registered learner {other.name!r}; "
                    "registered learners are final: subclass their abstract base instead"
                )
        REGISTRY[name] = cls
        cls.name = name
        return cls

    return deco


def available() -> list[str]:
    """Names of the registered rate learners, sorted."""
    _load_all()
    return sorted(REGISTRY)


def make(name: str, **params: Any) -> RateLearner:
    """Construct the learner registered as ``name`` and check its hyperparameters.

    Raises
    ------
    ValidationError
        Unknown ``name`` or a bad hyperparameter (named with its value).
    """
    _load_all()
    if name not in REGISTRY:
        raise ValidationError(
            f"unknown rate learner {name!r}; available: {', '.join(sorted(REGISTRY))}"
        )
    known = {f.name for f in dataclasses.fields(REGISTRY[name])}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValidationError(
            f"{name}: unknown hyperparameter(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    learner = REGISTRY[name](**params)
    learner.check_params()
    return learner


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def layer_parameter_count(sizes: tuple[int, ...]) -> int:
    """Weights and biases of a dense layered network: ``sum_k n_k n_{k+1} + n_{k+1}``."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def layer_state(
    weights: list[np.ndarray], biases: list[np.ndarray], *, start: int
) -> dict[str, np.ndarray]:
    """Copies of the weights and biases as ``{"W{k}": ..., "b{k}": ...}``, ``k`` counted
    from ``start``."""
    out = {}
    for k, (w, b) in enumerate(zip(weights, biases, strict=True), start=start):
        out[f"W{k}"] = w.copy()
        out[f"b{k}"] = b.copy()
    return out


def load_layers(
    state: dict[str, np.ndarray], weights: list[np.ndarray], biases: list[np.ndarray], *, start: int
) -> None:
    """In place: copy ``state["W{k}"]`` / ``state["b{k}"]`` (as written by
    :func:`layer_state`) into ``weights`` / ``biases`` (shapes already checked)."""
    for k, (w, b) in enumerate(zip(weights, biases, strict=True), start=start):
        w[...] = state[f"W{k}"]
        b[...] = state[f"b{k}"]


def _load_all() -> None:
    # Importing the package imports every learner module, which registers the classes.
    import spikesim.rate  # noqa: F401


@dataclass_transform(kw_only_default=True, eq_default=False)
class _Hyperparameters(abc.ABCMeta):
    """Metaclass making every learner class a keyword-only dataclass of its hyperparameters
    (``eq=False``: learners compare by identity)."""

    def __new__(mcs, name, bases, namespace, **kwargs):
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        if "name" not in namespace:
            cls.name = name  # until registered: messages name the class
        return dataclasses.dataclass(cls, eq=False, kw_only=True)


class RateLearner(metaclass=_Hyperparameters):
    """Base class of rate-based learners.

    Subclasses declare their hyperparameters as annotated class attributes and implement
    :meth:`_initialize`, :meth:`_fit_batch`, :meth:`_predict_scores`, :meth:`_parameters`,
    :meth:`state_dict`, :meth:`load_state_dict` and :meth:`n_parameters`; they may check
    their own hyperparameters in :meth:`_check_params`. The parameters below are common to
    all learners.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``[n_in, n_hidden..., n_out]``.
    seed : int
        Seed of every random choice the learner makes (initial weights, signs, ...).
    dtype : {"float32", "float64"}
        Floating-point type of the parameters and of the computation.
    """

    #: the registry name (set by :func:`register`; the class name until then)
    name: ClassVar[str] = "RateLearner"
    #: minibatch size of the learner's paper (``spikesim bench rate`` measures at it)
    paper_batch_size: ClassVar[int] = 20
    #: capability: ``fit_batch`` uses ``index`` (persistent per-example state); a learner
    #: without it gives the same result with or without ``index``
    uses_example_index: ClassVar[bool] = False
    #: capability: :meth:`flops_per_sample` counts the matrix products of a step
    counts_flops: ClassVar[bool] = False
    #: capability: the learner has the hyperparameter ``target`` (``"label"``, or
    #: ``"input"``: an autoencoder that learns to reproduce ``x``, ``sizes[-1] ==
    #: sizes[0]``, and ignores the labels) and accepts ``loss = "sigmoid-bce"``;
    #: :meth:`reconstruct` and :meth:`reconstruction_loss` are defined
    reconstructs: ClassVar[bool] = False
    #: parameters larger than this in magnitude count as diverged (a bounded loss, such
    #: as the hinge loss, lets weights grow without ever becoming non-finite)
    divergence_limit: ClassVar[float] = 1e12
    #: set by :meth:`initialize`; a class attribute, so a fresh learner holds only its
    #: hyperparameters
    _initialized: ClassVar[bool] = False

    sizes: tuple[int, ...] = (784, 500, 10)
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        # store integral sequences as tuples of int (anything else is kept as given and
        # reported by check_params)
        if isinstance(self.sizes, list | tuple) and all(map(_is_int, self.sizes)):
            self.sizes = tuple(int(s) for s in self.sizes)
        if _is_int(self.seed):
            self.seed = int(self.seed)

    # -- public API ---------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor hyperparameters (scikit-learn style): ``type(self)(**get_params())``
        is an untrained copy."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def check_params(self) -> None:
        """Check every hyperparameter.

        Raises
        ------
        ValidationError
            Naming the first bad hyperparameter and its value.
        """
        sizes = self.sizes
        ok = isinstance(sizes, tuple) and len(sizes) >= 2 and min(sizes) >= 1
        self._require(ok, "sizes", "must list at least two positive layer sizes")
        self._require(_is_int(self.seed), "seed", "must be an integer")
        self._require(self.dtype in DTYPES, "dtype", f"is not one of {', '.join(DTYPES)}")
        self._check_params()

    def initialize(self) -> RateLearner:
        """Check the hyperparameters, then allocate and initialise every array from
        ``seed``. Returns ``self``."""
        self.check_params()
        self._initialize(np.random.default_rng(self.seed))
        self._initialized = True
        return self

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
            per-example state, ``uses_example_index``, such as equilibrium propagation).

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

    @abc.abstractmethod
    def state_dict(self) -> dict[str, np.ndarray]:
        """All learned state as a flat dict of arrays (copies); initialises the learner
        if needed."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore state produced by :meth:`state_dict` (keys and shapes checked: a
        ValidationError names the offending key)."""

    @abc.abstractmethod
    def n_parameters(self) -> int:
        """Number of trainable weights and biases."""

    def flops_per_sample(self, batch: int) -> float:
        """Floating-point operations per training sample at minibatch size ``batch``.

        Counted from the algorithm's matrix products of every phase (2 flops per
        multiply-add); used by ``spikesim bench rate`` for ``fraction_of_gemm_peak``.
        Defined where ``counts_flops`` is true.
        """
        raise NotImplementedError(f"{self.name}: flops_per_sample is not defined")

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """The output in the space of the data, shape ``(batch, n_out)`` (the sigmoid of the
        scores for a ``sigmoid-bce`` loss, the scores for a squared loss). Defined where
        ``reconstructs`` is true."""
        raise NotImplementedError(f"{self.name}: reconstruct is not defined")

    def reconstruction_loss(self, x: np.ndarray) -> float:
        """Mean over examples *and* outputs of the output loss of reconstructing ``x``
        (binary cross-entropy per pixel, as Alonso et al. 2022, Table 3, or ``1/2`` squared
        error per pixel), without learning; ``x`` of shape ``(batch, n_in)`` with ``n_in ==
        n_out``. Defined where ``reconstructs`` is true."""
        raise NotImplementedError(f"{self.name}: reconstruction_loss is not defined")

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        """Small, fast hyperparameters for :func:`spikesim.testing.rate.check_rate_learner`
        (a few hundred steps on a 20-feature, 4-class task must lower the training loss).
        ``sizes`` and ``seed`` are set by the check."""
        return {}

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        """Hyperparameters (merged over :meth:`conformance_params`) that make training
        diverge within a few steps, e.g. an absurd learning rate; ``None`` if no setting of
        this learner can diverge (the check then only injects exploded parameters)."""
        return None

    # -- to implement -------------------------------------------------------------------
    def _check_params(self) -> None:
        """Check the subclass's own hyperparameters (use :meth:`_require`)."""

    @abc.abstractmethod
    def _initialize(self, rng: np.random.Generator) -> None:
        """Allocate and initialise every array, drawing from ``rng`` (seeded by ``seed``)."""

    @abc.abstractmethod
    def _fit_batch(self, x: np.ndarray, y: np.ndarray, index: np.ndarray | None) -> float:
        """One step on validated inputs; returns the loss before the update."""

    @abc.abstractmethod
    def _predict_scores(self, x: np.ndarray) -> np.ndarray:
        """Output scores of validated inputs, shape ``(batch, n_out)``."""

    @abc.abstractmethod
    def _parameters(self) -> list[np.ndarray]:
        """The trainable arrays (not copies), watched for divergence."""

    # -- shared helpers -----------------------------------------------------------------
    def _require(self, ok: bool, key: str, why: str) -> None:
        """Raise a ValidationError naming hyperparameter ``key`` and its value unless ``ok``."""
        if not ok:
            raise ValidationError(f"{self.name}: {key} = {getattr(self, key)!r} {why}")

    def _require_rate(self, key: str, *, allow_zero: bool = False) -> None:
        """``key`` must be a finite number > 0 (>= 0 with ``allow_zero``)."""
        value = getattr(self, key)
        ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        ok = ok and bool(np.isfinite(value)) and (value >= 0 if allow_zero else value > 0)
        self._require(ok, key, f"must be a finite number {'>=' if allow_zero else '>'} 0")

    def _require_count(self, key: str, minimum: int) -> None:
        """``key`` must be an integer >= ``minimum``."""
        value = getattr(self, key)
        self._require(_is_int(value) and value >= minimum, key, f"must be an integer >= {minimum}")

    def _require_choice(self, key: str, choices: Iterable[str]) -> None:
        choices = tuple(choices)
        self._require(getattr(self, key) in choices, key, f"is not one of {', '.join(choices)}")

    def _params_finite(self) -> bool:
        # min/max reduce without copying; both propagate NaN
        limit = self.divergence_limit
        for p in self._parameters():
            if p.size and not (-limit < float(p.min()) and float(p.max()) < limit):
                return False
        return True

    def _check_state(self, state: dict[str, np.ndarray], expected: dict[str, tuple]) -> None:
        """``state`` holds every key of ``expected`` with that shape (``None``: any) and
        no other key."""
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise ValidationError(
                f"{self.name}: state_dict keys do not match (missing {missing}, unexpected {extra})"
            )
        for key, shape in expected.items():
            if shape is not None and np.shape(state[key]) != shape:
                raise ValidationError(
                    f"{self.name}: state_dict[{key!r}] has shape {np.shape(state[key])}, "
                    f"expected {shape}"
                )

    def _check_target(self) -> None:
        """``target`` is ``"label"`` or ``"input"`` (then ``sizes[-1] == sizes[0]``); for
        learners that declare ``reconstructs``."""
        self._require_choice("target", TARGETS)
        if self.target == "input":
            self._require(
                self.sizes[-1] == self.sizes[0],
                "sizes",
                "must end with as many outputs as inputs for target = 'input' (an autoencoder)",
            )

    def _targets(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What the output learns, shape ``(batch, n_out)``: ``x`` itself for an autoencoder
        (``reconstructs`` and ``target == "input"``), else the one-hot labels."""
        if self.reconstructs and self.target == "input":
            return np.asarray(x, dtype=self.dtype)
        return self._one_hot(y)

    def _one_hot(self, y: np.ndarray) -> np.ndarray:
        """One-hot targets, shape ``(batch, n_out)``, in the learner's dtype."""
        t = np.zeros((y.shape[0], self.sizes[-1]), dtype=self.dtype)
        t[np.arange(y.shape[0]), y] = 1.0
        return t

    # -- validation of inputs -----------------------------------------------------------
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
