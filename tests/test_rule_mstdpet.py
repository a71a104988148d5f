"""Florian's MSTDPET rule (spikesim.plasticity.mstdpet): conformance, the kernel against the
event-by-event ODE reference on random spike trains, closed forms, the update, the config."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesim.errors import ConfigError, ValidationError
from spikesim.graph import Network
from spikesim.plasticity import MSTDPET, available_rules, get_rule
from spikesim.record import SpikeRecord
from spikesim.testing.rule import check_rule

ROOT = Path(__file__).resolve().parents[1]


def _trace(rule, network, record, noise_scale=1.0):
    ptr, times = record.csr()
    return rule.trace(
        network, ptr[:-1], np.diff(ptr), times, record.duration, noise_scale=noise_scale
    )


def _record(trains, duration):
    neurons = np.concatenate([np.full(len(t), k, np.int64) for k, t in enumerate(trains)])
    times = np.concatenate([np.asarray(t, float) for t in trains])
    order = np.argsort(times, kind="stable")
    return SpikeRecord(
        times=times[order], neurons=neurons[order], n_neurons=len(trains), duration=duration
    )


def _pair_network(delay=0.0, sign=1):
    return Network(
        n_neurons=2, pre=[0], post=[1], weight=[0.5], delay=[delay], sign=[sign],
        inputs=[0], outputs=[1],
    )  # fmt: skip


def test_registered():
    assert "mstdpet" in available_rules()
    assert get_rule("mstdpet") is MSTDPET


@pytest.mark.parametrize(
    "rule",
    [
        MSTDPET(),
        MSTDPET(
            tau_plus=0.01,
            tau_minus=0.03,
            A_plus=0.7,
            A_minus=1.2,
            tau_z=0.1,
            gamma_scale=0.3,
            w_min=0.05,
            w_max=0.9,
        ),
    ],  # fmt: skip
)
def test_conformance(rule):
    check_rule(rule)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"tau_plus": 0.0}, "rule.tau_plus must be positive"),
        ({"tau_minus": -1.0}, "rule.tau_minus must be positive"),
        ({"tau_z": np.inf}, "rule.tau_z must be positive"),
        ({"gamma_scale": 0.0}, "rule.gamma_scale must be positive"),
        ({"A_plus": -0.1}, "rule.A_plus must be a non-negative number"),
        ({"A_minus": "big"}, "rule.A_minus must be a number"),
        ({"w_min": 1.0, "w_max": 0.5}, "rule.w_min and rule.w_max"),
        ({"tau_z": True}, "rule.tau_z must be a number"),
    ],
)
def test_rejects_bad_parameters(kw, match):
    with pytest.raises(ValidationError, match=match):
        MSTDPET(**kw)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        MSTDPET().tau_z = 1.0


# -- closed forms ------------------------------------------------------------------------------
T = 0.1


@pytest.mark.parametrize("delay", [0.0, 0.002])
def test_one_pair_pre_before_post(delay):
    """One arrival at t1 = t_pre + d, one post spike at t2 >= t1:
    z(T) = A_plus exp(-(t2 - t1)/tau_plus) exp(-(T - t2)/tau_z)."""
    rule = MSTDPET(tau_plus=0.015, tau_minus=0.03, A_plus=0.8, A_minus=1.3, tau_z=0.04)
    t_pre, t2 = 0.02, 0.05
    t1 = t_pre + delay
    rec = _record([[t_pre], [t2]], T)
    want = 0.8 * math.exp(-(t2 - t1) / 0.015) * math.exp(-(T - t2) / 0.04)
    net = _pair_network(delay)
    np.testing.assert_allclose(_trace(rule, net, rec), [want], rtol=1e-12)
    np.testing.assert_allclose(rule.trace_reference(net, rec), [want], rtol=1e-12)


@pytest.mark.parametrize("delay", [0.0, 0.002])
def test_one_pair_post_before_pre(delay):
    """One post spike at t2, one arrival at t1 > t2:
    z(T) = -A_minus exp(-(t1 - t2)/tau_minus) exp(-(T - t1)/tau_z)."""
    rule = MSTDPET(tau_plus=0.015, tau_minus=0.03, A_plus=0.8, A_minus=1.3, tau_z=0.04)
    t_pre, t2 = 0.06, 0.03
    t1 = t_pre + delay
    rec = _record([[t_pre], [t2]], T)
    want = -1.3 * math.exp(-(t1 - t2) / 0.03) * math.exp(-(T - t1) / 0.04)
    net = _pair_network(delay)
    np.testing.assert_allclose(_trace(rule, net, rec), [want], rtol=1e-12)
    np.testing.assert_allclose(rule.trace_reference(net, rec), [want], rtol=1e-12)


def test_tie_counts_as_pre_before_post():
    """A post spike at the arrival's time (the spike the arrival causes) is after it."""
    rule = MSTDPET()
    rec = _record([[0.0625], [0.0625]], T)
    want = 1.0 * math.exp(-(T - 0.0625) / 0.025)
    np.testing.assert_allclose(_trace(rule, _pair_network(), rec), [want], rtol=1e-12)


def test_late_arrival_is_dropped_and_silence_gives_zero():
    rule = MSTDPET()
    # the arrival at 0.099 + 0.002 >= T is never delivered: only post spikes remain
    rec = _record([[0.099], [0.05]], T)
    assert _trace(rule, _pair_network(0.002), rec)[0] == 0.0
    # a silent post neuron: no STDP pulse at all
    rec = _record([[0.01, 0.02, 0.03], []], T)
    assert _trace(rule, _pair_network(), rec)[0] == 0.0


def test_inhibitory_edge_trace_is_signed():
    """The trace is ``sign_e z_e``: an inhibitory edge's magnitude moves opposite to an
    excitatory one's, so the signed weight follows Florian's dW on both."""
    rule = MSTDPET()
    rec = _record([[0.02, 0.07], [0.03, 0.05, 0.08]], T)
    z = _trace(rule, _pair_network(sign=1), rec)
    assert z[0] != 0.0
    np.testing.assert_array_equal(_trace(rule, _pair_network(sign=-1), rec), -z)
    np.testing.assert_array_equal(rule.trace_reference(_pair_network(sign=-1), rec), -z)
    w = np.array([0.5])
    we, _, _ = rule.update(w, z, 0.2, ())
    wi, _, _ = rule.update(w, -z, 0.2, ())
    np.testing.assert_allclose(we - w, -(wi - w), rtol=1e-15)  # equal signed changes


def test_noise_scale_multiplies_the_stdp_windows():
    kp = MSTDPET(tau_plus=0.02, tau_minus=0.01, tau_z=0.05).kernel_params(noise_scale=2.0)
    assert (kp.tau_plus, kp.tau_minus, kp.tau_z) == (0.04, 0.02, 0.05)


# -- the kernel against the ODE reference on random spike trains -------------------------------
# Times and delays on a grid of 1/1024 s, so that arrivals and post spikes tie exactly.
_GRID = 1.0 / 1024.0


@st.composite
def _trial(draw):
    n_in = draw(st.integers(1, 3))
    n_out = draw(st.integers(1, 3))
    pairs = [(i, n_in + j) for i in range(n_in) for j in range(n_out)]
    keep = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    pairs = [p for p, k in zip(pairs, keep, strict=True) if k] or pairs[:1]
    delays = draw(st.lists(st.integers(0, 4), min_size=len(pairs), max_size=len(pairs)))
    n = n_in + n_out
    slots = int(T / _GRID)
    trains = [sorted(set(draw(st.lists(st.integers(0, slots - 1), max_size=8)))) for _ in range(n)]
    net = Network(
        n_neurons=n,
        pre=[p[0] for p in pairs],
        post=[p[1] for p in pairs],
        weight=np.full(len(pairs), 0.3),
        delay=np.array(delays) * _GRID,
        sign=draw(st.lists(st.sampled_from([1, -1]), min_size=len(pairs), max_size=len(pairs))),
        inputs=list(range(n_in)),
        outputs=list(range(n_in, n)),
    )
    rec = _record([[k * _GRID for k in t] for t in trains], T)
    params = draw(
        st.fixed_dictionaries(
            {
                "tau_plus": st.sampled_from([0.005, 0.02, 0.05]),
                "tau_minus": st.sampled_from([0.005, 0.02, 0.05]),
                "A_plus": st.sampled_from([0.0, 0.5, 1.0]),
                "A_minus": st.sampled_from([0.0, 1.0, 1.5]),
                "tau_z": st.sampled_from([0.01, 0.025, 1.0]),
            }
        )
    )
    scale = draw(st.sampled_from([1.0, math.sqrt(2.0)]))
    return MSTDPET(**params), net, rec, scale


@settings(max_examples=60, deadline=None)
@given(_trial())
def test_kernel_equals_ode_reference(case):
    rule, net, rec, scale = case
    got = _trace(rule, net, rec, scale)
    ref = rule.trace_reference(net, rec, noise_scale=scale)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_kernel_on_a_random_dag():
    """Hidden layers: a random DAG with varied delays, Poisson-like trains."""
    import spikesim

    net = spikesim.random_dag(12, n_inputs=4, n_outputs=2, p_edge=0.5, seed=3)
    rng = np.random.default_rng(3)
    trains = [np.sort(rng.uniform(0.0, T, rng.integers(0, 10))) for _ in range(12)]
    rec = _record(trains, T)
    rule = MSTDPET(tau_z=0.05)
    np.testing.assert_allclose(_trace(rule, net, rec), rule.trace_reference(net, rec), rtol=1e-9)


# -- the update --------------------------------------------------------------------------------
def test_update_is_additive_and_clipped():
    rng = np.random.default_rng(2)
    w = rng.uniform(0.0, 1.0, 30)
    z = rng.normal(0.0, 2.0, 30)
    rule = MSTDPET(gamma_scale=0.5, w_min=0.1, w_max=0.8)
    s = 0.3  # learning_rate (L - L_bar) > 0: the loss was worse than the baseline
    w2, st2, rel = rule.update(w, z, s, rule.init_state(30))
    np.testing.assert_allclose(w2, np.clip(w - s * 0.5 * z, 0.1, 0.8), rtol=1e-15)
    np.testing.assert_allclose(rel, np.sum(np.abs(s * 0.5 * z)), rtol=1e-12)
    assert st2 == ()
    # a reward (loss below baseline) strengthens edges with positive eligibility
    w3, _, _ = MSTDPET().update(np.full(2, 0.5), np.array([1.0, -1.0]), -0.1, ())
    np.testing.assert_allclose(w3, [0.6, 0.4])


# -- the experiment file and the [rule] table ---------------------------------------------------
def test_rule_table_takes_mstdpet_keys_and_refuses_sh_ones():
    from spikesim.experiments.kinds.spiking import rule_table

    out = rule_table({"kind": "mstdpet", "tau_z": 0.05, "learning_rate": 0.01})
    assert out["tau_z"] == 0.05 and out["A_plus"] == 1.0
    with pytest.raises(ConfigError, match=r"\bc\b"):
        rule_table({"kind": "mstdpet", "c": 100.0})
    with pytest.raises(ConfigError, match="rule.tau_plus must be positive"):
        rule_table({"kind": "mstdpet", "tau_plus": -0.02})


def test_experiment_file_loads():
    from spikesim.experiments.config import load

    cfg = load(ROOT / "experiments" / "spike-pattern-mstdpet.toml")
    assert cfg["rule"]["kind"] == "mstdpet"
    assert cfg["network"]["ei_pairs"] is True
