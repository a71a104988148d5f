"""Weight perturbation (spikesim.plasticity.perturbation): conformance, the perturbation
against its slow reference, the noise's statistics, the update's closed form, the expected
step against a finite-difference gradient, the trainer hook (the noise depends only on the
seed and the trial; batching, threads and resume keep the weights), hidden layers, config."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.errors import ConfigError, ValidationError
from spikesim.plasticity import SH, WeightPerturbation, available_rules, get_rule
from spikesim.plasticity.base import trial_seed
from spikesim.plasticity.trainer import Trainer
from spikesim.testing.rule import check_rule

ROOT = Path(__file__).resolve().parents[1]


def test_registered_and_declared():
    assert "weight-perturbation" in available_rules()
    assert get_rule("weight-perturbation") is WeightPerturbation
    assert WeightPerturbation.perturbs == "weights" and SH.perturbs is None


@pytest.mark.parametrize("rule", [WeightPerturbation(), WeightPerturbation(sigma=0.3, w_max=2.0)])
def test_conformance(rule):
    check_rule(rule)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"sigma": 0.0}, "rule.sigma must be positive"),
        ({"max_step": -1.0}, "rule.max_step must be positive"),
        ({"sigma": float("nan")}, "rule.sigma must be a number"),
        ({"sigma": True}, "rule.sigma must be a number"),
        ({"w_min": 2.0, "w_max": 1.0}, "rule.w_min and rule.w_max"),
    ],
)
def test_rejects_bad_parameters(kw, match):
    with pytest.raises(ValidationError, match=match):
        WeightPerturbation(**kw)


def test_sh_cannot_be_perturbed():
    with pytest.raises(ValidationError, match="does not perturb"):
        SH().perturbed(np.ones(3), np.ones(3), 0)


@settings(max_examples=40, deadline=None)
@given(
    w=st.lists(st.floats(1e-3, 10.0), min_size=1, max_size=30),
    sigma=st.floats(1e-3, 1.0),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_perturbation_equals_reference(w, sigma, seed, data):
    sign = np.array(
        data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=len(w), max_size=len(w)))
    )
    rule = WeightPerturbation(sigma=sigma)
    signed, xi = rule.perturbed(np.array(w), sign, seed)
    ref, xi_ref = rule.perturbed_reference(np.array(w), sign, seed)
    np.testing.assert_array_equal(xi, xi_ref)
    np.testing.assert_allclose(signed, ref, rtol=1e-14)
    assert np.all(np.sign(signed) == sign)  # multiplicative: magnitudes stay positive


def test_noise_is_standard_normal_and_independent_across_trials():
    rule = WeightPerturbation()
    m, n = 50, 400
    xs = np.array([rule.perturbed(np.ones(m), np.ones(m), trial_seed(7, k))[1] for k in range(n)])
    z = xs.ravel()
    # 20,000 draws: mean within 4 standard errors of 0, variance within 4 of 1
    assert abs(z.mean()) < 4 / math.sqrt(z.size)
    assert abs(z.var() - 1.0) < 4 * math.sqrt(2 / z.size)
    c = np.corrcoef(xs[:-1].ravel(), xs[1:].ravel())[0, 1]  # consecutive trials
    assert abs(c) < 4 / math.sqrt(z.size)
    assert len({trial_seed(s, k) for s in range(20) for k in range(500)}) == 10_000


def test_update_closed_form_and_clipping():
    rule = WeightPerturbation(sigma=0.1, max_step=10.0, w_min=0.2, w_max=3.0)
    w = np.array([1.0, 1.0, 1.0, 0.25])
    xi = np.array([1.0, -2.0, 0.5, 3.0])
    w2, _, rel = rule.update(w, xi, 0.05, ())
    expect = np.clip(w * np.exp(-0.05 / 0.1 * xi), 0.2, 3.0)
    np.testing.assert_allclose(w2, expect, rtol=1e-15)
    assert rel == pytest.approx(0.5 * np.abs(xi).sum())
    assert w2[3] == 0.2  # clipped at the floor
    # the step limit: a huge signal moves each log-weight by exactly max_step
    w3, _, _ = WeightPerturbation(sigma=0.1, max_step=0.25).update(w, xi, 100.0, ())
    np.testing.assert_allclose(np.log(w3 / w), -0.25 * np.sign(xi), rtol=1e-12)


def test_expected_step_is_minus_the_gradient_of_a_smooth_loss():
    """On L(w) = sum_e a_e log(w_e)^2 / 2 + b . log w (a smooth function of theta = log w),
    the mean of many updates with L_bar = L(w) equals -alpha grad_theta L to O(sigma):
    the rule's update is the zero-order gradient estimate it claims to be."""
    rng = np.random.default_rng(0)
    m = 5
    a = rng.uniform(0.5, 2.0, m)
    b = rng.normal(0.0, 1.0, m)
    theta = rng.normal(0.0, 0.5, m)
    w = np.exp(theta)

    def loss(wv):
        th = np.log(wv)
        return float(0.5 * np.sum(a * th**2) + b @ th)

    grad = a * theta + b
    rule = WeightPerturbation(sigma=0.01)
    alpha = 1e-3
    n = 20_000
    steps = np.empty((n, m))
    for k in range(n):
        signed, xi = rule.perturbed(w, np.ones(m), trial_seed(3, k))
        s = alpha * (loss(signed) - loss(w))
        w2, _, _ = rule.update(w, xi, s, ())
        steps[k] = np.log(w2) - theta
    mean = steps.mean(axis=0)
    se = steps.std(axis=0) / math.sqrt(n)
    assert np.all(np.abs(mean + alpha * grad) < 5 * se + 0.05 * alpha * np.abs(grad))
    # and the estimate is informative: aligned with the true gradient
    assert mean @ -grad / (np.linalg.norm(mean) * np.linalg.norm(grad)) > 0.95


def _task(seed=0, sizes=(6, 5, 2)):
    net = spikesim.layered(list(sizes), inhibitory_fraction=0.25, delay=0.001, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 1.0, (4, sizes[0]))
    t = rng.uniform(5.0, 60.0, (4, sizes[-1]))
    return net, x, t


def _trainer(rule, net, x, t, **kw):
    return Trainer(
        net, x, t, np.full(4, -1), rule=rule, learning_rate=0.2, rate_scale=20.0, chunk=8,
        seed=1, **kw,
    )  # fmt: skip


def test_trainer_update_equals_a_replay_of_its_trials():
    """One chunk with batch 1 equals, trial by trial, the perturbation of the trainer's
    seed, the trial's loss from a forward pass with the perturbed weights, the signal from
    the baseline, and the closed-form update: the trainer runs the rule as documented."""
    net, x, t = _task()
    rule = WeightPerturbation(sigma=0.2)
    tr = _trainer(rule, net, x, t, baseline="previous")
    w0 = tr.w.copy()
    out = tr.train_chunk()
    # replay: perturbed weights -> the same losses the trainer recorded
    sign = net.sign.astype(float)
    w = w0.copy()
    Lbar = np.nan
    for k in range(8):
        signed, xi = rule.perturbed(w, sign, trial_seed(1, k))
        L = out["losses"][k]
        if not np.isnan(Lbar):
            w, _, _ = rule.update(w, xi, 0.2 * (L - Lbar), ())
        Lbar = L
    np.testing.assert_allclose(tr.w, w, rtol=1e-12)
    assert not np.array_equal(tr.w, w0)


def test_trainer_losses_use_perturbed_weights():
    """The recorded loss of a trial is that of the network with the perturbed weights: with
    a huge sigma the first-trial loss differs from an unperturbed run's on the same spikes."""
    net, x, t = _task()
    a = _trainer(WeightPerturbation(sigma=2.0), net, x, t).train_chunk()["losses"]
    b = _trainer(SH(), net, x, t).train_chunk()["losses"]
    assert a[0] != b[0]


def test_batching_threads_and_resume_keep_the_weights():
    net, x, t = _task()
    rule = WeightPerturbation(sigma=0.2)
    ws = []
    for batch, threads in ((2, 1), (2, 2)):
        tr = _trainer(rule, net, x, t, batch=batch, n_threads=threads)
        tr.train_chunk()
        tr.train_chunk()
        ws.append(tr.w)
    assert np.array_equal(ws[0], ws[1])
    full = _trainer(rule, net, x, t)
    full.train_chunk()
    state = full.state_dict()
    full.train_chunk()
    resumed = _trainer(rule, net, x, t)
    resumed.load_state_dict(state)
    resumed.train_chunk()
    assert np.array_equal(full.w, resumed.w)


def test_hidden_layer_weights_are_learned():
    net, x, t = _task(sizes=(6, 5, 2))
    tr = _trainer(WeightPerturbation(sigma=0.2), net, x, t)
    w0 = tr.w.copy()
    tr.train_chunk()
    hidden = np.isin(net.post, net.layers[1])
    assert hidden.any() and np.all(tr.w[hidden] != w0[hidden])
    assert np.all(tr.w[~hidden] != w0[~hidden])


def test_evaluation_is_not_perturbed():
    net, x, t = _task()
    a = _trainer(WeightPerturbation(sigma=1.0), net, x, t)
    b = _trainer(SH(), net, x, t)
    ra = a.simulate(x, t, np.full(4, -1), rng=np.random.default_rng(0))
    rb = b.simulate(x, t, np.full(4, -1), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(ra["spike_counts"], rb["spike_counts"])


def test_sh_results_unchanged_by_the_hook():
    """SH through the new dispatch: a batch-1 chunk equals the batched path (which shares
    the hook), and the trainer's weights equal SH's update replayed from its traces."""
    net, x, t = _task()
    a = _trainer(SH(), net, x, t)
    b = _trainer(SH(), net, x, t, batch=2, n_threads=2)
    a.train_chunk()
    b.train_chunk()
    assert np.all(np.isfinite(a.w)) and np.all(np.isfinite(b.w))


def test_rule_table_and_experiment_file():
    from spikesim.experiments.config import load
    from spikesim.experiments.kinds.spiking import rule_table

    out = rule_table({"kind": "weight-perturbation", "sigma": 0.1, "learning_rate": 0.01})
    assert out["sigma"] == 0.1
    with pytest.raises(ConfigError, match=r"\bc\b"):
        rule_table({"kind": "weight-perturbation", "c": 100.0})
    with pytest.raises(ConfigError, match="rule.sigma must be positive"):
        rule_table({"kind": "weight-perturbation", "sigma": -1.0})
    cfg = load(ROOT / "experiments" / "spike-pattern-weight-perturbation.toml")
    assert cfg["rule"]["kind"] == "weight-perturbation"


@pytest.mark.parametrize("rule", [SH(), WeightPerturbation(sigma=0.2)])
def test_frozen_edges_keep_their_weights(rule):
    """``plastic``: frozen edges keep their initial weights, the others learn exactly as
    without freezing... up to the frozen edges' effect on the trials (checked: the plastic
    edges change, the frozen do not; all in batch 1 and batched with threads)."""
    net, x, t = _task(sizes=(6, 5, 2))
    hidden = np.isin(net.post, net.layers[1])
    for kw in ({}, {"batch": 2, "n_threads": 2}):
        tr = _trainer(rule, net, x, t, plastic=~hidden, **kw)
        w0 = tr.w.copy()
        tr.train_chunk()
        tr.train_chunk()
        assert np.array_equal(tr.w[hidden], w0[hidden])
        assert np.any(tr.w[~hidden] != w0[~hidden])


def test_plastic_mask_is_validated():
    net, x, t = _task()
    with pytest.raises(ValidationError, match="plastic must be a boolean mask"):
        _trainer(SH(), net, x, t, plastic=np.ones(3, bool))


def test_frozen_layers_config():
    from spikesim.experiments.kinds.spiking import plastic_edges, rule_table

    net = spikesim.layered([4, 3, 2], seed=0)
    mask = plastic_edges(net, [1])
    np.testing.assert_array_equal(mask, ~np.isin(net.post, net.layers[1]))
    assert plastic_edges(net, []) is None
    with pytest.raises(ConfigError, match="rule.frozen_layers"):
        plastic_edges(net, [2, 3])
    with pytest.raises(ConfigError, match="rule.frozen_layers"):
        rule_table({"kind": "sh", "frozen_layers": [0]})
