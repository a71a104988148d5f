"""Every registered rate learner passes the importable conformance checks
(:mod:`spikesim.testing.rate`), one test per learner and check; and the checks catch a
learner that breaks the contract."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import spikesim.rate as rate
from spikesim.errors import ValidationError
from spikesim.rate.base import RateLearner
from spikesim.testing.rate import CHECKS, check_rate_learner, rate_learner_checks

NAMES = rate.available()


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
@pytest.mark.parametrize("name", NAMES)
def test_registered_learner_conforms(name, check):
    """Each check raises AssertionError naming the failed property (that they can fail is
    shown by ``test_checks_catch_broken_learners``); a conforming learner returns None."""
    assert check(rate.REGISTRY[name]) is None


def test_checks_by_name_and_unknown_name():
    names = [n for n, _ in rate_learner_checks("bp")]
    assert names == [c.__name__ for c in CHECKS]
    with pytest.raises(ValidationError, match="unknown rate learner 'nope'"):
        check_rate_learner("nope")


class _Tiny(RateLearner):
    """A minimal linear softmax learner outside the registry: it passes every check."""

    counts_flops: ClassVar[bool] = True

    learning_rate: float = 0.5

    def _check_params(self) -> None:
        self._require_rate("learning_rate")

    def _initialize(self, rng):
        self.w = (0.01 * rng.standard_normal((self.sizes[0], self.sizes[-1]))).astype(self.dtype)

    def _parameters(self):
        return [self.w]

    def _predict_scores(self, x):
        return np.asarray(x, self.dtype) @ self.w

    def _fit_batch(self, x, y, index):
        f = self._predict_scores(x)
        p = np.exp(f - f.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.log(p[np.arange(len(y)), y])))
        self.w -= self.learning_rate * (np.asarray(x, self.dtype).T @ (p - self._one_hot(y)))
        return loss

    def state_dict(self):
        if not self._initialized:
            self.initialize()
        return {"w": self.w.copy()}

    def load_state_dict(self, state):
        self.initialize()
        self._check_state(state, {"w": self.w.shape})
        self.w[...] = state["w"]

    def n_parameters(self):
        return self.sizes[0] * self.sizes[-1]

    def flops_per_sample(self, batch):
        return float(4 * self.sizes[0] * self.sizes[-1])

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        return {"sizes": (20, 4), "dtype": "float64"}

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        return {"learning_rate": 1e300}


def test_outside_learner_passes():
    check_rate_learner(_Tiny)
    with pytest.raises(ValidationError, match=r"^_Tiny: learning_rate = -1"):
        _Tiny(learning_rate=-1).initialize()


def test_registered_learners_are_final():
    with pytest.raises(TypeError, match="registered learners are final"):
        rate.register("bp-copy")(type("BPCopy", (rate.REGISTRY["bp"],), {}))
    with pytest.raises(TypeError, match="is abstract"):
        rate.register("abstract")(RateLearner)
    assert "bp-copy" not in rate.available() and "abstract" not in rate.available()


class _AllocatesInInit(_Tiny):
    def __post_init__(self):
        super().__post_init__()
        self.w = np.zeros(3)


class _IgnoresSeed(_Tiny):
    def _initialize(self, rng):
        super()._initialize(np.random.default_rng(0))


class _SharesState(_Tiny):
    def state_dict(self):
        if not self._initialized:
            self.initialize()
        return {"w": self.w}


class _WrongFlops(_Tiny):
    def flops_per_sample(self, batch):
        return 0


@pytest.mark.parametrize(
    "cls, match",
    [
        (_AllocatesInInit, r"the constructor set \['w'\]"),
        (_IgnoresSeed, "seeds 3 and 4 gave identical states"),
        (_SharesState, "views, not copies"),
        (_WrongFlops, r"flops_per_sample\(1\) = 0"),
    ],
    ids=["allocates", "ignores-seed", "shares-state", "wrong-flops"],
)
def test_checks_catch_broken_learners(cls, match):
    with pytest.raises(AssertionError, match=match):
        check_rate_learner(cls)
