"""Autoencoders (``target = "input"``) of the rate learners that declare ``reconstructs``:
the sigmoid binary cross-entropy against finite differences and a closed form, the
reconstruction loss, the IL energy gradient, and the rate kind's reconstruction runs."""

from __future__ import annotations

import numpy as np
import pytest

import spikesim.rate as R
from spikesim.errors import ValidationError
from spikesim.rate import _mlp

SIZES = (6, 4, 3, 6)


def _x(n: int = 5, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, SIZES[0]))


def test_bce_with_logits_is_the_binary_cross_entropy():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, size=(4, 7))
    t = rng.uniform(0, 1, size=(4, 7))
    q = 1 / (1 + np.exp(-z))  # the naive forms, fine at these magnitudes
    ref = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    assert np.allclose(_mlp.bce_with_logits(z, t), ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(_mlp.sigmoid(z), q, rtol=1e-14)
    # stable where the naive form overflows
    big = np.array([[800.0, -800.0]])
    assert np.all(np.isfinite(_mlp.bce_with_logits(big, np.array([[0.0, 1.0]]))))
    assert np.allclose(_mlp.bce_with_logits(big, np.array([[1.0, 0.0]])), 0.0)


@pytest.mark.parametrize("loss", ["squared", "sigmoid-bce"])
def test_target_loss_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(1)
    f = rng.normal(0, 1.5, size=(3, 5))
    t = rng.uniform(0, 1, size=(3, 5))
    value, grad = _mlp.target_loss_and_grad(loss, f, t)
    h = 1e-6
    fd = np.zeros_like(f)
    for i in np.ndindex(f.shape):
        up, down = f.copy(), f.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (
            _mlp.target_loss_and_grad(loss, up, t)[0] - _mlp.target_loss_and_grad(loss, down, t)[0]
        ) / (2 * h)
    assert np.allclose(grad, fd, atol=1e-8)
    if loss == "squared":
        assert np.isclose(value, 0.5 * np.sum((f - t) ** 2) / 3)


def test_bp_autoencoder_step_is_the_gradient_of_the_reconstruction_loss():
    m = R.make(
        "bp", sizes=SIZES, loss="sigmoid-bce", target="input", learning_rate=0.1, dtype="float64"
    )
    x = _x()
    y = np.zeros(len(x), dtype=int)  # ignored
    m.initialize()
    base = m.state_dict()
    h = 1e-6
    n_out = SIZES[-1]
    fd = {}
    for key in ("W0", "b1", "W2"):
        g = np.zeros_like(base[key])
        for i in np.ndindex(g.shape):
            vals = []
            for sign in (1.0, -1.0):
                st = {a: v.copy() for a, v in base.items()}
                st[key][i] += sign * h
                m.load_state_dict(st)
                # reconstruction_loss is the per-pixel mean: times n_out, the training loss
                vals.append(m.reconstruction_loss(x) * n_out)
            g[i] = (vals[0] - vals[1]) / (2 * h)
        fd[key] = g
    m.load_state_dict(base)
    loss = m.fit_batch(x, y)
    assert np.isclose(loss, m_loss := _naive_bce(base, x), rtol=1e-10), (loss, m_loss)
    after = m.state_dict()
    for key, g in fd.items():
        assert np.allclose(after[key] - base[key], -0.1 * g, atol=1e-8), key


def _naive_bce(state: dict, x: np.ndarray) -> float:
    """The per-example summed BCE of a relu MLP with sigmoid outputs, written out."""
    a = x
    n = len(SIZES) - 1
    for k in range(n):
        z = a @ state[f"W{k}"] + state[f"b{k}"]
        a = np.maximum(z, 0) if k < n - 1 else 1 / (1 + np.exp(-z))
    return float(np.mean(np.sum(-(x * np.log(a) + (1 - x) * np.log(1 - a)), axis=1)))


def test_il_autoencoder_update_is_energy_gradient():
    m = R.make(
        "il-sgd",
        sizes=SIZES,
        loss="sigmoid-bce",
        target="input",
        learning_rate=0.1,
        n_iter=8,
        step_size=0.1,
        dtype="float64",
    )
    m.initialize()
    x = _x(3, seed=7)
    hidden, t, errors = m.infer(x, x)
    assert np.array_equal(t, x)  # IL-SGD clamps the output at the input
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
                    vals.append(m.energy(x, x, hidden))
                fd[i] = (vals[0] - vals[1]) / (2 * h)
            m.load_state_dict(base)
            assert np.allclose(g, -fd, atol=1e-7), key
    # fit_batch uses x as the target (the labels are ignored): the same step as infer(x, x)
    m.fit_batch(x, np.array([0, 5, 2]))
    assert np.allclose(m.state_dict()["W1"] - base["W1"], 0.1 * gw[1])


@pytest.mark.parametrize("name", ["il-sgd", "il-prox", "il-adam", "bp"])
def test_reconstruction_loss_is_the_pixel_mean_bce(name):
    loss = "sigmoid-bce"
    m = R.make(name, sizes=SIZES, loss=loss, target="input", dtype="float64")
    x = _x(4)
    rec = m.reconstruct(x)
    ref = -(x * np.log(rec) + (1 - x) * np.log(1 - rec))
    assert rec.shape == x.shape and np.all((rec > 0) & (rec < 1))
    assert np.isclose(m.reconstruction_loss(x), ref.mean(), rtol=1e-12)


@pytest.mark.parametrize("name", ["il-sgd", "il-prox", "il-adam", "bp"])
def test_autoencoders_lower_the_reconstruction_loss(name):
    rng = np.random.default_rng(0)
    # data on a 2-dimensional manifold in [0, 1]^6
    c = rng.uniform(0, 1, size=(200, 2))
    x = np.clip(np.c_[c, c[:, :1] * c[:, 1:], 1 - c, 0.5 * c[:, :1] + 0.2], 0, 1)
    extra = {"il-adam": 1e-2, "bp": 0.5, "il-sgd": 0.3}
    m = R.make(name, sizes=SIZES, loss="sigmoid-bce", target="input", dtype="float64", seed=1)
    m.learning_rate = extra.get(name, m.learning_rate)
    # the BCE of soft targets is bounded below by their entropy: compare the excess over it
    floor = float(np.mean(-(x * np.log(x + 1e-300) + (1 - x) * np.log(1 - x + 1e-300))))
    before = m.reconstruction_loss(x) - floor
    y = np.zeros(10, dtype=int)
    for step in range(400):
        i = rng.choice(200, size=10, replace=False)
        m.fit_batch(x[i], y)
    assert m.reconstruction_loss(x) - floor < 0.5 * before


def test_target_input_needs_matching_sizes_and_a_dense_loss():
    with pytest.raises(ValidationError, match="sizes .* as many outputs as inputs"):
        R.make("il-prox", sizes=(6, 4, 3), target="input")
    with pytest.raises(ValidationError, match="loss .* takes no dense target"):
        R.make("bp", sizes=SIZES, target="input", loss="cross-entropy")
    with pytest.raises(ValidationError, match="target = 'output' is not one of label, input"):
        R.make("bp", sizes=SIZES, target="output")
    with pytest.raises(NotImplementedError):
        R.make("ep", sizes=(6, 4, 6)).reconstruct(_x())


def _ae_config(**learner):
    return {
        "experiment": {"kind": "rate", "name": "blobs-ae", "seed": 1},
        "task": {"dataset": "blobs", "n_train": 200, "n_test": 100},
        "learner": {"name": "bp", "sizes": [20, 8, 20], "target": "input", **learner},
        "train": {"epochs": 3, "batch_size": 10, "eval_every": 200},
    }


def test_rate_kind_trains_an_autoencoder_and_reports_reconstruction_losses(tmp_path):
    from spikesim import data, rate
    from spikesim.experiments import resolve, run_experiment
    from spikesim.experiments.train_rate import load_checkpoint

    cfg = resolve(_ae_config(loss="squared", learning_rate=0.05))
    res = run_experiment(cfg, tmp_path)
    final, curve = res["final"], res["curve"]
    assert "test_accuracy" not in final and "train_error" not in final
    assert [c["samples_seen"] for c in curve] == [0, 200, 400, 600]
    assert curve[-1]["test_loss"] < curve[0]["test_loss"]
    # the final test loss is the learner's reconstruction loss on the whole test set
    ds = data.load("blobs", seed=1, n_train=200, n_test=100)
    learner = rate.make("bp", seed=1, sizes=(20, 8, 20), target="input", loss="squared")
    learner.initialize()
    learner.load_state_dict(load_checkpoint(tmp_path / "checkpoint.npz")[0])
    x = ds.x_test.astype(learner.dtype)
    assert np.isclose(final["test_loss"], 0.5 * np.mean((learner.reconstruct(x) - x) ** 2))
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000


def test_rate_kind_autoencoder_sizes_must_end_with_the_inputs(tmp_path):
    from spikesim.errors import ConfigError
    from spikesim.experiments import resolve, run_experiment

    cfg = _ae_config(loss="squared")
    cfg["learner"]["sizes"] = [20, 8, 4]
    with pytest.raises(ConfigError, match="as many outputs as inputs"):
        run_experiment(resolve(cfg), tmp_path)


def test_rate_kind_n_per_class(tmp_path):
    from spikesim import data
    from spikesim.experiments import resolve
    from spikesim.experiments.kinds.rate import build

    cfg = _ae_config()
    cfg["task"] = {"dataset": "blobs", "n_per_class": 7}
    cfg["learner"] = {"name": "bp", "sizes": [20, 8, 4]}
    _, ds = build(resolve(cfg))
    ref = data.load("blobs", seed=1).per_class(7)
    assert np.array_equal(ds.y_train, ref.y_train)
    assert np.array_equal(np.bincount(ds.y_train), [7, 7, 7, 7])
