"""Node perturbation (spikesim.plasticity.perturbation.NodePerturbation): conformance, the
perturbation against its slow reference, the perturbation is exactly a threshold change
(the engine sees a potential offset), the trace kernel's activity factor against a slow
reference, the update's closed form, the trainer hook (losses from perturbed trials,
batching, threads and resume), hidden layers, evaluation unperturbed, config."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.engines import get_engine
from spikesim.engines.event import event_net
from spikesim.errors import ConfigError, ValidationError
from spikesim.plasticity import SH, NodePerturbation, available_rules, get_rule
from spikesim.plasticity.base import _trace_one
from spikesim.plasticity.trainer import Trainer
from spikesim.record import SpikeRecord
from spikesim.testing.rule import check_rule

ROOT = Path(__file__).resolve().parents[1]


def test_registered_and_declared():
    assert "node-perturbation" in available_rules()
    assert get_rule("node-perturbation") is NodePerturbation
    assert NodePerturbation.perturbs == "nodes"


@pytest.mark.parametrize("rule", [NodePerturbation(), NodePerturbation(sigma=0.3, w_max=2.0)])
def test_conformance(rule):
    check_rule(rule)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"sigma": 0.0}, "rule.sigma must be positive"),
        ({"max_step": -1.0}, "rule.max_step must be positive"),
        ({"sigma": float("nan")}, "rule.sigma must be a number"),
        ({"w_min": 2.0, "w_max": 1.0}, "rule.w_min and rule.w_max"),
    ],
)
def test_rejects_bad_parameters(kw, match):
    with pytest.raises(ValidationError, match=match):
        NodePerturbation(**kw)


def test_perturbed_needs_the_network():
    with pytest.raises(ValidationError, match="perturbs nodes: give network="):
        NodePerturbation().perturbed(np.ones(3), np.ones(3), 0)


_dags = st.builds(
    lambda n, seed: spikesim.random_dag(n, n_inputs=3, n_outputs=2, p_edge=0.5, seed=seed),
    st.integers(6, 14),
    st.integers(0, 10_000),
)


@settings(max_examples=30, deadline=None)
@given(net=_dags, sigma=st.floats(1e-3, 1.0), seed=st.integers(0, 2**31 - 1))
def test_perturbation_equals_reference(net, sigma, seed):
    rule = NodePerturbation(sigma=sigma)
    signed, xi = rule.perturbed(net.weight, net.sign, seed, network=net)
    ref, xi_ref = rule.perturbed_reference(net, net.weight, seed)
    np.testing.assert_array_equal(xi, xi_ref)
    np.testing.assert_allclose(signed, ref, rtol=1e-14)
    # one draw per neuron: every edge into a neuron carries the same noise
    for j in np.unique(net.post):
        assert np.ptp(xi[net.post == j]) == 0.0


def _inputs(net, rng, duration=0.1, rate=80.0):
    times, neurons = [], []
    for j in net.inputs:
        t = rng.uniform(0.0, duration, rng.poisson(rate * duration))
        times.append(t)
        neurons.append(np.full(t.size, j))
    return np.concatenate(times), np.concatenate(neurons)


@settings(max_examples=25, deadline=None)
@given(net=_dags, seed=st.integers(0, 2**31 - 1))
def test_the_perturbation_is_a_threshold_change(net, seed):
    """Scaling a neuron's incoming weights by g is a threshold theta / g: the event engine
    gives the same spikes for the perturbed weights and for the network with the original
    weights and the thresholds divided by each neuron's gain."""
    rule = NodePerturbation(sigma=0.3)
    signed, xi = rule.perturbed(net.weight, net.sign, seed, network=net)
    gain = np.ones(net.n_neurons)
    gain[net.post] = np.exp(0.3 * xi)
    eng = get_engine("event")
    inp = _inputs(net, np.random.default_rng(seed))
    a = eng.run(net, inp, 0.1, weights=np.abs(signed))
    b = eng.run(dataclasses.replace(net, threshold=net.threshold / gain), inp, 0.1)
    assert a.times.size == b.times.size
    np.testing.assert_array_equal(a.neurons, b.neurons)
    np.testing.assert_allclose(a.times, b.times, rtol=0, atol=1e-12)


def _record(net, rng, duration=0.1):
    counts = rng.integers(0, 8, net.n_neurons)
    neurons = np.repeat(np.arange(net.n_neurons), counts)
    times = rng.uniform(0.0, duration, neurons.size)
    order = np.argsort(times, kind="stable")
    return SpikeRecord(
        times=times[order], neurons=neurons[order], n_neurons=net.n_neurons, duration=duration
    )


@settings(max_examples=30, deadline=None)
@given(net=_dags, seed=st.integers(0, 10_000))
def test_trace_is_noise_times_presynaptic_activity(net, seed):
    """The trace kernel turns the perturb kernel's noise row into xi_post * sign * X /
    theta, X the trial mean of the presynaptic PSP trace (slow reference, arrival by
    arrival; delays that push arrivals past the trial end excluded)."""
    rng = np.random.default_rng(seed)
    net = dataclasses.replace(
        net,
        delay=rng.choice([0.0, 0.01, 0.05], net.n_edges),
        tau_syn=rng.uniform(0.005, 0.03, net.n_neurons),
        threshold=rng.uniform(0.5, 2.0, net.n_neurons),
    )
    rule = NodePerturbation(sigma=0.2)
    rec = _record(net, rng)
    _, xi = rule.perturbed(net.weight, net.sign, seed, network=net)
    ptr, times = rec.csr()
    out = xi.copy()
    _trace_one(rule.kernel_params(), event_net(net), ptr[:-1], np.diff(ptr), times, 0.1, out)
    np.testing.assert_allclose(out, xi * rule.activity_reference(net, rec), rtol=1e-12, atol=1e-15)


def test_activity_closed_form():
    """One arrival at a: X = tau (1 - exp(-(T - a) / tau)) / T."""
    net = spikesim.Network(
        n_neurons=2, pre=[0], post=[1], weight=[0.5], delay=[0.01], sign=[-1],
        inputs=[0], outputs=[1], tau_syn=0.02, threshold=2.0,
    )  # fmt: skip
    rec = SpikeRecord(times=np.array([0.03]), neurons=np.array([0]), n_neurons=2, duration=0.1)
    x = NodePerturbation().activity_reference(net, rec)
    np.testing.assert_allclose(x, [-0.02 * (1 - math.exp(-0.06 / 0.02)) / 0.1 / 2.0])


def test_update_closed_form_and_clipping():
    rule = NodePerturbation(sigma=0.2, max_step=0.25, w_min=0.05, w_max=3.0)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.1, 2.0, 40)
    E = rng.normal(0.0, 1.0, 40)
    s = 0.01
    w2, st2, rel = rule.update(w, E, s, ())
    step = np.clip(s / 0.2 * w * E, -0.25, 0.25)
    np.testing.assert_allclose(w2, np.clip(w * np.exp(-step), 0.05, 3.0), rtol=1e-13)
    np.testing.assert_allclose(rel, np.sum(np.abs(s / 0.2 * w * E)), rtol=1e-12)
    assert st2 == ()
    w3, _, rel0 = rule.update(w, E, 0.0, ())
    assert rel0 == 0.0 and np.array_equal(w3, w)


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


def test_trainer_losses_use_perturbed_trials():
    """With a large sigma the first trial's loss differs from an unperturbed run's on the
    same input spikes (the trainer simulates the perturbed network)."""
    net, x, t = _task()
    a = _trainer(NodePerturbation(sigma=2.0), net, x, t).train_chunk()["losses"]
    b = _trainer(SH(), net, x, t).train_chunk()["losses"]
    assert a[0] != b[0]


def test_batching_threads_and_resume_keep_the_weights():
    net, x, t = _task()
    rule = NodePerturbation(sigma=0.3)
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


def test_hidden_and_output_weights_are_learned():
    net, x, t = _task(sizes=(6, 5, 2))
    tr = _trainer(NodePerturbation(sigma=0.3), net, x, t)
    w0 = tr.w.copy()
    for _ in range(3):
        tr.train_chunk()
    hidden = np.isin(net.post, net.layers[1])
    changed = tr.w != w0
    assert changed[hidden].mean() > 0.5 and changed[~hidden].mean() > 0.5


def test_evaluation_is_not_perturbed():
    net, x, t = _task()
    a = _trainer(NodePerturbation(sigma=1.0), net, x, t)
    b = _trainer(SH(), net, x, t)
    ra = a.simulate(x, t, np.full(4, -1), rng=np.random.default_rng(0))
    rb = b.simulate(x, t, np.full(4, -1), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(ra["spike_counts"], rb["spike_counts"])


def test_rule_table_and_experiment_file():
    from spikesim.experiments.config import load
    from spikesim.experiments.kinds.spiking import rule_table

    out = rule_table({"kind": "node-perturbation", "sigma": 0.1, "learning_rate": 0.01})
    assert out["sigma"] == 0.1
    with pytest.raises(ConfigError, match="tau_z"):
        rule_table({"kind": "node-perturbation", "tau_z": 0.025})
    with pytest.raises(ConfigError, match="rule.sigma must be positive"):
        rule_table({"kind": "node-perturbation", "sigma": -1.0})
    cfg = load(ROOT / "experiments" / "spike-pattern-node-perturbation.toml")
    assert cfg["rule"]["kind"] == "node-perturbation"
