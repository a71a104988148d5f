"""Convolutional rate networks (Amit 2019, sec. 4 and 4.1): spikesim.rate._conv and the
``architecture`` hyperparameter of the feedforward learners.

References: finite differences of the loss, slow loop implementations of convolution and
max pooling, scipy's 2-D correlation, the plain MLP path of the same learners, and the
tied convolution for the untied (conv-sparse) layer.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import spikesim.rate as rate
from spikesim.errors import ConfigError, ValidationError
from spikesim.rate import _conv, _mlp

SMALL = "conv 3 3x3; maxpool 3; uconv 2 2x2; drop .5; full 5"
SHAPE = (6, 6, 2)


# -- slow references ---------------------------------------------------------------------
def slow_conv(x, w, g: _conv.ConvGeometry):
    """Loop convolution (cross-correlation) of (b, h, w, c_in) with (kh, kw, c_in, c_out)."""
    b = x.shape[0]
    out = np.zeros((b, g.h, g.w, g.c_out))
    for i in range(g.h):
        for j in range(g.w):
            for di in range(g.kh):
                for dj in range(g.kw):
                    ii, jj = i + di - g.pad_top, j + dj - g.pad_left
                    if 0 <= ii < g.h and 0 <= jj < g.w:
                        out[:, i, j, :] += x[:, ii, jj, :] @ w[di, dj]
    return out


def slow_pool(a, g: _conv.PoolGeometry):
    b = a.shape[0]
    out = np.full((b, g.h_out, g.w_out, g.c), -np.inf)
    for oi in range(g.h_out):
        for oj in range(g.w_out):
            for di in range(g.k):
                for dj in range(g.k):
                    ii, jj = oi * g.stride + di - g.pad_top, oj * g.stride + dj - g.pad_left
                    if 0 <= ii < g.h and 0 <= jj < g.w:
                        out[:, oi, oj, :] = np.maximum(out[:, oi, oj, :], a[:, ii, jj, :])
    return out


def _small_net(seed=0, arch=SMALL, shape=SHAPE, n_out=4, bias=True):
    rng = np.random.default_rng(seed)
    plan = _conv.build_plan(arch, shape, n_out)
    layers = _conv.weighted(plan)
    w = [_conv.init_weight(rng, la, np.float64, transpose=False, independent=True) for la in layers]
    b = [rng.normal(0, 0.1, _conv.bias_shape(la)) for la in layers] if bias else None
    return plan, w, b


# -- kernels against references ----------------------------------------------------------
@pytest.mark.parametrize("k", [(3, 3), (5, 5), (2, 2), (3, 2)])
def test_conv_field_matches_slow_loop(k):
    rng = np.random.default_rng(1)
    plan = _conv.build_plan(f"conv 4 {k[0]}x{k[1]}", (7, 6, 3), 2)
    g = plan[0].geometry
    x = rng.normal(size=(2, 7, 6, 3))
    w = rng.normal(size=(g.patch, 4))
    got = (_conv.im2col(x, g) @ w).reshape(2, 7, 6, 4)
    ref = slow_conv(x, w.reshape(g.kh, g.kw, 3, 4), g)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_odd_kernel_same_padding_matches_scipy():
    rng = np.random.default_rng(2)
    g = _conv.build_plan("conv 1 5x5", (9, 8, 1), 2)[0].geometry
    x = rng.normal(size=(1, 9, 8, 1))
    k = rng.normal(size=(5, 5))
    got = (_conv.im2col(x, g) @ k.reshape(25, 1)).reshape(9, 8)
    np.testing.assert_allclose(got, scipy.signal.correlate2d(x[0, :, :, 0], k, mode="same"))


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(3)
    g = _conv.build_plan("conv 2 3x3", (5, 4, 3), 2)[0].geometry
    x = rng.normal(size=(2, 5, 4, 3))
    c = rng.normal(size=(2 * 20, g.patch))
    lhs = np.sum(_conv.im2col(x, g) * c)
    rhs = np.sum(x * _conv.col2im(c, g, 2))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize(
    ("spec", "shape", "out"),
    [
        ("maxpool 3", (28, 28), (14, 14)),
        ("maxpool 3", (7, 7), (4, 4)),
        ("maxpool 2", (5, 6), (3, 3)),
        ("maxpool 2 stride 2 valid", (6, 4), (3, 2)),
    ],
)
def test_pool_matches_slow_loop_and_halves(spec, shape, out):
    rng = np.random.default_rng(4)
    g = _conv.build_plan(spec, (*shape, 3), 2)[0].geometry
    assert (g.h_out, g.w_out) == out
    a = rng.normal(size=(2, *shape, 3))
    got, _ = _conv.pool_forward(a, g)
    np.testing.assert_array_equal(got, slow_pool(a, g))


# -- gradients by finite differences -----------------------------------------------------
def _loss(plan, w, b, x, y, activation, seed):
    scores, _ = _conv.forward(x, plan, w, b, activation, np.random.default_rng(seed))
    return _mlp.loss_and_grad("cross-entropy", scores, y)[0]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_gradients_match_finite_differences(activation):
    """Conv, max pooling, untied conv, dropout (a fixed mask), full and output layers."""
    plan, w, b = _small_net()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, int(np.prod(SHAPE))))
    y = np.array([0, 3, 1])
    scores, caches = _conv.forward(x, plan, w, b, activation, np.random.default_rng(9))
    _, g = _mlp.loss_and_grad("cross-entropy", scores, y)
    fb = [None] + [np.swapaxes(m, -1, -2) for m in w[1:]]
    gw, gb = _conv.backward(g, plan, caches, fb, activation)
    eps = 1e-6
    for params, grads in ((w, gw), (b, gb)):
        for p, gp in zip(params, grads, strict=True):
            assert gp.shape == p.shape
            flat = p.reshape(-1)
            for i in rng.choice(flat.size, size=min(flat.size, 25), replace=False):
                old = flat[i]
                flat[i] = old + eps
                up = _loss(plan, w, b, x, y, activation, 9)
                flat[i] = old - eps
                down = _loss(plan, w, b, x, y, activation, 9)
                flat[i] = old
                assert gp.reshape(-1)[i] == pytest.approx((up - down) / (2 * eps), abs=1e-7)


def test_pool_backward_matches_finite_differences():
    rng = np.random.default_rng(6)
    g = _conv.build_plan("maxpool 3", (7, 7, 2), 2)[0].geometry
    a = rng.normal(size=(2, 7, 7, 2))
    c = rng.normal(size=(2, g.h_out, g.w_out, 2))
    out, arg = _conv.pool_forward(a, g)
    grad = _conv.pool_backward(c, arg, g)
    eps = 1e-7
    for idx in np.ndindex(a.shape):
        ap = a.copy()
        ap[idx] += eps
        fd = (np.sum(_conv.pool_forward(ap, g)[0] * c) - np.sum(out * c)) / eps
        assert grad[idx] == pytest.approx(fd, abs=1e-6)


# -- the learners ------------------------------------------------------------------------
def _task(n=40, shape=SHAPE, n_out=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, int(np.prod(shape)))), rng.integers(0, n_out, n)


def _make(name, **kw):
    params = dict(sizes=(72, 4), input_shape=SHAPE, architecture=SMALL, dtype="float64", seed=3)
    params.update(kw)
    return rate.make(name, **params)


@pytest.mark.parametrize(
    "arch",
    [
        SMALL,
        "conv 3 3x3; conv 2 3x3; maxpool 3; full 6",
        "uconv 3 3x3; uconv 2 3x3; maxpool 3; drop .3",
    ],
)
def test_urfb_with_r_equal_w_transpose_is_bp_hinge_step_for_step(arch):
    bp = _make("bp-hinge", architecture=arch)
    urfb = _make("urfb", architecture=arch)
    state = urfb.state_dict()
    bp.load_state_dict({k: v for k, v in state.items() if not k.startswith("R")})
    for k in range(1, len(urfb.W)):
        state[f"R{k}"] = np.swapaxes(state[f"W{k}"], -1, -2).copy()
    urfb.load_state_dict(state)
    x, y = _task()
    for step in range(6):
        batch = slice(8 * (step % 5), 8 * (step % 5) + 8)
        assert bp.fit_batch(x[batch], y[batch]) == urfb.fit_batch(x[batch], y[batch])
        for wb, wu in zip(bp.W, urfb.W, strict=True):
            np.testing.assert_array_equal(wb, wu)
    for k in range(1, len(urfb.W)):
        np.testing.assert_array_equal(urfb.R[k], np.swapaxes(urfb.W[k], -1, -2))


def test_frfb_keeps_r_fixed_and_urfb_moves_it():
    x, y = _task()
    for name, moves in (("frfb", False), ("urfb", True)):
        learner = _make(name)
        r0 = [r.copy() for r in learner.state_dict() and learner.R[1:]]
        learner.fit_batch(x[:8], y[:8])
        changed = [not np.array_equal(a, b) for a, b in zip(r0, learner.R[1:], strict=True)]
        assert any(changed) == moves


@pytest.mark.parametrize("name", ["bp", "urfb"])
def test_architecture_of_full_layers_equals_the_mlp(name):
    """The generic layer path with only full layers is the plain MLP, bit for bit."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 20)), rng.integers(0, 4, 32)
    mlp = rate.make(name, sizes=(20, 16, 8, 4), seed=1, dtype="float64")
    net = rate.make(
        name,
        sizes=(20, 4),
        architecture="full 16; full 8",
        input_shape=(20, 1, 1),
        seed=1,
        dtype="float64",
    )
    for step in range(4):
        assert mlp.fit_batch(x[8 * step : 8 * step + 8], y[8 * step : 8 * step + 8]) == (
            net.fit_batch(x[8 * step : 8 * step + 8], y[8 * step : 8 * step + 8])
        )
    for a, b in zip(mlp.W, net.W, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mlp.predict_scores(x), net.predict_scores(x))


def test_conv_learner_learns_and_resumes_identically():
    x, y = _task(n=64)
    y = (x[:, :36].sum(axis=1) > 0).astype(int)  # a learnable rule
    a = _make("urfb", learning_rate=0.05, architecture="conv 4 3x3; maxpool 3; full 16; drop .2")
    losses = [
        a.fit_batch(x[i % 8 * 8 : i % 8 * 8 + 8], y[i % 8 * 8 : i % 8 * 8 + 8]) for i in range(80)
    ]
    assert np.mean(losses[-8:]) < np.mean(losses[:8])
    b = _make("urfb", learning_rate=0.05, architecture="conv 4 3x3; maxpool 3; full 16; drop .2")
    b.load_state_dict(a.state_dict())
    a.fit_batch(x[:8], y[:8])
    b.fit_batch(x[:8], y[:8])
    for wa, wb in zip(a.W + a.R[1:], b.W + b.R[1:], strict=True):
        np.testing.assert_array_equal(wa, wb)


# -- the untied (conv-sparse) layer ------------------------------------------------------
def test_untied_with_weights_tied_by_hand_equals_the_conv_layer_exactly():
    rng = np.random.default_rng(7)
    shape = (8, 7, 2)
    tied = _conv.build_plan("conv 3 3x3; maxpool 3; conv 2 2x2; full 4", shape, 3)
    untied = _conv.build_plan("uconv 3 3x3; maxpool 3; uconv 2 2x2; full 4", shape, 3)
    # small integers: every product and sum is exact, so any summation order agrees
    w = [
        rng.integers(-3, 4, _conv.tied_shape(la)).astype(np.float64) for la in _conv.weighted(tied)
    ]
    wu = [
        _conv.untie(m, la.geometry) if isinstance(la, _conv.Conv) else m
        for m, la in zip(w, _conv.weighted(untied), strict=True)
    ]
    x = rng.integers(-2, 3, (5, 112)).astype(np.float64)
    st, _ = _conv.forward(x, tied, w, None, "linear", None)
    su, _ = _conv.forward(x, untied, wu, None, "linear", None)
    np.testing.assert_array_equal(st, su)


def test_untied_tied_phase_trains_as_the_conv_layer():
    """Sec. 4.1 protocol: during ``tied_steps`` the untied layers are the convolution."""
    x, y = _task()
    arch = "conv 3 3x3; maxpool 3; conv 2 2x2; full 5"
    conv = _make("urfb", architecture=arch, learning_rate=0.02)
    unt = _make(
        "urfb",
        architecture=arch.replace("conv", "uconv"),
        tied_steps=3,
        tied_learning_rate=0.02,
        learning_rate=0.5,
    )
    for step in range(3):
        batch = slice(8 * step, 8 * step + 8)
        assert conv.fit_batch(x[batch], y[batch]) == pytest.approx(
            unt.fit_batch(x[batch], y[batch]), rel=1e-12
        )
    for la, wc, wu in zip(_conv.weighted(unt._plan), conv.W, unt.W, strict=True):
        ref = _conv.untie(wc, la.geometry) if isinstance(la, _conv.Conv) else wc
        np.testing.assert_allclose(wu, ref, rtol=1e-10, atol=1e-13)
    assert _conv.filter_similarity(unt.W[0], unt._plan[0].geometry) == pytest.approx(1.0)
    unt.fit_batch(x[24:32], y[24:32])  # untied now (learning rate 0.5): locations diverge
    assert _conv.filter_similarity(unt.W[0], unt._plan[0].geometry) < 1 - 1e-6


@pytest.mark.parametrize("name", ["urfb", "bp-hinge"])
def test_untied_step_scale_multiplies_only_the_untied_layers_increment(name):
    """After the tied phase the untied layers move ``untied_step_scale`` times as far as at
    scale 1 from the same state and batch, every other layer exactly as far; in the tied
    phase the scale does nothing. URFB's ``R`` of an untied layer gets the scaled step."""
    x, y = _task()
    arch = "uconv 3 3x3; maxpool 3; uconv 2 2x2; full 5"
    one, four = (
        _make(name, architecture=arch, tied_steps=1, untied_step_scale=s) for s in (1.0, 4.0)
    )
    one.fit_batch(x[:8], y[:8])
    four.fit_batch(x[:8], y[:8])  # the tied phase: the same step
    for a, b in zip(one.W, four.W, strict=True):
        np.testing.assert_array_equal(a, b)
    before = [w.copy() for w in one.W]
    before_r = [r.copy() for r in one.R[1:]] if name == "urfb" else []
    one.fit_batch(x[8:16], y[8:16])
    four.fit_batch(x[8:16], y[8:16])
    untied = [isinstance(la, _conv.Conv) and la.untied for la in _conv.weighted(one._plan)]
    assert untied == [True, True, False, False]  # the output layer last
    for w0, a, b, is_untied in zip(before, one.W, four.W, untied, strict=True):
        assert np.abs(a - w0).max() > 0
        if is_untied:
            np.testing.assert_allclose(b - w0, 4.0 * (a - w0), rtol=1e-9, atol=1e-15)
        else:
            np.testing.assert_array_equal(b - w0, a - w0)
    if name == "urfb":  # R{k} carries W{k}'s increment
        for r0, a, b, is_untied in zip(before_r, one.R[1:], four.R[1:], untied[1:], strict=True):
            factor = 4.0 if is_untied else 1.0
            np.testing.assert_allclose(b - r0, factor * (a - r0), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"untied_step_scale": 0.0}, ["untied_step_scale"]),
        ({"untied_step_scale": -2.0}, ["untied_step_scale"]),
        (
            {"architecture": "", "sizes": (72, 4), "untied_step_scale": 2.0},
            ["untied_step_scale", "architecture"],
        ),
    ],
)
def test_bad_untied_step_scale_names_the_key(kw, words):
    with pytest.raises(ValidationError) as err:
        _make("urfb", **kw)
    for word in words:
        assert word in str(err.value)


def test_untied_connectivity_is_that_of_the_convolution():
    rng = np.random.default_rng(8)
    g = _conv.build_plan("conv 2 3x3", (5, 4, 2), 2)[0].geometry
    w = rng.uniform(0.5, 1.0, (g.patch, 2))  # no zero weight
    dense = np.stack(
        [(_conv.im2col(e.reshape(1, 5, 4, 2), g) @ w).reshape(-1) for e in np.eye(40)]
    )  # (inputs, outputs): the conv as a matrix
    csr = _conv.connectivity_matrix(g)
    np.testing.assert_array_equal(csr.toarray() != 0, dense != 0)
    wu = _conv.untie(w, g)
    assert np.count_nonzero(wu) == csr.nnz


def test_filter_similarity_of_independent_filters_is_near_zero():
    layer = _conv.build_plan("uconv 8 5x5", (28, 28, 1), 2)[0]
    w = _conv.init_weight(
        np.random.default_rng(0), layer, np.float64, transpose=False, independent=True
    )
    assert abs(_conv.filter_similarity(w, layer.geometry)) < 0.02
    tied = _conv.init_weight(
        np.random.default_rng(0), layer, np.float64, transpose=False, independent=False
    )
    assert _conv.filter_similarity(tied, layer.geometry) == pytest.approx(1.0)


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"architecture": "conv 4 9x9"}, ["architecture", "layer 1", "9x9", "larger"]),
        (
            {"architecture": "conv 4 3x3; maxpool 2 stride 2 valid; conv 2 5x5"},
            ["layer 3", "larger than its 3x3"],
        ),
        ({"architecture": "conv 4 3x3; maxpool 4 stride 3 valid"}, ["layer 2", "do not tile"]),
        ({"architecture": "full 8; conv 4 3x3"}, ["layer 2", "needs an image"]),
        ({"architecture": "conv 4 3x3; dense 5"}, ["layer 2", "not a layer"]),
        ({"architecture": "conv 4 3x3; drop 1.5"}, ["layer 2"]),
        ({"input_shape": (6, 6, 3)}, ["input_shape", "108", "sizes[0] = 72"]),
        ({"input_shape": (6, 6)}, ["input_shape"]),
        ({"sizes": (72, 10, 4)}, ["sizes", "architecture"]),
        ({"architecture": "", "sizes": (72, 4), "tied_steps": 5}, ["tied_steps", "architecture"]),
    ],
)
def test_bad_architecture_names_the_key_and_layer(kw, words):
    with pytest.raises(ValidationError) as err:
        _make("urfb", **kw)
    for word in words:
        assert word in str(err.value)


def test_untie_refuses_channels_that_do_not_match():
    g = _conv.build_plan("conv 4 3x3", (6, 6, 2), 2)[0].geometry
    with pytest.raises(ValidationError, match=r"from 2 to 4 channels"):
        _conv.untie(np.zeros((27, 4)), g)


def test_experiment_file_error_names_the_key():
    from spikesim.experiments.kinds.rate import learner_table

    with pytest.raises(ConfigError, match=r"learner\.architecture"):
        learner_table({"name": "urfb", "sizes": [784, 10], "architecture": "conv 32 30x30"})
    table = learner_table({"name": "urfb", "sizes": [784, 10], "architecture": "simpnet"})
    assert table["input_shape"] == [28, 28, 1]


def test_named_architectures_are_the_papers():
    simp = _conv.build_plan("simpnet", (28, 28, 1), 10)
    kinds = [type(la).__name__ for la in simp]
    assert kinds == ["Conv", "Pool", "Drop", "Full", "Drop", "Full"]
    assert simp[3].n_in == 14 * 14 * 32 and simp[3].n_out == 500
    deep = _conv.build_plan("deepnet", (28, 28, 1), 10)
    convs = [la.geometry for la in deep if isinstance(la, _conv.Conv)]
    assert [(g.kh, g.c_out, g.h) for g in convs] == [
        (5, 32, 28),
        (3, 32, 14),
        (3, 32, 14),
        (3, 32, 7),
        (3, 32, 7),
    ]
    assert deep[-2].n_in == 4 * 4 * 32


# -- the filters command -----------------------------------------------------------------
def test_filters_command_reports_similarity_and_draws(tmp_path, capsys):
    import json

    from spikesim.cli import main
    from spikesim.experiments import resolve, run_experiment

    cfg = {
        "experiment": {"kind": "rate", "name": "blobs-uconv", "seed": 1},
        "task": {"dataset": "blobs", "n_train": 200, "n_test": 100},
        "learner": {
            "name": "urfb",
            "sizes": [20, 4],
            "input_shape": [5, 4, 1],
            "architecture": "uconv 3 3x3; maxpool 2",
            "learning_rate": 0.1,
        },
        "train": {"epochs": 2, "batch_size": 20},
    }
    out = tmp_path / "run"
    run_experiment(resolve(cfg), out)
    fig = tmp_path / "filters.png"
    assert main(["filters", str(out), "--figure", str(fig)]) == 0
    report = json.loads(capsys.readouterr().out)
    (layer,) = report["layers"]
    assert layer["weights"] == "W0" and fig.exists() and -1 <= layer["change"] <= 1
    # independent start: the initial filters are as unalike as random ones
    assert abs(layer["initial"]) < 0.5 and abs(layer["independent"]) < 0.5
    from spikesim.experiments.filters import _load

    _, trained, _ = _load(out)
    assert layer["trained"] == _conv.filter_similarity(trained.W[0], trained._plan[0].geometry)
