"""Reference checks of bp / urfb / frfb against independent computations.

- bp's update equals the finite-difference gradient of its loss (every loss, float64);
- urfb with R initialised to W^T matches bp-hinge step for step;
- frfb never changes R; sparsity masks stay respected by W and R.
"""

from __future__ import annotations

import numpy as np
import pytest

import spikesim.rate as rate
from spikesim.errors import ValidationError
from spikesim.rate import _mlp


def tiny_data(n=6, n_in=5, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, n_out, size=n)


def loss_of(learner, x, y):
    """The loss recomputed from scratch (slow, obvious: one example at a time)."""
    total = 0.0
    for xi, yi in zip(x, y, strict=True):
        a = xi
        for k, w in enumerate(learner.W):
            h = a @ w + (learner.b[k] if learner.b is not None else 0)
            a = h if k == len(learner.W) - 1 else _mlp.activate(learner.activation, h)
        f = a
        if learner.loss == "cross-entropy":
            total += np.log(np.sum(np.exp(f))) - f[yi]
        elif learner.loss == "squared":
            t = np.zeros_like(f)
            t[yi] = 1
            total += 0.5 * np.sum((f - t) ** 2)
        else:
            wrong = np.arange(len(f)) != yi
            total += max(0.0, 1 - f[yi]) + learner.mu * np.sum(np.maximum(0.0, 1 + f[wrong]))
    return total / len(y)


@pytest.mark.parametrize(
    ("loss", "activation"),
    [("cross-entropy", "tanh"), ("squared", "sigmoid"), ("hinge", "tanh"), ("hinge", "relu")],
)
def test_bp_update_is_the_finite_difference_gradient(loss, activation):
    x, y = tiny_data()
    lr = 1e-3
    learner = rate.make(
        "bp",
        sizes=(5, 4, 4, 3),
        activation=activation,
        loss=loss,
        learning_rate=lr,
        mu=0.7,
        dtype="float64",
        seed=1,
    ).initialize()
    state = learner.state_dict()
    rng = np.random.default_rng(5)
    for k in range(3):  # random biases: no field sits exactly on a ReLU kink
        state[f"b{k}"] = rng.normal(scale=0.5, size=state[f"b{k}"].shape)
    learner.load_state_dict(state)
    before = learner.state_dict()
    reported = learner.fit_batch(x, y)
    after = learner.state_dict()
    probe = rate.make("bp", **learner.get_params())
    probe.load_state_dict(before)
    assert reported == pytest.approx(loss_of(probe, x, y), rel=1e-12)
    eps = 1e-6
    for key in [k for k in before if k[0] in "Wb"]:
        update = (before[key] - after[key]) / lr  # plain SGD: the gradient
        arr = before[key]
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            for sign in (1, -1):
                state = {k: v.copy() for k, v in before.items()}
                state[key][i] += sign * eps
                probe.load_state_dict(state)
                num[i] += sign * loss_of(probe, x, y) / (2 * eps)
        np.testing.assert_allclose(update, num, rtol=1e-5, atol=1e-7, err_msg=key)


def test_saturated_linearity_and_hinge_gradient_by_hand():
    h = np.array([[-3.0, -1.0, 0.0, 1.0, 3.0]])
    np.testing.assert_array_equal(_mlp.activate("saturated", h), [[-1, -0.5, 0, 0.5, 1]])
    a = _mlp.activate("saturated", h)
    np.testing.assert_array_equal(
        _mlp.activation_derivative("saturated", h, a), [[0, 0.5, 0.5, 0.5, 0]]
    )
    # Amit eq. 3-5: correct class pushed up while f_y < 1, wrong classes down while f_c > -1
    f = np.array([[0.5, -0.5, -2.0], [2.0, 0.0, 1.0]])
    loss, g = _mlp.loss_and_grad("hinge", f, np.array([0, 2]), mu=0.5)
    assert loss == pytest.approx(((1 - 0.5) + 0.5 * (0.5 + 0) + 0 + 0.5 * (3 + 1)) / 2)
    np.testing.assert_array_equal(g * 2, [[-1, 0.5, 0], [0.5, 0.5, 0]])


def _urfb_with_transposed_feedback(sizes, sparsity=0.0):
    u = rate.make("urfb", sizes=sizes, dtype="float64", sparsity=sparsity, seed=3).initialize()
    state = u.state_dict()
    for k in range(1, len(sizes) - 1):
        state[f"R{k}"] = state[f"W{k}"].T.copy()
        if sparsity:
            state[f"mask.R{k}"] = state[f"mask.W{k}"].T.copy()
    u.load_state_dict(state)
    return u


@pytest.mark.parametrize("sizes", [(6, 5, 3), (6, 7, 5, 4, 3)])
def test_urfb_with_transposed_feedback_is_bp_hinge(sizes):
    x, y = tiny_data(n=8, n_in=sizes[0], n_out=sizes[-1], seed=2)
    x *= 2  # make some units saturate
    u = _urfb_with_transposed_feedback(sizes)
    b = rate.make("bp-hinge", sizes=sizes, dtype="float64", seed=99).initialize()
    b.load_state_dict({k: v for k, v in u.state_dict().items() if not k.startswith("R")})
    rng = np.random.default_rng(0)
    for _ in range(10):
        idx = rng.choice(len(y), size=5, replace=False)
        assert u.fit_batch(x[idx], y[idx]) == b.fit_batch(x[idx], y[idx])
        su, sb = u.state_dict(), b.state_dict()
        for k in range(len(sizes) - 1):
            np.testing.assert_array_equal(su[f"W{k}"], sb[f"W{k}"])
        for k in range(1, len(sizes) - 1):
            np.testing.assert_array_equal(su[f"R{k}"], su[f"W{k}"].T)
    # and it moved: the check is not vacuous
    assert not np.array_equal(u.state_dict()["W0"], _urfb_with_transposed_feedback(sizes).W[0])


def test_urfb_gives_r_the_same_increment_as_w():
    x, y = tiny_data(n=8, n_in=6, n_out=3)
    u = rate.make("urfb", sizes=(6, 5, 4, 3), dtype="float64", seed=0).initialize()
    before = u.state_dict()
    u.fit_batch(x, y)
    after = u.state_dict()
    for k in (1, 2):
        dw = after[f"W{k}"] - before[f"W{k}"]
        dr = after[f"R{k}"] - before[f"R{k}"]
        assert np.abs(dw).max() > 0
        np.testing.assert_allclose(dr, dw.T, rtol=1e-12, atol=1e-15)
    # R was drawn independently of W
    assert not np.allclose(before["R1"], before["W1"].T)


def test_frfb_leaves_r_unchanged_and_differs_from_bp():
    x, y = tiny_data(n=8, n_in=6, n_out=3)
    f = rate.make("frfb", sizes=(6, 5, 4, 3), seed=0).initialize()
    b = rate.make("bp-hinge", sizes=(6, 5, 4, 3), seed=0).initialize()
    r0 = f.state_dict()
    np.testing.assert_array_equal(r0["W0"], b.state_dict()["W0"])  # same forward weights
    for _ in range(5):
        f.fit_batch(x, y)
        b.fit_batch(x, y)
    r1 = f.state_dict()
    for k in (1, 2):
        np.testing.assert_array_equal(r0[f"R{k}"], r1[f"R{k}"])
    assert not np.array_equal(r1["W0"], r0["W0"])
    assert not np.allclose(r1["W0"], b.state_dict()["W0"])


@pytest.mark.parametrize("name", ["urfb", "frfb", "bp-hinge"])
def test_sparsity_masks_respected(name):
    x, y = tiny_data(n=20, n_in=10, n_out=3)
    learner = rate.make(name, sizes=(10, 12, 8, 3), sparsity=0.5, learning_rate=0.5, seed=4)
    for _ in range(20):
        learner.fit_batch(x, y)
    state = learner.state_dict()
    for key in [k for k in state if k.startswith("mask.")]:
        mask = state[key]
        target = state[key[len("mask.") :]]
        assert mask.sum() == round(0.5 * mask.size)  # exactly half fixed at zero
        assert np.all(target[mask == 0] == 0), key
        assert np.count_nonzero(target[mask == 1]) == mask.sum()
    assert any(k.startswith("mask.R") for k in state) == (name != "bp-hinge")
    if name != "bp-hinge":  # masks of W and R are drawn independently
        assert not np.array_equal(state["mask.R1"], state["mask.W1"].T)
    n_w = sum(int(state[f"mask.W{k}"].sum()) for k in range(3))
    assert learner.n_parameters() == n_w


def test_lr_decay_is_inverse_time():
    x, y = tiny_data(n=8, n_in=5, n_out=3)
    a = rate.make("bp", sizes=(5, 4, 3), learning_rate=0.1, lr_decay=1.0, dtype="float64")
    b = rate.make("bp", sizes=(5, 4, 3), learning_rate=0.1, dtype="float64")
    for lr in (0.1, 0.1 / 2, 0.1 / 3):
        b.learning_rate = lr
        a.fit_batch(x, y)
        b.fit_batch(x, y)
    for key, value in a.state_dict().items():
        np.testing.assert_allclose(value, b.state_dict()[key], rtol=1e-14, err_msg=key)


@pytest.mark.parametrize("name", ["bp-hinge", "urfb", "frfb"])
def test_warmup_is_linear_then_constant(name):
    """``warmup_steps = 3``: steps 1, 2, 3, 4 use 1/3, 2/3, 1, 1 of the step, the same as a
    learner without warm-up whose step is set by hand."""
    x, y = tiny_data(n=8, n_in=5, n_out=3)
    kw = {"sizes": (5, 4, 3), "learning_rate": 0.1, "dtype": "float64", "seed": 3}
    a = rate.make(name, warmup_steps=3, **kw)
    b = rate.make(name, **kw)
    for lr in (0.1 / 3, 0.2 / 3, 0.1, 0.1):
        b.learning_rate = lr
        a.fit_batch(x, y)
        b.fit_batch(x, y)
    for key, value in a.state_dict().items():
        np.testing.assert_allclose(value, b.state_dict()[key], rtol=1e-13, err_msg=key)


def test_warmup_steps_must_be_a_count():
    x, y = tiny_data(n=8, n_in=5, n_out=3)
    with pytest.raises(ValidationError, match="warmup_steps"):
        rate.make("bp", sizes=(5, 4, 3), warmup_steps=-1).fit_batch(x, y)


def test_adam_step_matches_algorithm_1():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(7, 5))
    m, v = np.zeros_like(p), np.zeros_like(p)
    ref_p, ref_m, ref_v = p.copy(), m.copy(), v.copy()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    for t in range(1, 6):
        g = rng.normal(size=p.shape)
        _mlp.adam_step([p], [g], [m], [v], t, lr, b1, b2, eps)
        ref_m = b1 * ref_m + (1 - b1) * g
        ref_v = b2 * ref_v + (1 - b2) * g**2
        m_hat, v_hat = ref_m / (1 - b1**t), ref_v / (1 - b2**t)
        ref_p = ref_p - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(p, ref_p, rtol=1e-12)
    np.testing.assert_allclose(m, ref_m, rtol=1e-12)
    np.testing.assert_allclose(v, ref_v, rtol=1e-12)
