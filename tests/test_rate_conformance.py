"""The shared test suite every registered rate learner passes (spikesim.rate.available()).

A learner declares the settings this suite needs as class methods:
``conformance_params()`` (small, fast hyperparameters: a few hundred steps on a 20-feature,
4-class task must lower the loss) and ``divergent_params()`` (settings that blow up within a
few steps, or None if none can, then the suite injects non-finite weights instead).
"""

from __future__ import annotations

import numpy as np
import pytest

import spikesim.rate as rate
from spikesim.data import load
from spikesim.errors import DivergenceError, ValidationError

SIZES = (20, 16, 4)
BATCH = 16
NAMES = rate.available()


@pytest.fixture(scope="module")
def blobs():
    ds = load("blobs", seed=0)
    return ds.x_train.astype(np.float64), ds.y_train, ds.x_test.astype(np.float64), ds.y_test


def make(name, seed=0, **extra):
    cls = rate.REGISTRY[name]
    params = {**cls.conformance_params(), **extra}
    return rate.make(name, sizes=SIZES, seed=seed, **params)


def batches(n_train, n_steps, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.choice(n_train, size=BATCH, replace=False) for _ in range(n_steps)]


def train(learner, x, y, idx_list):
    return [learner.fit_batch(x[i], y[i], i) for i in idx_list]


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


@pytest.mark.parametrize("name", NAMES)
def test_constructor_only_stores(name):
    learner = make(name)
    arrays = [k for k, v in vars(learner).items() if isinstance(v, np.ndarray)]
    assert arrays == [], f"constructor allocated {arrays}"
    params = learner.get_params()
    assert params["seed"] == 0 and tuple(params["sizes"]) == SIZES
    again = rate.make(name, **params)
    assert again.get_params() == params


@pytest.mark.parametrize("name", NAMES)
def test_learns_separable_task(name, blobs):
    x, y, xt, yt = blobs
    learner = make(name)
    losses = train(learner, x, y, batches(len(y), 300))
    assert all(np.isfinite(losses))
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])
    assert learner.score(xt, yt) > 0.6  # chance is 0.25


@pytest.mark.parametrize("name", NAMES)
def test_predict_shapes(name, blobs):
    x, y, xt, yt = blobs
    learner = make(name)
    train(learner, x, y, batches(len(y), 3))
    scores = learner.predict_scores(xt[:7])
    assert scores.shape == (7, SIZES[-1]) and np.all(np.isfinite(scores))
    pred = learner.predict(xt[:7])
    assert pred.shape == (7,) and np.issubdtype(pred.dtype, np.integer)
    assert np.all((pred >= 0) & (pred < SIZES[-1]))
    np.testing.assert_array_equal(pred, np.argmax(scores, axis=1))
    assert 0.0 <= learner.score(xt, yt) <= 1.0
    assert learner.n_parameters() > 0


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name, blobs):
    x, y, _, _ = blobs
    steps = batches(len(y), 10)
    a = make(name)
    train(a, x, y, steps[:5])
    state = a.state_dict()
    # a copy: changing it does not change the learner
    for v in state.values():
        if v.dtype.kind == "f" and v.size:
            v.flat[0] += 1.0
    assert any(
        not np.array_equal(state[k], v) for k, v in a.state_dict().items() if v.dtype.kind == "f"
    )
    b = make(name)
    b.load_state_dict(a.state_dict())
    assert_same_state(a, b)
    la = train(a, x, y, steps[5:])
    lb = train(b, x, y, steps[5:])
    assert la == lb
    assert_same_state(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_result(name, blobs):
    x, y, _, _ = blobs
    steps = batches(len(y), 5)
    a, b, c = make(name, seed=3), make(name, seed=3), make(name, seed=4)
    for learner in (a, b, c):
        train(learner, x, y, steps)
    assert_same_state(a, b)
    sa, sc = a.state_dict(), c.state_dict()
    assert any(not np.array_equal(sa[k], sc[k]) for k in sa if sa[k].dtype.kind == "f")


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_named(name, blobs):
    x, y, _, _ = blobs
    learner = make(name)
    xb, yb = x[:BATCH], y[:BATCH]
    with pytest.raises(ValidationError, match=r"shape"):
        learner.fit_batch(np.hstack([xb, xb[:, :1]]), yb)
    with pytest.raises(ValidationError, match=r"shape"):
        learner.fit_batch(xb[0], yb[:1])
    with pytest.raises(ValidationError, match=r"y must have shape"):
        learner.fit_batch(xb, yb[:-1])
    with pytest.raises(ValidationError, match=r"label 4 out of range"):
        learner.fit_batch(xb, np.where(np.arange(BATCH) == 3, 4, yb))
    with pytest.raises(ValidationError, match=r"label -1 out of range"):
        learner.fit_batch(xb, np.where(np.arange(BATCH) == 3, -1, yb))
    with pytest.raises(ValidationError, match=r"integer labels"):
        learner.fit_batch(xb, yb.astype(float))
    bad = xb.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValidationError, match=r"non-finite value nan at \(2, 5\)"):
        learner.fit_batch(bad, yb)
    with pytest.raises(ValidationError, match=r"non-finite"):
        learner.predict(bad)


@pytest.mark.parametrize("name", NAMES)
def test_divergence_raises(name, blobs):
    x, y, _, _ = blobs
    cls = rate.REGISTRY[name]
    diverging = cls.divergent_params()
    steps = batches(len(y), 30)
    if diverging is not None:
        learner = make(name, **diverging)
    else:  # no hyperparameter diverges: inject exploded (still finite) weights instead
        learner = make(name)
        learner.initialize()
        state = learner.state_dict()
        big = max((k for k in state if state[k].dtype.kind == "f"), key=lambda k: state[k].size)
        state[big] = np.full_like(state[big], 10 * learner.divergence_limit)
        learner.load_state_dict(state)
    with pytest.raises(DivergenceError, match=rf"{name}: training diverged"):
        train(learner, x, y, steps)
