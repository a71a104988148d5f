"""Conformance checks for rate learners (scikit-learn's ``check_estimator`` is the model).

Every learner registered in :mod:`spikesim.rate` passes :func:`check_rate_learner`; a learner
written outside this repository can be checked the same way::

    from spikesim.testing.rate import check_rate_learner
    check_rate_learner(MyLearner)          # a RateLearner subclass, or a registered name

Each check is also available on its own (:data:`CHECKS`, :func:`rate_learner_checks`) so a
test suite can parametrize over learners and checks. The checks train on a small in-memory
task (Gaussian blobs: 20 features, 4 classes) with the learner's
:meth:`~spikesim.rate.base.RateLearner.conformance_params`, layer sizes :data:`SIZES`.

What is checked:

- the class: final (not abstract), capabilities declared as class attributes of the right
  types, a keyword-only constructor with a default for every hyperparameter, and
  ``conformance_params`` / ``divergent_params`` naming known hyperparameters;
- the constructor only stores: it sets nothing but the hyperparameters (so it keeps no
  array and no random draw), leaves numpy's global generator alone, and ``get_params``
  round-trips;
- bad hyperparameters are reported by ``check_params`` (a ValidationError naming the key),
  not by the constructor;
- one minibatch of ``fit_batch`` then ``predict`` / ``predict_scores`` give the right shapes
  and dtypes; a few hundred steps learn the separable task;
- the same seed gives identical results, another seed different ones;
- bad inputs (wrong feature count, NaN, labels out of range, float labels) raise a
  ValidationError naming the value;
- ``state_dict`` returns copies, ``load_state_dict`` into a fresh learner continues
  identically (what resuming a run relies on) and names a missing or misshapen key;
- divergence raises DivergenceError;
- the declared capabilities hold: without ``uses_example_index`` the example indices change
  nothing; with ``counts_flops`` the FLOP count is a positive number; with
  ``reconstructs`` an autoencoder (``target = "input"``) lowers its reconstruction loss,
  without it ``reconstruct`` raises NotImplementedError.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Iterator
from functools import cache

import numpy as np

from spikesim.errors import DivergenceError, ValidationError
from spikesim.rate.base import REGISTRY, RateLearner, available

__all__ = ["CHECKS", "SIZES", "BATCH", "check_rate_learner", "rate_learner_checks"]

#: layer sizes the checks use (the task has 20 features and 4 classes)
SIZES = (20, 16, 4)
#: minibatch size of the checks
BATCH = 16


# -- helpers ---------------------------------------------------------------------------
def _resolve(learner: str | type[RateLearner]) -> type[RateLearner]:
    if isinstance(learner, str):
        if learner not in available():
            raise ValidationError(f"unknown rate learner {learner!r}; available: {available()}")
        return REGISTRY[learner]
    if not (isinstance(learner, type) and issubclass(learner, RateLearner)):
        raise TypeError(f"expected a RateLearner subclass or a registered name, got {learner!r}")
    return learner


@cache
def _task() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from spikesim.data import load

    ds = load("blobs", seed=0)
    arrays = (ds.x_train.astype(np.float64), ds.y_train, ds.x_test.astype(np.float64), ds.y_test)
    for a in arrays:
        a.setflags(write=False)
    return arrays


def _make(cls: type[RateLearner], seed: int = 0, **extra) -> RateLearner:
    learner = cls(**{**cls.conformance_params(), "sizes": SIZES, "seed": seed, **extra})
    learner.check_params()
    return learner


def _batches(n_train: int, n_steps: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice(n_train, size=BATCH, replace=False) for _ in range(n_steps)]


def _train(learner: RateLearner, steps: list[np.ndarray], with_index: bool = True) -> list[float]:
    x, y, _, _ = _task()
    return [learner.fit_batch(x[i], y[i], i if with_index else None) for i in steps]


def _assert_same_state(a: RateLearner, b: RateLearner, what: str) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb), f"{a.name}: {what}: state_dict keys differ"
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and np.array_equal(sa[key], sb[key]), (
            f"{a.name}: {what}: state_dict[{key!r}] differs"
        )


def _raises(exc: type[Exception], pattern: str, func: Callable, what: str) -> None:
    try:
        func()
    except exc as err:
        assert re.search(pattern, str(err)), (
            f"{what}: {exc.__name__} message {str(err)!r} does not match {pattern!r}"
        )
        return
    raise AssertionError(f"{what}: expected {exc.__name__} matching {pattern!r}, nothing raised")


def _float_keys(state: dict[str, np.ndarray]) -> list[str]:
    return [k for k, v in state.items() if v.dtype.kind == "f" and v.size]


# -- the checks ------------------------------------------------------------------------
def check_class_contract(cls: type[RateLearner]) -> None:
    """Final, capabilities declared with the right types, keyword-only constructor with a
    default for every hyperparameter, settings for the checks that name known keys."""
    assert not inspect.isabstract(cls), f"{cls.__name__} is abstract: {cls.__abstractmethods__}"
    assert isinstance(cls.name, str) and cls.name, f"{cls.__name__}: name must be a string"
    for attr, kind in (
        ("uses_example_index", bool),
        ("counts_flops", bool),
        ("reconstructs", bool),
    ):
        assert isinstance(getattr(cls, attr), kind), f"{cls.name}: {attr} must be a {kind}"
    assert isinstance(cls.paper_batch_size, int) and cls.paper_batch_size >= 1, (
        f"{cls.name}: paper_batch_size must be a positive int"
    )
    assert cls.divergence_limit > 0, f"{cls.name}: divergence_limit must be positive"
    registered = [o for o in REGISTRY.values() if o is not cls and issubclass(cls, o)]
    assert not registered, f"{cls.name} subclasses registered learner(s) {registered}: not final"
    assert dataclasses.is_dataclass(cls), f"{cls.name}: hyperparameters must be dataclass fields"
    params = inspect.signature(cls.__init__).parameters
    for key in ("sizes", "seed", "dtype"):
        assert key in params, f"{cls.name}: constructor lacks the common hyperparameter {key!r}"
    for key, p in params.items():
        if key == "self":
            continue
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{cls.name}: {key} not keyword-only"
        assert p.default is not inspect.Parameter.empty, f"{cls.name}: {key} has no default"
    for where in ("conformance_params", "divergent_params"):
        extra = getattr(cls, where)() or {}
        unknown = sorted(set(extra) - set(params))
        assert not unknown, f"{cls.name}.{where}() names unknown hyperparameters {unknown}"


def check_constructor_only_stores(cls: type[RateLearner]) -> None:
    """No arrays, no random draws, nothing but the hyperparameters; get_params round-trips."""
    before = np.random.get_state()
    learner = cls(**{**cls.conformance_params(), "sizes": SIZES, "seed": 0})
    after = np.random.get_state()
    assert np.array_equal(after[1], before[1]) and after[2] == before[2], (
        f"{cls.name}: the constructor drew from numpy's global random generator"
    )
    fields = {f.name for f in dataclasses.fields(cls)}
    stored = set(vars(learner))
    assert stored == fields, f"{cls.name}: the constructor set {sorted(stored - fields)}"
    arrays = [k for k, v in vars(learner).items() if isinstance(v, np.ndarray)]
    assert arrays == [], f"{cls.name}: the constructor allocated {arrays}"
    params = learner.get_params()
    assert set(params) == fields, f"{cls.name}: get_params keys {sorted(params)} != fields"
    assert params["seed"] == 0 and tuple(params["sizes"]) == SIZES
    again = cls(**params)
    assert again.get_params() == params, f"{cls.name}: get_params does not round-trip"
    assert cls().get_params() == cls().get_params(), f"{cls.name}: default construction differs"


def check_bad_hyperparameters(cls: type[RateLearner]) -> None:
    """A bad hyperparameter is stored by the constructor and reported by ``check_params``
    (and ``initialize``) with a ValidationError naming the key."""
    bad = {"sizes": (SIZES[0],), "dtype": "float16"}
    if "learning_rate" in inspect.signature(cls.__init__).parameters:
        bad["learning_rate"] = -1.0
    for key, value in bad.items():
        learner = cls(**{**cls.conformance_params(), "sizes": SIZES, key: value})
        _raises(ValidationError, key, learner.check_params, f"{cls.name}: {key}={value!r}")
        _raises(ValidationError, key, learner.initialize, f"{cls.name}: {key}={value!r}")


def check_fit_predict_shapes(cls: type[RateLearner]) -> None:
    """One minibatch of training, then predictions of the right shapes and dtypes."""
    x, y, xt, yt = _task()
    learner = _make(cls)
    loss = learner.fit_batch(x[:BATCH], y[:BATCH], np.arange(BATCH))
    assert isinstance(loss, float) and np.isfinite(loss), f"{cls.name}: loss {loss!r}"
    scores = learner.predict_scores(xt[:7])
    assert scores.shape == (7, SIZES[-1]), f"{cls.name}: scores shape {scores.shape}"
    assert scores.dtype == np.dtype(learner.dtype), f"{cls.name}: scores dtype {scores.dtype}"
    assert np.all(np.isfinite(scores)), f"{cls.name}: non-finite scores"
    pred = learner.predict(xt[:7])
    assert pred.shape == (7,) and np.issubdtype(pred.dtype, np.integer), (
        f"{cls.name}: predict gave {pred.dtype} {pred.shape}"
    )
    assert np.all((pred >= 0) & (pred < SIZES[-1]))
    assert np.array_equal(pred, np.argmax(scores, axis=1)), f"{cls.name}: predict != argmax"
    assert 0.0 <= learner.score(xt, yt) <= 1.0
    n = learner.n_parameters()
    assert isinstance(n, int) and n > 0, f"{cls.name}: n_parameters {n!r}"
    # an untrained learner predicts too (initialised on first use)
    assert _make(cls).predict_scores(xt[:3]).shape == (3, SIZES[-1])


def check_learns_separable_task(cls: type[RateLearner]) -> None:
    """A few hundred steps of ``conformance_params`` lower the loss and beat chance."""
    _, _, xt, yt = _task()
    learner = _make(cls)
    losses = _train(learner, _batches(len(_task()[1]), 300))
    assert all(np.isfinite(losses)), f"{cls.name}: non-finite loss"
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20]), (
        f"{cls.name}: the loss did not fall ({np.mean(losses[:20]):.3g} -> "
        f"{np.mean(losses[-20:]):.3g})"
    )
    acc = learner.score(xt, yt)
    assert acc > 0.6, f"{cls.name}: test accuracy {acc:.3f} (chance 0.25)"


def check_same_seed_same_result(cls: type[RateLearner]) -> None:
    """The same seed gives identical states, another seed different ones."""
    steps = _batches(len(_task()[1]), 5)
    a, b, c = _make(cls, seed=3), _make(cls, seed=3), _make(cls, seed=4)
    la, lb = _train(a, steps), _train(b, steps)
    _train(c, steps)
    assert la == lb, f"{cls.name}: the same seed gave different losses"
    _assert_same_state(a, b, "same seed")
    sa, sc = a.state_dict(), c.state_dict()
    assert any(not np.array_equal(sa[k], sc[k]) for k in _float_keys(sa)), (
        f"{cls.name}: seeds 3 and 4 gave identical states"
    )


def check_bad_input(cls: type[RateLearner]) -> None:
    """Bad inputs raise ValidationError naming the value."""
    x, y, _, _ = _task()
    learner = _make(cls)
    xb, yb = x[:BATCH], y[:BATCH]
    name = cls.name
    cases = [
        (r"shape", lambda: learner.fit_batch(np.hstack([xb, xb[:, :1]]), yb), "extra feature"),
        (r"shape", lambda: learner.fit_batch(xb[0], yb[:1]), "1-d x"),
        (r"y must have shape", lambda: learner.fit_batch(xb, yb[:-1]), "short y"),
        (
            r"label 4 out of range",
            lambda: learner.fit_batch(xb, np.where(np.arange(BATCH) == 3, 4, yb)),
            "label too large",
        ),
        (
            r"label -1 out of range",
            lambda: learner.fit_batch(xb, np.where(np.arange(BATCH) == 3, -1, yb)),
            "negative label",
        ),
        (r"integer labels", lambda: learner.fit_batch(xb, yb.astype(float)), "float labels"),
        (r"shape", lambda: learner.predict(xb[:, :-1]), "predict: missing feature"),
    ]
    bad = xb.copy()
    bad[2, 5] = np.nan
    cases.append((r"non-finite value nan at \(2, 5\)", lambda: learner.fit_batch(bad, yb), "NaN"))
    cases.append((r"non-finite", lambda: learner.predict(bad), "predict: NaN"))
    inf = xb.copy()
    inf[0, 1] = np.inf
    cases.append((r"non-finite value inf at \(0, 1\)", lambda: learner.fit_batch(inf, yb), "inf"))
    for pattern, func, what in cases:
        _raises(ValidationError, rf"^{re.escape(name)}: .*{pattern}", func, f"{name}: {what}")
    # nothing above trained the learner: it is still fresh
    _assert_same_state(learner, _make(cls), "after rejected inputs")


def check_state_dict_round_trip(cls: type[RateLearner]) -> None:
    """``state_dict`` copies; a fresh learner loading it continues identically; a missing or
    misshapen key is a ValidationError naming it."""
    steps = _batches(len(_task()[1]), 10)
    a = _make(cls)
    _train(a, steps[:5])
    state = a.state_dict()
    for key in _float_keys(state):
        state[key].flat[0] += 1.0
    now = a.state_dict()
    assert any(not np.array_equal(state[k], now[k]) for k in _float_keys(now)), (
        f"{cls.name}: state_dict returned views, not copies"
    )
    b = _make(cls)  # fresh, not initialised: load_state_dict must work on it (resume)
    b.load_state_dict(a.state_dict())
    _assert_same_state(a, b, "after load_state_dict")
    assert _train(a, steps[5:]) == _train(b, steps[5:]), f"{cls.name}: resumed losses differ"
    _assert_same_state(a, b, "after continuing")
    full = a.state_dict()
    key = sorted(_float_keys(full))[0]
    missing = {k: v for k, v in full.items() if k != key}
    _raises(ValidationError, key, lambda: _make(cls).load_state_dict(missing), "missing key")
    shape = dict(full)
    shape[key] = np.zeros(full[key].shape + (2,), full[key].dtype)
    _raises(ValidationError, key, lambda: _make(cls).load_state_dict(shape), "misshapen key")


def check_divergence_raises(cls: type[RateLearner]) -> None:
    """Divergent settings (``divergent_params``), or exploded parameters where no setting
    diverges, raise DivergenceError naming the learner."""
    steps = _batches(len(_task()[1]), 30)
    diverging = cls.divergent_params()
    if diverging is not None:
        learner = _make(cls, **diverging)
    else:
        learner = _make(cls).initialize()
        state = learner.state_dict()
        big = max(_float_keys(state), key=lambda k: state[k].size)
        state[big] = np.full_like(state[big], 10 * learner.divergence_limit)
        learner.load_state_dict(state)
    _raises(
        DivergenceError,
        rf"{cls.name}: training diverged",
        lambda: _train(learner, steps),
        f"{cls.name}: divergence",
    )


def check_capabilities(cls: type[RateLearner]) -> None:
    """What the class attributes declare holds: without ``uses_example_index`` the indices
    change nothing; ``counts_flops`` gives a positive FLOP count (else NotImplementedError)."""
    steps = _batches(len(_task()[1]), 3)
    if not cls.uses_example_index:
        a, b = _make(cls), _make(cls)
        assert _train(a, steps) == _train(b, steps, with_index=False), (
            f"{cls.name}: uses_example_index is False but the indices change the losses"
        )
        _assert_same_state(a, b, "with and without index")
    learner = _make(cls)
    if cls.counts_flops:
        for batch in (1, BATCH):
            fps = learner.flops_per_sample(batch)
            assert isinstance(fps, float) and np.isfinite(fps) and fps > 0, (
                f"{cls.name}: flops_per_sample({batch}) = {fps!r}"
            )
    else:
        _raises(NotImplementedError, "", lambda: learner.flops_per_sample(BATCH), cls.name)
    x, _, _, _ = _task()
    if cls.reconstructs:
        # an autoencoder of the task's inputs (scaled into [0, 1]; the loss "sigmoid-bce",
        # which every learner declaring reconstructs has) lowers its loss
        xs = (x - x.min()) / (x.max() - x.min())
        auto = _make(cls, target="input", loss="sigmoid-bce", sizes=(SIZES[0], SIZES[1], SIZES[0]))
        assert auto.reconstruct(xs[:3]).shape == (3, SIZES[0]), f"{cls.name}: reconstruct shape"
        before = auto.reconstruction_loss(xs)
        for i in _batches(len(xs), 100):
            auto.fit_batch(xs[i], np.zeros(len(i), dtype=np.int64))
        after = auto.reconstruction_loss(xs)
        assert np.isfinite(after) and after < before, (
            f"{cls.name}: reconstructs, but the reconstruction loss did not fall "
            f"({before:.4g} -> {after:.4g})"
        )
    else:
        _raises(NotImplementedError, "", lambda: learner.reconstruct(x[:3]), cls.name)


#: every check, in the order :func:`check_rate_learner` runs them
CHECKS: tuple[Callable[[type[RateLearner]], None], ...] = (
    check_class_contract,
    check_constructor_only_stores,
    check_bad_hyperparameters,
    check_fit_predict_shapes,
    check_same_seed_same_result,
    check_bad_input,
    check_state_dict_round_trip,
    check_divergence_raises,
    check_capabilities,
    check_learns_separable_task,
)


def rate_learner_checks(
    learner: str | type[RateLearner],
) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(check name, zero-argument callable)`` for every check of ``learner`` (for test
    parametrization)."""
    cls = _resolve(learner)
    for check in CHECKS:
        yield check.__name__, (lambda check=check: check(cls))


def check_rate_learner(learner: str | type[RateLearner]) -> None:
    """Run every conformance check on a learner class (or a registered learner's name).

    Raises
    ------
    AssertionError
        The first check that fails, with a message naming the learner and what broke.
    ValidationError
        ``learner`` is a name that is not registered.
    """
    for _, run in rate_learner_checks(learner):
        run()
