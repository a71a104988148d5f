"""The dopamine-stdp rule (spikesim.plasticity.dopamine): conformance, the kernel against
the event-by-event ODE reference on random spike trains, closed forms, the update against
the full synapse dynamics, the config."""

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
from spikesim.plasticity import DopamineSTDP, available_rules, get_rule
from spikesim.plasticity.dopamine import synapse_weights
from spikesim.record import SpikeRecord
from spikesim.testing.rule import check_rule

ROOT = Path(__file__).resolve().parents[1]
T = 0.1


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


def test_registered_with_nest_defaults():
    assert "dopamine-stdp" in available_rules()
    assert get_rule("dopamine-stdp") is DopamineSTDP
    r = DopamineSTDP()
    assert (r.A_plus, r.A_minus, r.tau_plus, r.tau_c, r.tau_n, r.b) == (
        1.0,
        1.5,
        0.02,
        1.0,
        0.2,
        0.0,
    )
    assert (r.w_min, r.w_max) == (0.0, 200.0)


@pytest.mark.parametrize(
    "rule",
    [
        DopamineSTDP(),
        DopamineSTDP(
            tau_plus=0.01,
            tau_minus=0.03,
            A_plus=0.7,
            A_minus=1.2,
            tau_c=0.3,
            tau_n=0.05,
            b=0.5,
            reward_delay=0.02,
            reward_window=0.5,
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
        ({"tau_n": -1.0}, "rule.tau_n must be positive"),
        ({"tau_c": np.inf}, "rule.tau_c must be positive"),
        ({"reward_window": 0.0}, "rule.reward_window must be positive"),
        ({"reward_delay": -0.1}, "rule.reward_delay must be a non-negative number"),
        ({"A_minus": "big"}, "rule.A_minus must be a number"),
        ({"b": np.inf}, "rule.b must be finite"),
        ({"w_min": 1.0, "w_max": 0.5}, "rule.w_min and rule.w_max"),
        ({"tau_c": True}, "rule.tau_c must be a number"),
    ],
)
def test_rejects_bad_parameters(kw, match):
    with pytest.raises(ValidationError, match=match):
        DopamineSTDP(**kw)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DopamineSTDP().tau_c = 1.0


# -- closed forms ------------------------------------------------------------------------------
@pytest.mark.parametrize("delay", [0.0, 0.002])
def test_one_pair_pre_before_post(delay):
    """c(t_r) = A_plus exp(-(t2 - t1)/tau_plus) exp(-(t_r - t2)/tau_c)."""
    rule = DopamineSTDP(tau_plus=0.015, tau_minus=0.03, A_plus=0.8, tau_c=0.04, reward_delay=0.01)
    t_pre, t2 = 0.02, 0.05
    t1 = t_pre + delay
    rec = _record([[t_pre], [t2]], T)
    want = 0.8 * math.exp(-(t2 - t1) / 0.015) * math.exp(-(T + 0.01 - t2) / 0.04)
    net = _pair_network(delay)
    np.testing.assert_allclose(_trace(rule, net, rec), [want], rtol=1e-12)
    np.testing.assert_allclose(rule.trace_reference(net, rec), [want], rtol=1e-12)


@pytest.mark.parametrize("delay", [0.0, 0.002])
def test_one_pair_post_before_pre(delay):
    """c(t_r) = -A_minus exp(-(t1 - t2)/tau_minus) exp(-(t_r - t1)/tau_c)."""
    rule = DopamineSTDP(tau_plus=0.015, tau_minus=0.03, A_minus=1.3, tau_c=0.04)
    t_pre, t2 = 0.06, 0.03
    t1 = t_pre + delay
    rec = _record([[t_pre], [t2]], T)
    want = -1.3 * math.exp(-(t1 - t2) / 0.03) * math.exp(-(T - t1) / 0.04)
    net = _pair_network(delay)
    np.testing.assert_allclose(_trace(rule, net, rec), [want], rtol=1e-12)
    np.testing.assert_allclose(rule.trace_reference(net, rec), [want], rtol=1e-12)


def test_tie_counts_as_pre_before_post_and_traces_jump_by_one():
    rule = DopamineSTDP(A_plus=0.5)
    rec = _record([[0.0625], [0.0625]], T)
    want = 0.5 * math.exp(-(T - 0.0625) / 1.0)
    np.testing.assert_allclose(_trace(rule, _pair_network(), rec), [want], rtol=1e-12)
    # two arrivals then a post spike: K+ = 1 + exp(-dt/tau_plus) (jumps of 1, not A_plus)
    rec = _record([[0.01, 0.02], [0.03]], T)
    want = 0.5 * (math.exp(-0.02 / 0.02) + math.exp(-0.01 / 0.02)) * math.exp(-(T - 0.03))
    np.testing.assert_allclose(_trace(rule, _pair_network(), rec), [want], rtol=1e-12)


def test_late_arrival_is_dropped_and_inhibitory_trace_is_signed():
    rule = DopamineSTDP()
    assert _trace(rule, _pair_network(0.002), _record([[0.099], [0.05]], T))[0] == 0.0
    rec = _record([[0.02, 0.07], [0.03, 0.05, 0.08]], T)
    c = _trace(rule, _pair_network(sign=1), rec)
    assert c[0] != 0.0
    np.testing.assert_array_equal(_trace(rule, _pair_network(sign=-1), rec), -c)


def test_noise_scale_multiplies_the_stdp_windows():
    kp = DopamineSTDP(tau_plus=0.02, tau_minus=0.01).kernel_params(noise_scale=2.0)
    assert (kp.tau_plus, kp.tau_minus, kp.tau_c, kp.tau_n) == (0.04, 0.02, 1.0, 0.2)


# -- the kernel against the ODE reference on random spike trains -------------------------------
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
                "A_minus": st.sampled_from([0.0, 1.5]),
                "tau_c": st.sampled_from([0.01, 1.0]),
                "reward_delay": st.sampled_from([0.0, 0.05]),
            }
        )
    )
    scale = draw(st.sampled_from([1.0, math.sqrt(2.0)]))
    return DopamineSTDP(**params), net, rec, scale


@settings(max_examples=60, deadline=None)
@given(_trial())
def test_kernel_equals_ode_reference(case):
    rule, net, rec, scale = case
    got = _trace(rule, net, rec, scale)
    ref = rule.trace_reference(net, rec, noise_scale=scale)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_kernel_on_a_random_dag():
    import spikesim

    net = spikesim.random_dag(12, n_inputs=4, n_outputs=2, p_edge=0.5, seed=3)
    rng = np.random.default_rng(3)
    trains = [np.sort(rng.uniform(0.0, T, rng.integers(0, 10))) for _ in range(12)]
    rec = _record(trains, T)
    rule = DopamineSTDP(tau_c=0.05)
    np.testing.assert_allclose(_trace(rule, net, rec), rule.trace_reference(net, rec), rtol=1e-9)


# -- the update against the full dynamics ------------------------------------------------------
@pytest.mark.parametrize("window", [0.3, np.inf])
@pytest.mark.parametrize("b", [0.0, 0.7])
def test_update_equals_synapse_dynamics(window, b):
    """One trial then one dopamine event of multiplicity -s at t_r: the trial update equals
    the full synapse dynamics (synapse_weights) read at t_r + window (b = 0; with b the
    full dynamics integrate -b c also before t_r, which the trial rule leaves out, so the
    comparison starts the b term at t_r by reading the change from t_r on)."""
    rule = DopamineSTDP(tau_c=0.3, tau_n=0.1, b=b, reward_delay=0.05, reward_window=window)
    pre, post = [0.01, 0.03, 0.06], [0.02, 0.035, 0.08]
    rec = _record([pre, post], T)
    c = _trace(rule, _pair_network(), rec)
    s = -2.0  # multiplicity 2 (a reward: loss below baseline)
    w0 = 50.0
    w1, _, rel = rule.update(np.array([w0]), c, s, ())
    t_r = T + 0.05
    end = t_r + (window if np.isfinite(window) else 60.0)
    full = synapse_weights(rule, pre, post, [t_r, t_r], w0, [t_r, end])
    np.testing.assert_allclose(w1[0] - w0, full[1] - full[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rel, abs(w1[0] - w0), rtol=1e-12)


def test_update_equals_synapse_dynamics_at_a_coincidence():
    """A post spike at an arrival's time (the spike it causes): the trial rule counts the
    pair as pre-before-post, as ``synapse_weights(..., ties="arrival-first")`` does; NEST's
    order (``ties="nest"``) pairs neither way and gives another weight."""
    rule = DopamineSTDP(tau_c=0.3, tau_n=0.1, reward_delay=0.05)
    pre, post = [0.01, 0.03], [0.02, 0.04]  # delay 0.01: arrivals at 0.02 and 0.04
    rec = _record([pre, post], T)
    c = _trace(rule, _pair_network(delay=0.01), rec)
    w0, s = 50.0, -2.0
    w1, _, _ = rule.update(np.array([w0]), c, s, ())
    t_r = T + 0.05
    arrivals = [0.02, 0.04]
    full = synapse_weights(rule, arrivals, post, [t_r, t_r], w0, [t_r, 60.0], ties="arrival-first")
    np.testing.assert_allclose(w1[0] - w0, full[1] - full[0], rtol=1e-9, atol=1e-12)
    nest_order = synapse_weights(rule, arrivals, post, [t_r, t_r], w0, [t_r, 60.0])
    assert abs((nest_order[1] - nest_order[0]) - (w1[0] - w0)) > 1e-3


def test_synapse_weights_refuses_an_unknown_tie_order():
    with pytest.raises(ValidationError, match="'post-first'"):
        synapse_weights(DopamineSTDP(), [0.0], [0.01], [], 1.0, [1.0], ties="post-first")


def test_update_closed_form_and_clipping():
    rule = DopamineSTDP(tau_c=1.0, tau_n=0.2, w_min=0.1, w_max=0.8)
    rng = np.random.default_rng(2)
    w = rng.uniform(0.0, 1.0, 30)
    c = rng.normal(0.0, 2.0, 30)
    s = 0.3
    tau_s = 0.2 / 1.2
    w2, st2, _ = rule.update(w, c, s, ())
    np.testing.assert_allclose(w2, np.clip(w - s * tau_s / 0.2 * c, 0.1, 0.8), rtol=1e-14)
    assert st2 == ()


def test_synapse_weights_single_pair_closed_form():
    """pre at 0, post at 0.01, dopamine at 0.02: w(inf) = w0 + c n0 tau_s with c =
    A_plus exp(-0.01/tau_plus) exp(-0.01/tau_c), n0 = 1/tau_n."""
    rule = DopamineSTDP()
    w = synapse_weights(rule, [0.0], [0.01], [0.02], 1.0, [100.0])
    c = math.exp(-0.5) * math.exp(-0.01)
    np.testing.assert_allclose(w, [1.0 + c / 0.2 * (0.2 / 1.2)], rtol=1e-12)


# -- the experiment file and the [rule] table ---------------------------------------------------
def test_rule_table_takes_dopamine_keys_and_refuses_other_rules_ones():
    from spikesim.experiments.kinds.spiking import rule_table

    out = rule_table({"kind": "dopamine-stdp", "tau_n": 0.1, "learning_rate": 0.01})
    assert out["tau_n"] == 0.1 and out["A_minus"] == 1.5
    with pytest.raises(ConfigError, match="tau_z"):
        rule_table({"kind": "dopamine-stdp", "tau_z": 0.025})
    with pytest.raises(ConfigError, match=r"\bc\b"):
        rule_table({"kind": "dopamine-stdp", "c": 100.0})
    with pytest.raises(ConfigError, match="rule.tau_c must be positive"):
        rule_table({"kind": "dopamine-stdp", "tau_c": -1.0})
