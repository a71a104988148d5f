"""Equilibrium propagation: reference checks against finite differences, particles, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import spikesim.rate as R
from spikesim.errors import ValidationError
from spikesim.rate.ep import ep_increments, relax

SIZES = (4, 5, 3)
N_RELAX = 400  # enough steps (eps = 0.5) for the small network to reach its fixed point


def _small(beta: float = 0.1) -> R.RateLearner:
    m = R.make(
        "ep",
        sizes=SIZES,
        seed=3,
        learning_rate=1.0,
        n_free=N_RELAX,
        n_nudged=N_RELAX,
        eps=0.5,
        beta=beta,
        random_sign=False,
        dtype="float64",
    )
    rng = np.random.default_rng(7)
    state = m.state_dict()
    # moderate weights and positive biases: a unique fixed point inside (0, 1)
    for k in (1, 2):
        state[f"W{k}"] = rng.uniform(-0.4, 0.4, size=state[f"W{k}"].shape)
        state[f"b{k}"] = rng.uniform(0.2, 0.5, size=state[f"b{k}"].shape)
    m.load_state_dict(state)
    return m


def _data():
    rng = np.random.default_rng(11)
    x = rng.uniform(0.1, 0.9, size=(3, SIZES[0]))
    y = np.array([0, 2, 1])
    return x, y


def _cost(m, x, y) -> float:
    """The authors' cost |y - s_out|^2 (no 1/2) at the free fixed point, batch mean."""
    s_out = m.fixed_point(x, n_steps=N_RELAX)[-1]
    t = np.eye(SIZES[-1])[y]
    return float(np.mean(np.sum((t - s_out) ** 2, axis=1)))


def _fd_gradient(m, x, y, h: float = 1e-6) -> dict[str, np.ndarray]:
    """Central finite differences of the fixed-point cost w.r.t. every weight and bias."""
    base = m.state_dict()
    grads = {}
    for key in ("W1", "b1", "W2", "b2"):
        g = np.zeros_like(base[key])
        for i in np.ndindex(g.shape):
            for sign in (1.0, -1.0):
                st = {k: v.copy() for k, v in base.items()}
                st[key][i] += sign * h
                m.load_state_dict(st)
                g[i] += sign * _cost(m, x, y) / (2 * h)
        grads[key] = g
    m.load_state_dict(base)
    return grads


def _ep_step(beta: float) -> dict[str, np.ndarray]:
    """The EP increment per unit learning rate (learning_rate = 1, fixed positive beta)."""
    m = _small(beta)
    x, y = _data()
    before = m.state_dict()
    m.fit_batch(x, y)
    after = m.state_dict()
    return {k: after[k] - before[k] for k in ("W1", "b1", "W2", "b2")}


def test_fixed_point_is_interior_and_converged():
    m = _small()
    x, _ = _data()
    s = m.fixed_point(x, n_steps=N_RELAX)
    s2 = m.fixed_point(x, n_steps=N_RELAX + 50)
    for a, b in zip(s, s2, strict=True):
        assert np.max(np.abs(a - b)) < 1e-12
        assert a.min() > 0.0 and a.max() < 1.0


def _obvious_free_step(x, s, weights, biases, eps):
    """One step of eq. 54 with beta = 0, written from the energy gradient of eq. 34 with
    rho = clip(., 0, 1) and rho' = 1 on [0, 1] (Theano's clip gradient), layer by layer."""
    rho = lambda v: np.clip(v, 0.0, 1.0)  # noqa: E731
    drho = lambda v: ((v >= 0.0) & (v <= 1.0)).astype(v.dtype)  # noqa: E731
    layers = [x, *s]
    new = []
    for k in range(1, len(layers)):
        u = layers[k]
        drive = rho(layers[k - 1]) @ weights[k - 1] + biases[k - 1]
        if k + 1 < len(layers):
            drive = drive + rho(layers[k + 1]) @ weights[k].T
        grad = rho(u) * drho(u) - drho(u) * drive  # dE/ds_k
        new.append(np.clip(u - eps * grad, 0.0, 1.0))
    return new


def _strong(seed: int = 5) -> R.RateLearner:
    """A 6-8-4 network with weights large enough that 2 steps are far from the fixed point."""
    m = R.make("ep", sizes=(6, 8, 4), seed=seed, n_free=2, eps=0.5, dtype="float64")
    rng = np.random.default_rng(seed)
    st = m.state_dict()
    for k in (1, 2):
        st[f"W{k}"] = rng.uniform(-0.8, 0.8, size=st[f"W{k}"].shape)
        st[f"b{k}"] = rng.uniform(-0.2, 0.4, size=st[f"b{k}"].shape)
    m.load_state_dict(st)
    return m


def test_settle_reaches_the_fixed_point_of_the_obvious_iteration():
    m = _strong()
    x = np.random.default_rng(1).uniform(0.0, 1.0, size=(5, 6))
    states, n_steps, change = m.settle(x, tol=1e-10, max_steps=5000, chunk=7)
    assert change < 1e-10 and n_steps % 7 == 0 and 7 <= n_steps < 5000
    # the obvious iteration, as many steps from zero, ends at the same state ...
    s = [np.zeros((5, 8)), np.zeros((5, 4))]
    for _ in range(n_steps):
        prev, s = s, _obvious_free_step(x, s, m.W, m.b, 0.5)
    for a, b in zip(states, s, strict=True):
        assert np.max(np.abs(a - b)) < 1e-9
    # ... which its own next step no longer moves: a fixed point
    assert max(np.max(np.abs(a - b)) for a, b in zip(s, prev, strict=True)) < 1e-10
    nxt = _obvious_free_step(x, s, m.W, m.b, 0.5)
    assert max(np.max(np.abs(a - b)) for a, b in zip(nxt, s, strict=True)) < 1e-10
    # while the paper's short free phase (n_free = 2) is not there yet
    short = m.fixed_point(x)
    assert max(np.max(np.abs(a - b)) for a, b in zip(short, s, strict=True)) > 1e-2


def test_settle_stops_at_max_steps():
    m = _strong()
    x = np.random.default_rng(2).uniform(0.0, 1.0, size=(3, 6))
    states, n_steps, change = m.settle(x, tol=1e-12, max_steps=3, chunk=1)
    s = [np.zeros((3, 8)), np.zeros((3, 4))]
    for _ in range(3):
        prev, s = s, _obvious_free_step(x, s, m.W, m.b, 0.5)
    assert n_steps == 3
    for a, b in zip(states, s, strict=True):
        assert np.max(np.abs(a - b)) < 1e-12
    assert change == pytest.approx(max(np.max(np.abs(a - b)) for a, b in zip(s, prev, strict=True)))
    assert change > 1e-12
    with pytest.raises(ValidationError, match="tol"):
        m.settle(x, tol=0.0)
    with pytest.raises(ValidationError, match="max_steps"):
        m.settle(x, max_steps=0)


def test_ep_update_approaches_backprop_gradient_as_beta_shrinks():
    """Scellier & Bengio Theorem 1: (1/beta)(dE/dtheta(s^beta) - dE/dtheta(s^0)) -> dC/dtheta."""
    m = _small()
    x, y = _data()
    fd = _fd_gradient(m, x, y)
    ref = np.concatenate([-fd[k].ravel() for k in ("W1", "b1", "W2", "b2")])
    errors = []
    for beta in (0.05, 0.005, 0.0005):
        step = _ep_step(beta)
        ep = np.concatenate([step[k].ravel() for k in ("W1", "b1", "W2", "b2")])
        errors.append(np.linalg.norm(ep - ref) / np.linalg.norm(ref))
    # the one-sided estimate's bias is O(beta): ten times smaller beta, ~ten times smaller error
    assert errors[0] > 3 * errors[1] > 9 * errors[2]
    assert errors[2] < 5e-3
    assert errors[0] > 5e-2  # the check is not vacuous: finite beta is visibly biased


def test_negative_beta_estimates_the_same_gradient():
    """With beta < 0 (the random sign) eq. 50 again estimates -dC/dtheta."""
    m = _small()
    x, y = _data()
    fd = _fd_gradient(m, x, y)
    st = m.state_dict()
    W, b = [st["W1"], st["W2"]], [st["b1"], st["b2"]]
    free = m.fixed_point(x, n_steps=N_RELAX)
    t = np.eye(SIZES[-1])[y]
    beta = -5e-4
    nudged = relax(x @ W[0], free, W, b, n_steps=N_RELAX, eps=0.5, beta=beta, target=t)
    dw, db = ep_increments(x, free, nudged, beta)
    ep = np.concatenate([a.ravel() for a in (dw[0], db[0], dw[1], db[1])])
    ref = np.concatenate([-fd[k].ravel() for k in ("W1", "b1", "W2", "b2")])
    assert np.linalg.norm(ep - ref) / np.linalg.norm(ref) < 5e-3


def test_particles_are_indexed_by_example_not_batch_position():
    x, y = _data()
    idx = np.array([7, 2, 4])
    a = R.make("ep", sizes=SIZES, seed=1, n_free=5, n_nudged=2, dtype="float64")
    b = R.make("ep", sizes=SIZES, seed=1, n_free=5, n_nudged=2, dtype="float64")
    perm = np.array([2, 0, 1])
    for _ in range(3):  # later steps start from the stored particles
        a.fit_batch(x, y, idx)
        b.fit_batch(x[perm], y[perm], idx[perm])
    sa, sb = a.state_dict(), b.state_dict()
    for key in sa:
        assert np.allclose(sa[key], sb[key], atol=1e-12), key
    # rows 7, 2, 4 hold the free-phase ends; untouched rows stay at zero
    assert np.all(sa["particles1"][[0, 1, 3, 5, 6]] == 0)
    assert np.all(sa["particles1"][idx].sum(axis=1) > 0)


def test_particles_are_the_free_phase_end():
    x, y = _data()
    idx = np.array([0, 1, 2])
    m = R.make("ep", sizes=SIZES, seed=2, n_free=6, n_nudged=2, dtype="float64")
    m.initialize()
    expected = m.fixed_point(x, n_steps=6)  # first visit: from zero, pre-update weights
    m.fit_batch(x, y, idx)
    st = m.state_dict()
    assert np.allclose(st["particles1"][idx], expected[0])
    assert np.allclose(st["particles2"][idx], expected[1])


def test_same_seed_same_result_and_signs_drawn():
    x, y = _data()
    runs = []
    for _ in range(2):
        m = R.make("ep", sizes=SIZES, seed=5, n_free=5, n_nudged=2, dtype="float64")
        for _ in range(4):
            m.fit_batch(x, y, np.arange(3))
        runs.append(m.state_dict())
    for key in runs[0]:
        assert np.array_equal(runs[0][key], runs[1][key])


def test_flops_count_matches_matrix_products():
    m = R.make("ep", sizes=(784, 500, 10))
    # x W1 once, 24 relaxation steps with s1 W2 and s2 W2^T, x^T dS1, two outer products for W2
    expected = 2 * 784 * 500 + 24 * (2 + 2) * 500 * 10 + 2 * 784 * 500 + 2 * 2 * 500 * 10
    assert m.flops_per_sample(20) == expected


def test_learning_rate_one_float_is_every_layer():
    """``learning_rate`` takes one float (every weight matrix) or one rate per matrix; a
    layer with rate 0 does not move."""
    x, y = _data()
    kw = dict(sizes=SIZES, seed=4, n_free=5, n_nudged=2, dtype="float64")
    one = R.make("ep", learning_rate=0.2, **kw)
    per_layer = R.make("ep", learning_rate=[0.2, 0.2], **kw)
    frozen = R.make("ep", learning_rate=(0.2, 0.0), **kw)
    assert one.layer_rates == per_layer.layer_rates == (0.2, 0.2)
    start = frozen.state_dict()
    for m in (one, per_layer, frozen):
        for _ in range(3):
            m.fit_batch(x, y, np.arange(3))
    a, b, f = one.state_dict(), per_layer.state_dict(), frozen.state_dict()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert np.array_equal(f["W2"], start["W2"]) and np.array_equal(f["b2"], start["b2"])
    assert not np.array_equal(f["W1"], start["W1"])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"learning_rate": (0.1, 0.1, 0.1)}, "one learning rate per weight matrix"),
        ({"beta": 0.0}, "beta"),
        ({"eps": 1.5}, "eps"),
        ({"n_free": 0}, "n_free"),
        ({"n_nudged": 1.5}, "n_nudged"),
        ({"learning_rate": -0.1}, "learning_rate = -0.1 must hold finite learning rates"),
        ({"learning_rate": (float("nan"), 0.1)}, "learning rates"),
    ],
)
def test_bad_hyperparameters(params, match):
    with pytest.raises(ValidationError, match=match):
        R.make("ep", sizes=(4, 5, 3), **params)


def test_bad_input():
    x, y = _data()
    m = R.make("ep", sizes=SIZES, n_free=3, n_nudged=1)
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValidationError, match="non-finite"):
        m.fit_batch(bad, y)
    with pytest.raises(ValidationError, match="out of range"):
        m.fit_batch(x, np.array([0, 3, 1]))
    with pytest.raises(ValidationError, match="shape"):
        m.fit_batch(x[:, :3], y)
    with pytest.raises(ValidationError, match="distinct"):
        m.fit_batch(x, y, np.array([1, 1, 2]))
    with pytest.raises(ValidationError, match=">= 0"):
        m.fit_batch(x, y, np.array([-1, 0, 2]))
    with pytest.raises(ValidationError, match="index"):
        m.fit_batch(x, y, np.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize(
    "sizes, dtype, atol",
    [
        ((30, 20, 4), "float64", 1e-12),
        ((30, 20, 4), "float32", 1e-5),
        ((9, 7, 6, 3), "float64", 1e-12),
    ],
)
def test_fused_kernels_match_reference(sizes, dtype, atol):
    """The Numba relaxation and the BLAS update equal relax + ep_increments to rounding."""
    from spikesim.rate._ep_kernels import relax_fused
    from spikesim.rate.ep import apply_ep_increments, glorot_uniform

    rng = np.random.default_rng(4)
    dt = np.dtype(dtype)
    W = [glorot_uniform(rng, a, b, dt) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    b = [rng.uniform(-0.2, 0.4, n).astype(dt) for n in sizes[1:]]
    x = rng.random((8, sizes[0])).astype(dt)
    start = [rng.random((8, n)).astype(dt) for n in sizes[1:]]
    t = np.eye(sizes[-1], dtype=dt)[rng.integers(0, sizes[-1], 8)]
    beta = -0.5
    free_ref = relax(x @ W[0], start, W, b, n_steps=7, eps=0.5)
    nudged_ref = relax(x @ W[0], free_ref, W, b, n_steps=3, eps=0.5, beta=beta, target=t)
    free, nudged = relax_fused(
        x @ W[0], start, W, b, n_free=7, n_nudged=3, eps=0.5, beta=beta, target=t
    )
    for got, ref in zip(free + nudged, free_ref + nudged_ref, strict=True):
        assert got.dtype == dt
        assert np.max(np.abs(got - ref)) < atol
    inside = np.concatenate([(s > 0) & (s < 1) for s in nudged_ref], axis=1)
    assert 0.2 < np.mean(inside)  # not all clipped: the dynamics are exercised
    rates = tuple(0.3 + 0.1 * k for k in range(len(W)))
    dw, db = ep_increments(x, free_ref, nudged_ref, beta)
    w_new, b_new = [w.copy() for w in W], [c.copy() for c in b]
    apply_ep_increments(x, free_ref, nudged_ref, beta, rates, w_new, b_new)
    for k, a in enumerate(rates):
        assert w_new[k].dtype == dt and b_new[k].dtype == dt
        assert np.max(np.abs(w_new[k] - (W[k] + a * dw[k]))) < atol
        assert np.max(np.abs(b_new[k] - (b[k] + a * db[k]))) < atol
        assert np.max(np.abs(a * dw[k])) > 100 * atol  # the increments are not negligible
