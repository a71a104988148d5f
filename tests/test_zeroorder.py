"""Zero-order dynamics (SH eq. 4.5, CK eq. 3.1) and the numerical checks of their theory."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from spikesim.errors import DivergenceError, ValidationError
from spikesim.zeroorder import (
    SGD,
    LeastSquares,
    Quadratic,
    TanhNet,
    ZeroOrder,
    ck_amplitude,
    drift_constant,
    flow_rate,
    gradient_flow,
    normaliser,
    pointwise,
    zero_order_step,
)
from spikesim.zeroorder.check_rate import ck_rate
from spikesim.zeroorder.check_theorem import make_case, sh_theorem1
from spikesim.zeroorder.check_variance import one_point_variance_exact, variance_scaling


class Recording:
    """A loss that remembers every point and sample it was evaluated at."""

    def __init__(self, loss):
        self.loss, self.points, self.samples, self.values = loss, [], [], []

    def __call__(self, theta, x, y):
        self.points.append(np.array(theta))
        self.samples.append(None if x is None else np.array(x))
        self.values.append(np.asarray(self.loss(theta, x, y), dtype=float))
        return self.values[-1]


# ---------------------------------------------------------------- the update and constants


def test_step_hand_computed():
    theta = np.array([0.1, -0.2])
    u = np.array([0.5, -0.25])
    new = zero_order_step(theta, u, loss=3.0, baseline=1.0, learning_rate=0.1)
    # alpha (L - b) = 0.2; e^{-0.5} - e^{0.5} = -1.0421906...; e^{0.25} - e^{-0.25} = 0.5052246...
    expected = [0.1 + 0.2 * (math.exp(-0.5) - math.exp(0.5)), -0.2 + 0.2 * 0.5052246336163365]
    np.testing.assert_allclose(new, expected, rtol=1e-10)
    assert new[0] == pytest.approx(-0.10843812219749896, rel=1e-12)


def test_step_batched_rows_use_their_own_loss():
    theta = np.zeros((2, 3))
    u = np.full((2, 3), 0.1)
    new = zero_order_step(theta, u, np.array([1.0, 2.0]), np.array([1.0, 0.0]), learning_rate=1.0)
    np.testing.assert_allclose(new[0], 0.0)
    np.testing.assert_allclose(new[1], 2.0 * (math.exp(-0.1) - math.exp(0.1)))


@pytest.mark.parametrize("A", [0.01, 0.3, 1.0, 2.5])
def test_constants_against_quadrature(A):
    C = quad(lambda x: (math.exp(A) - math.exp(x)) * (math.exp(A) - math.exp(-x)), -A, A)[0]
    assert normaliser(A) == pytest.approx(C, rel=1e-9)
    assert normaliser(A) == pytest.approx(
        2 * A * (math.exp(2 * A) + 1) + 2 - 2 * math.exp(2 * A), rel=1e-6
    )
    assert drift_constant(A) == pytest.approx(math.exp(-A) * C / (2 * A), rel=1e-9)


def test_flow_rate_is_the_limit_of_n_ck_steps():
    # n steps of mean size alpha * drift_constant(A / sqrt(n)) add up to (2/3) A^2 alpha
    A, learning_rate = 1.3, 0.7
    for n in (10**4, 10**6):
        total = n * learning_rate * drift_constant(ck_amplitude(A, n))
        # next Taylor term: n A_n^4 / 15 = A^4 / (15 n), relative A^2 / (10 n)
        rel = total / flow_rate(A, learning_rate) - 1
        assert 0.99 * A**2 / (10 * n) < rel < 1.01 * A**2 / (10 * n)
    assert flow_rate(A, learning_rate) == pytest.approx(2 / 3 * A**2 * learning_rate)


def test_bad_configuration_raises():
    with pytest.raises(ValidationError, match="A must be"):
        ZeroOrder(A=-1.0)
    with pytest.raises(ValidationError, match="baseline"):
        ZeroOrder(baseline="median")
    with pytest.raises(ValidationError, match="learning_rate"):
        ZeroOrder(learning_rate=0.0)
    with pytest.raises(ValidationError, match="learning_rate"):
        SGD(learning_rate=float("nan"))
    with pytest.raises(ValidationError, match="presentations"):
        ZeroOrder(presentations=4, baseline="ema")
    with pytest.raises(ValidationError, match="theta0"):
        ZeroOrder().run(Quadratic(np.zeros(2)), np.full(2, np.nan), n_steps=1)
    with pytest.raises(ValidationError, match="shape"):
        Quadratic(np.zeros(2)).value(np.zeros((1, 3)))


# ---------------------------------------------------------------- losses and flow


@pytest.mark.parametrize(
    "loss",
    [
        Quadratic(np.arange(3.0), [0.5, 1.0, 2.0]),
        LeastSquares(np.random.default_rng(1).standard_normal((5, 3)), np.arange(5.0)),
        TanhNet(np.random.default_rng(2).standard_normal((4, 2)), np.arange(4.0), hidden=3),
    ],
    ids=["quadratic", "least_squares", "tanh_net"],
)
def test_gradients_against_finite_differences(loss):
    theta = np.random.default_rng(3).standard_normal((2, loss.dim))
    h = 1e-6
    fd = np.empty_like(theta)
    for j in range(loss.dim):
        e = np.zeros(loss.dim)
        e[j] = h
        fd[:, j] = (loss.value(theta + e) - loss.value(theta - e)) / (2 * h)
    np.testing.assert_allclose(loss.grad(theta), fd, rtol=1e-6, atol=1e-8)


def test_gradient_flow_matches_closed_form():
    c, h = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    loss = Quadratic(c, h)
    z0 = np.zeros(2)
    t = np.linspace(0, 1, 11)
    rate = flow_rate(1.0, 1.5)
    z = gradient_flow(loss.grad, z0, rate, t)
    exact = c + np.exp(-rate * h * t[:, None]) * (z0 - c)
    np.testing.assert_allclose(z, exact, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------- the dynamics


def _run_recorded(zo, loss, theta0, data, n_steps):
    rec = Recording(loss)
    tr = zo.run(rec, theta0, data, n_steps, record_every=1)
    return rec, tr


def test_previous_baseline_path_follows_eq_4_5():
    """Every update equals alpha (L_k - L_{k-1}) (e^{-U_k} - e^{U_k}), U_k read off the loss."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal(6)

    def lin(theta, x, y):
        return (theta @ x - y) ** 2

    zo = ZeroOrder(A=0.4, learning_rate=0.05, seed=3)
    rec, tr = _run_recorded(zo, lin, np.zeros(3), (X, Y), 20)
    assert len(rec.points) == 21  # one priming evaluation, then one per update
    for k in range(20):
        u = rec.points[k + 1][0] - tr.thetas[k]
        assert np.all(np.abs(u) <= 0.4)
        baseline = tr.losses[k - 1] if k else rec.values[0][0]
        step = 0.05 * (tr.losses[k] - baseline) * (np.exp(-u) - np.exp(u))
        np.testing.assert_allclose(tr.thetas[k + 1] - tr.thetas[k], step, atol=1e-14)
    # one sample per update, each epoch a permutation of the data
    used = [int(np.flatnonzero((X == s).all(axis=1))[0]) for s in rec.samples[1:7]]
    assert sorted(used) == list(range(6))


def test_ck_presentations_amplitude_and_baseline():
    """CK eq. (3.1): n updates per sample, |U| <= A/sqrt(n), a priming evaluation per sample."""
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((3, 2)), rng.standard_normal(3)

    def lin(theta, x, y):
        return (theta @ x - y) ** 2

    n, A = 4, 0.8
    zo = ZeroOrder(A=A, learning_rate=0.1, presentations=n, seed=5)
    assert zo.amplitude == pytest.approx(A / 2)
    rec, tr = _run_recorded(zo, lin, np.zeros(2), (X, Y), 3 * n)
    assert len(rec.points) == 3 * (n + 1)
    assert tr.n_evaluations == 3 * (n + 1)
    for block in range(3):
        samples = rec.samples[block * (n + 1) : (block + 1) * (n + 1)]
        assert all(np.array_equal(s, samples[0]) for s in samples)  # one sample per block
    k = 0
    for i, pt in enumerate(rec.points):
        if i % (n + 1) == 0:  # priming: the baseline of the block's first update
            prime = rec.values[i][0]
            continue
        u = pt[0] - tr.thetas[k]
        assert np.all(np.abs(u) <= A / 2 + 1e-15)
        baseline = prime if i % (n + 1) == 1 else tr.losses[k - 1]
        step = 0.1 * (tr.losses[k] - baseline) * (np.exp(-u) - np.exp(u))
        np.testing.assert_allclose(tr.thetas[k + 1] - tr.thetas[k], step, atol=1e-14)
        k += 1


@pytest.mark.parametrize("baseline", ["previous", "ema", "per-sample", "zero"])
def test_same_seed_same_path(baseline):
    loss = LeastSquares(np.eye(4), np.ones(4))
    X, Y = np.arange(10.0)[:, None], np.arange(10.0)
    kw = {"A": 0.3, "learning_rate": 0.05, "baseline": baseline}
    a = ZeroOrder(seed=11, **kw).run(loss, np.zeros(4), (X, Y), 200, record_every=50)
    b = ZeroOrder(seed=11, **kw).run(loss, np.zeros(4), (X, Y), 200, record_every=50)
    c = ZeroOrder(seed=12, **kw).run(loss, np.zeros(4), (X, Y), 200, record_every=50)
    np.testing.assert_array_equal(a.thetas, b.thetas)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.array_equal(a.theta, c.theta)
    assert list(a.steps) == [0, 50, 100, 150, 200]


def test_ema_and_per_sample_baselines():
    # constant loss: EMA and per-sample baselines converge to it and the update vanishes
    const = pointwise(lambda t, x, y: 2.0 + 0 * t.sum(), dim=2)
    X, Y = np.zeros((3, 1)), np.zeros(3)
    for baseline in ("ema", "per-sample", "previous"):
        tr = ZeroOrder(baseline=baseline, ema_rate=0.5, seed=0).run(
            const, np.ones(2), (X, Y), 30, record_every=1
        )
        np.testing.assert_allclose(tr.thetas, 1.0)
    tr = ZeroOrder(baseline="zero", seed=0).run(const, np.ones(2), (X, Y), 3, record_every=1)
    assert not np.allclose(tr.thetas[-1], 1.0)  # 1-point estimator moves on a flat loss


def test_replicates_are_independent_paths():
    loss = Quadratic(np.ones(3))
    tr = ZeroOrder(seed=0).run(loss, np.zeros(3), n_steps=50, replicates=4, record_every=25)
    assert tr.theta.shape == (4, 3) and tr.thetas.shape == (3, 4, 3)
    assert tr.losses.shape == (50, 4)
    assert len({tuple(row) for row in tr.theta}) == 4


def test_divergence_reports_the_step():
    """SH sec. 3: started far from the minimum the dynamics blow up; the error says when."""
    loss = Quadratic(np.zeros(20))
    zo = ZeroOrder(A=0.5, learning_rate=0.5, baseline="zero", seed=2, theta_limit=1e3)
    with pytest.raises(DivergenceError, match="step") as info:
        zo.run(loss, np.full(20, 3.0), n_steps=10_000)
    step = info.value.step
    assert isinstance(step, int) and 0 < step < 10_000
    assert f"step {step}" in str(info.value)
    ok = ZeroOrder(A=0.5, learning_rate=0.5, baseline="zero", seed=2, theta_limit=1e3).run(
        loss, np.full(20, 3.0), n_steps=step - 1
    )
    assert np.max(np.abs(ok.theta)) <= 1e3  # the step before was still within the limit


def test_nan_loss_raises_divergence():
    def bad(theta, x, y):
        out = np.ones(len(theta))
        if len(bad.calls) >= 5:
            out[:] = np.nan
        bad.calls.append(1)
        return out

    bad.calls = []
    with pytest.raises(DivergenceError) as info:
        ZeroOrder(seed=0).run(bad, np.zeros(2), n_steps=10)
    assert info.value.step == 5


def test_sgd_matches_hand_computed_step_and_converges():
    loss = LeastSquares(np.eye(2), np.array([1.0, -1.0]), scale=0.5)  # grad = theta - Y
    tr = SGD(learning_rate=0.5).run(loss, np.zeros(2), n_steps=1, record_every=1)
    np.testing.assert_allclose(tr.thetas[1], [0.5, -0.5])
    tr = SGD(learning_rate=0.5).run(loss, np.zeros(2), n_steps=60)
    np.testing.assert_allclose(tr.theta, [1.0, -1.0], atol=1e-12)


def test_zero_order_descends_on_average():
    loss = Quadratic(np.ones(4))
    tr = ZeroOrder(A=0.5, learning_rate=0.5, seed=0).run(
        loss, np.zeros(4), n_steps=3000, replicates=20
    )
    assert np.mean(loss.value(tr.theta)) < 0.25 * loss.value(np.zeros((1, 4)))[0]


# ---------------------------------------------------------------- the theory checks, small


def test_theorem1_mean_update_within_ci():
    res = sh_theorem1(samples=40_000, dims=(2, 4), A=0.3, learning_rate=0.02, seed=1)
    for c in res["cases"]:
        assert c["p_value"] > 1e-3, c
        assert c["coords_in_ci95"] >= c["d"] - 1
        assert c["relative_error"] < 4 * c["noise_level"]
    # the noise level falls like 1/sqrt(n): a factor sqrt(10) per checkpoint
    level = np.array(res["cases"][0]["noise_level_by_n"])
    np.testing.assert_allclose(level[:-1] / level[1:], np.sqrt(10), rtol=0.35)


def test_theorem1_rejects_eq_4_7_as_printed():
    """SH eq. (4.7) without the 1/(2A) would predict 2A times the measured mean update."""
    res = sh_theorem1(samples=40_000, dims=(3,), kinds=("least_squares",), A=0.3, seed=2)
    c = res["cases"][0]
    printed = 2 * 0.3 * np.asarray(c["rhs"])
    half_width = (np.asarray(c["ci95_high"]) - np.asarray(c["ci95_low"])) / 2
    assert np.linalg.norm(printed - c["mean_update"]) > 5 * np.linalg.norm(half_width)


def test_theorem_cases_need_even_network_dim():
    with pytest.raises(ValidationError, match="even"):
        make_case("network", 3, np.random.default_rng(0))


def test_ck_error_decreases_with_n():
    res = ck_rate(ns=(100, 1000), dims=(2,), kinds=("quadratic",), replicates=60, seed=0)
    err = res["cases"][0]["error"]
    assert err[1] < err[0]
    assert 0.2 < err[1] / err[0] < 0.5  # n^{-1/2}: 1/sqrt(10) = 0.32
    assert -0.7 < res["slope"] < -0.3


def test_variance_exponent_near_two():
    res = variance_scaling(dims=(16, 32, 64, 128), samples=4000, seed=0)
    assert abs(res["exponent"] - 2.0) < 0.15
    assert abs(res["two_point_exponent"] - 1.0) < 0.2
    np.testing.assert_allclose(res["one_point"], res["one_point_exact"], rtol=0.1)


def test_one_point_variance_quadrature_against_monte_carlo():
    rng = np.random.default_rng(4)
    d, A, r = 3, 0.5, 1.0
    u = rng.uniform(-A, A, size=(400_000, d))
    g = np.sum((u - r) ** 2, axis=1) * (np.exp(-u[:, 0]) - np.exp(u[:, 0]))
    assert one_point_variance_exact(d, A=A, r=r) == pytest.approx(np.var(g), rel=0.01)


# ---------------------------------------------------------------- signed-weight MLP, digits


def test_signed_mlp_loss_and_gradient():
    from spikesim.zeroorder.mlp import SignedMLP

    model = SignedMLP((5, 4, 3), seed=1, scale=0.2)
    rng = np.random.default_rng(0)
    theta = model.init(2) + 0.3 * rng.standard_normal((2, model.dim))
    x, y = rng.random(5), 2
    # independent forward pass: w = sign * exp(theta), tanh hidden, linear output
    w1 = (model.signs[:20] * np.exp(theta[:, :20])).reshape(2, 4, 5)
    w2 = (model.signs[20:] * np.exp(theta[:, 20:])).reshape(2, 3, 4)
    out = np.einsum("mok,mk->mo", w2, np.tanh(np.einsum("mki,i->mk", w1, x)))
    expected = 0.2 * np.sum((out - np.eye(3)[y]) ** 2, axis=1)
    np.testing.assert_allclose(model.value(theta, x, y), expected, rtol=1e-12)
    h = 1e-6
    fd = np.array(
        [
            (model.value(theta + h * e, x, y) - model.value(theta - h * e, x, y)) / (2 * h)
            for e in np.eye(model.dim)
        ]
    ).T
    np.testing.assert_allclose(model.grad(theta, x, y), fd, rtol=1e-5, atol=1e-9)
    assert model.accuracy(theta[0], x[None, :], np.array([np.argmax(out[0])])) == 1.0


def test_digits_experiment_small():
    from spikesim.experiments.digits import digits_experiment

    res = digits_experiment(rules=("previous", "ck4", "sgd"), steps=3000, eval_every=1500)
    for run in res["runs"]:
        assert run["steps"] == [0, 1500, 3000]
        assert run["diverged_at"] is None
        assert all(0.0 <= a <= 1.0 for a in run["test_accuracy"])
    # all rules start from the same network
    assert len({run["test_accuracy"][0] for run in res["runs"]}) == 1
    assert res["n_train"] + res["n_test"] == 1797


@pytest.mark.slow
def test_digits_zero_order_learns():
    """ANCHORS: previous-loss baseline about 49% test accuracy after 2e5 updates."""
    from spikesim.experiments.digits import digits_experiment

    res = digits_experiment(rules=("previous",), steps=200_000, eval_every=100_000)
    assert res["runs"][0]["test_accuracy"][-1] > 0.35
