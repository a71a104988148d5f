"""Inference learning: reference checks (finite differences, scipy proximal step), bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import spikesim.rate as R
from spikesim.errors import DivergenceError, ValidationError

SIZES = (3, 4, 2)


def _set_weights(m, seed: int = 4) -> None:
    rng = np.random.default_rng(seed)
    st = m.state_dict()
    for k in range(len(m.sizes) - 1):
        st[f"W{k}"] = rng.normal(0.0, 0.6, size=st[f"W{k}"].shape)
        st[f"b{k}"] = rng.normal(0.0, 0.3, size=st[f"b{k}"].shape)
    m.load_state_dict(st)


def _x(n: int = 1, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 1.0, size=(n, SIZES[0]))


# -- IL-SGD: the LMS update is the gradient of the energy --------------------------------------
def test_il_sgd_update_is_energy_gradient():
    m = R.make(
        "il-sgd", sizes=(3, 5, 4, 3), learning_rate=0.1, n_iter=10, step_size=0.1, dtype="float64"
    )
    m.initialize()
    _set_weights(m)
    x = _x(4, seed=8)
    y = np.array([0, 2, 1, 2])
    yoh = np.eye(3)[y]
    hidden, _, errors = m.infer(x, yoh)
    gw, gb = m.local_gradients(x, hidden, errors)
    base = m.state_dict()
    h = 1e-6
    for k in range(3):
        for key, g in ((f"W{k}", gw[k]), (f"b{k}", gb[k])):
            fd = np.zeros_like(g)
            for i in np.ndindex(g.shape):
                vals = []
                for sign in (1.0, -1.0):
                    st = {a: v.copy() for a, v in base.items()}
                    st[key][i] += sign * h
                    m.load_state_dict(st)
                    vals.append(m.energy(x, yoh, hidden))
                fd[i] = (vals[0] - vals[1]) / (2 * h)
            m.load_state_dict(base)
            assert np.allclose(g, -fd, atol=1e-7), key
    # and fit_batch applies exactly learning_rate times that gradient
    m.fit_batch(x, y)
    after = m.state_dict()
    assert np.allclose(after["W1"] - base["W1"], 0.1 * gw[1])


def test_il_inference_descends_the_energy():
    m = R.make("il-sgd", sizes=(3, 5, 4, 3), n_iter=0, step_size=0.05, dtype="float64")
    m.initialize()
    _set_weights(m)
    x = _x(3)
    yoh = np.eye(3)[[1, 0, 2]]
    energies = []
    for n_iter in (0, 5, 20, 80):
        m.n_iter = n_iter
        hidden, _, _ = m.infer(x, yoh)
        energies.append(m.energy(x, yoh, hidden))
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False))


def test_il_adam_first_step_is_signed_gradient():
    m = R.make("il-adam", sizes=SIZES, learning_rate=1e-3, n_iter=5, dtype="float64")
    m.initialize()
    _set_weights(m)
    x, y = _x(2), np.array([1, 0])
    hidden, _, errors = m.infer(x, np.eye(2)[y])
    gw, _ = m.local_gradients(x, hidden, errors)
    before = m.state_dict()
    m.fit_batch(x, y)
    step = m.state_dict()["W0"] - before["W0"]
    # bias-corrected first Adam step: learning_rate * g / (|g| + 1e-8), g = -dF/dW, descending F
    assert np.allclose(step, 1e-3 * gw[0] / (np.abs(gw[0]) + 1e-8))


# -- IL-prox: batch 1 gives the proximal step of eq. 9 ----------------------------------------
def _forward(theta, x):
    W0, b0, W1, b1 = theta
    h = x @ W0 + b0
    return h, np.maximum(h, 0) @ W1 + b1


def _prox_step(m, x, yoh, alpha):
    """argmin_theta 1/2 |y - net(x; theta)|^2 + 1/(2 alpha) |theta - theta_b|^2 (scipy)."""
    st = m.state_dict()
    shapes = [st[k].shape for k in ("W0", "b0", "W1", "b1")]
    theta_b = np.concatenate([st[k].ravel() for k in ("W0", "b0", "W1", "b1")])

    def unpack(v):
        out, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            out.append(v[i : i + n].reshape(s))
            i += n
        return out

    def fun(v):
        W0, b0, W1, b1 = unpack(v)
        h, z = _forward((W0, b0, W1, b1), x)
        r = z - yoh  # dL/dz
        a = np.maximum(h, 0)
        dh = (r @ W1.T) * (h > 0)
        grad = (
            np.concatenate([(x.T @ dh).ravel(), dh.sum(0), (a.T @ r).ravel(), r.sum(0)])
            + (v - theta_b) / alpha
        )
        return 0.5 * np.sum(r**2) + 0.5 * np.sum((v - theta_b) ** 2) / alpha, grad

    res = minimize(fun, theta_b, jac=True, method="L-BFGS-B", options={"gtol": 1e-13, "ftol": 0})
    return res.x - theta_b, theta_b


@pytest.mark.parametrize("alpha", [0.3, 2.0])
def test_il_prox_batch1_equals_proximal_step(alpha):
    """Alonso et al. Theorem 4.2: with batch 1, converged inference and eps = 0, the
    IL-prox update is the proximal (implicit SGD) step of eq. 9."""
    m = R.make(
        "il-prox",
        sizes=SIZES,
        learning_rate=alpha,
        eps=0.0,
        loss="mse",
        inference="proximal",
        n_iter=3000,
        step_size=0.1,
        dtype="float64",
    )
    m.initialize()
    # weights whose proximal solution has active and inactive relu units but none at the
    # kink h = 0 (where the prox problem is not smooth and gradient-based inference only
    # approaches the solution: about 1% off after 3000 steps)
    _set_weights(m, seed=6)
    x, y = _x(1), np.array([1])
    yoh = np.eye(2)[y]
    prox, theta_b = _prox_step(m, x, yoh, alpha)
    v = theta_b + prox
    h = x @ v[:12].reshape(3, 4) + v[12:16]
    assert (h > 0.3).sum() == 3 and (h < -0.3).sum() == 1
    m.fit_batch(x, y)
    st = m.state_dict()
    il = np.concatenate([st[k].ravel() for k in ("W0", "b0", "W1", "b1")]) - theta_b
    assert np.linalg.norm(il - prox) < 1e-6 * np.linalg.norm(prox)
    # not the explicit gradient step: implicit and explicit differ at this alpha
    _, z = _forward([st["W0"], st["b0"], st["W1"], st["b1"]], x)
    assert np.linalg.norm(z - yoh) > 1e-3


def test_il_prox_inference_minimises_proximal_objective():
    m = R.make(
        "il-prox",
        sizes=(3, 5, 4, 2),
        learning_rate=1.0,
        n_iter=0,
        step_size=0.05,
        inference="proximal",
        dtype="float64",
    )
    m.initialize()
    _set_weights(m)
    x, yoh = _x(1), np.eye(2)[[0]]
    values = []
    for n_iter in (0, 10, 100, 1000):
        m.n_iter = n_iter
        hidden, _, _ = m.infer(x, yoh)
        values.append(m.proximal_objective(x, yoh, hidden))
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


# -- IL-prox as run in the paper's experiments: energy inference, proximal output target -------
def _slow_il_prox_energy(W, b, x, yoh, alpha, eps, eta, n_iter):
    """Obvious reference for one example: loops, scipy for the target, finite differences.

    Every step: the output target minimises 1/2 |y - t|^2 + |t - q|^2 / (2 alpha s) (scipy),
    then every hidden layer moves by -eta times the finite-difference gradient of the energy
    F_t(h) = sum_n 1/2 |h_n - p_n|^2 - sum t log softmax(p_N) (eq. 4, t held fixed).
    """
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731

    def preds(hidden):
        acts = [x] + [relu(h) for h in hidden]
        return [a @ w + c for a, w, c in zip(acts, W, b, strict=True)]

    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    def target(hidden):
        s = np.sum(relu(hidden[-1]) ** 2) + 1.0 + eps
        q = softmax(preds(hidden)[-1])
        res = minimize(
            lambda t: 0.5 * np.sum((yoh - t) ** 2) + np.sum((t - q) ** 2) / (2 * alpha * s),
            q,
            method="BFGS",
            options={"gtol": 1e-12},
        )
        return res.x

    def energy(hidden, t):
        ps = preds(hidden)
        z = ps[-1] - ps[-1].max()
        ce = -np.sum(t * (z - np.log(np.sum(np.exp(z)))))
        return ce + sum(0.5 * np.sum((h - p) ** 2) for h, p in zip(hidden, ps[:-1], strict=True))

    hidden = [x @ W[0] + b[0]]  # the feedforward pass
    for k in range(1, len(W) - 1):
        hidden.append(relu(hidden[-1]) @ W[k] + b[k])
    for _ in range(n_iter):
        t = target(hidden)
        grads = []
        for n in range(len(hidden)):
            g = np.zeros_like(hidden[n])
            for i in range(hidden[n].size):
                vals = []
                for sign in (1.0, -1.0):
                    hh = [h.copy() for h in hidden]
                    hh[n][i] += sign * 1e-6
                    vals.append(energy(hh, t))
                g[i] = (vals[0] - vals[1]) / 2e-6
            grads.append(g)
        hidden = [h - eta * g for h, g in zip(hidden, grads, strict=True)]
    return hidden, target(hidden)


def test_il_prox_energy_inference_matches_slow_reference():
    """The default inference (the paper's IL-prox runs, Sec. 5 / Fig. 2): gradient steps on
    the energy of eq. 4 with the output clamped at the proximal target, against loops,
    scipy and finite differences."""
    alpha, eps, eta = 2.5, 0.25, 0.1
    m = R.make(
        "il-prox",
        sizes=(3, 5, 4, 3),
        learning_rate=alpha,
        eps=eps,
        n_iter=4,
        step_size=eta,
        dtype="float64",
    )
    assert m.inference == "energy"
    m.initialize()
    _set_weights(m, seed=2)
    x, yoh = _x(1)[0], np.eye(3)[2]
    W, b = list(m.W), list(m.b)
    ref_hidden, ref_t = _slow_il_prox_energy(W, b, x, yoh, alpha, eps, eta, 4)
    hidden, t, _ = m.infer(x[None], yoh[None])
    for h, r in zip(hidden, ref_hidden, strict=True):
        assert np.allclose(h[0], r, atol=1e-7)
        assert np.abs(h[0] - r).max() < 1e-3 * np.abs(r).max()
    assert np.allclose(t[0], ref_t, atol=1e-7)
    # the activities moved: this is not the feedforward pass
    assert np.abs(hidden[0] - m.forward(x[None])[0]).max() > 1e-3
    # and it is not the proximal-objective inference of Def. 4.1
    m.inference = "proximal"
    other, _, _ = m.infer(x[None], yoh[None])
    assert np.abs(other[0] - hidden[0]).max() > 1e-4


@pytest.mark.parametrize("inference", ["energy", "proximal"])
def test_il_prox_weight_step_is_nlms(inference):
    """Eq. 6 with the bias column and eps: after one step every layer maps the inferred
    activities below onto its old prediction plus ``e (|f|^2 + 1) / (|f|^2 + 1 + eps)``."""
    eps = 0.25
    m = R.make(
        "il-prox",
        sizes=(3, 5, 4, 3),
        learning_rate=2.5,
        eps=eps,
        n_iter=6,
        step_size=0.05,
        inference=inference,
        dtype="float64",
    )
    m.initialize()
    _set_weights(m, seed=3)
    x, y = _x(1, seed=9), np.array([1])
    hidden, _, errors = m.infer(x, np.eye(3)[y])
    acts = [x[0]] + [np.maximum(h[0], 0.0) for h in hidden]
    old = [a @ w + c for a, w, c in zip(acts, m.W, m.b, strict=True)]
    m.fit_batch(x, y)
    new = [a @ w + c for a, w, c in zip(acts, m.W, m.b, strict=True)]
    for a, e, p_old, p_new in zip(acts, errors, old, new, strict=True):
        gain = (a @ a + 1.0) / (a @ a + 1.0 + eps)
        assert np.allclose(p_new, p_old + gain * e[0], atol=1e-12)
    # hidden layers: the new prediction is (up to the eps shrinkage) the inferred activity
    assert np.allclose(
        new[1],
        old[1] + (hidden[1][0] - old[1]) * (acts[1] @ acts[1] + 1) / (acts[1] @ acts[1] + 1 + eps),
    )


def test_il_prox_minibatch_uses_per_example_norms():
    """A minibatch step is the mean of the single-example NLMS steps (per-example norms)."""
    kw = dict(sizes=(3, 5, 2), learning_rate=2.5, n_iter=10, dtype="float64")
    x = np.array([[0.1, 0.2, 0.1], [3.0, 2.0, 4.0]])  # very different norms
    y = np.array([0, 1])
    steps = []
    for rows in ([0], [1], [0, 1]):
        m = R.make("il-prox", **kw)
        m.initialize()
        _set_weights(m)
        before = m.state_dict()
        m.fit_batch(x[rows], y[rows])
        steps.append({k: v - before[k] for k, v in m.state_dict().items()})
    for key in steps[0]:
        assert np.allclose(steps[2][key], 0.5 * (steps[0][key] + steps[1][key])), key


def test_il_prox_is_stable_at_huge_learning_rate():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(200, 6))
    y = (x[:, 0] > x[:, 1]).astype(int)
    m = R.make("il-prox", sizes=(6, 8, 2), learning_rate=1e6, n_iter=5, dtype="float64")
    for i in range(200):
        m.fit_batch(x[i : i + 1], y[i : i + 1])
    assert np.all(np.isfinite(m.predict_scores(x)))


def test_flops_count_matches_matrix_products():
    m = R.make("il-prox", sizes=(784, 500, 500, 10), n_iter=25)
    full = 784 * 500 + 500 * 500 + 500 * 10
    deep = 500 * 500 + 500 * 10
    # feedforward, 25 steps of (predictions + feedback), final predictions, update
    assert m.flops_per_sample(1) == 2 * full + 25 * 4 * deep + 2 * deep + 2 * full


@pytest.mark.parametrize("name", ["il-sgd", "il-prox", "il-adam"])
def test_bad_input(name):
    m = R.make(name, sizes=SIZES, n_iter=2)
    x, y = _x(2), np.array([0, 1])
    bad = x.copy()
    bad[0, 1] = np.inf
    with pytest.raises(ValidationError, match="non-finite"):
        m.fit_batch(bad, y)
    with pytest.raises(ValidationError, match="out of range"):
        m.fit_batch(x, np.array([0, 2]))
    with pytest.raises(ValidationError, match="shape"):
        m.fit_batch(x, np.array([0, 1, 1]))
    with pytest.raises(ValidationError, match="loss"):
        R.make(name, sizes=SIZES, loss="hinge")
    with pytest.raises(ValidationError, match="learning_rate"):
        R.make(name, sizes=SIZES, learning_rate=-1.0)
    if name == "il-prox":
        with pytest.raises(ValidationError, match="inference"):
            R.make(name, sizes=SIZES, inference="exact")


def test_il_sgd_divergence_is_reported():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, size=(8, 3))
    y = rng.integers(0, 2, size=8)
    m = R.make("il-sgd", sizes=SIZES, learning_rate=1e8, n_iter=2)
    with pytest.raises(DivergenceError, match="diverged"):
        for _ in range(50):
            m.fit_batch(x, y)
