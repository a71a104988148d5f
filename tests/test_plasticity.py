"""Reward-modulated STDP: eligibility kernel, the update rule, baselines, losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikesim
from spikesim import ValidationError
from spikesim.plasticity import eligibility, eligibility_reference
from spikesim.record import SpikeRecord


def record_from_trains(trains, duration):
    times = np.concatenate([np.asarray(t, float) for t in trains] + [np.zeros(0)])
    neurons = np.concatenate(
        [np.full(len(t), k, np.int64) for k, t in enumerate(trains)] + [np.zeros(0, np.int64)]
    )
    order = np.lexsort((neurons, times))
    return SpikeRecord(times[order], neurons[order], len(trains), duration)


@st.composite
def dag_and_trains(draw):
    n = draw(st.integers(2, 9))
    seed = draw(st.integers(0, 2**31))
    dense = draw(st.booleans())
    rng = np.random.default_rng(seed)
    if dense:
        a, b, c_ = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
        delay = float(rng.choice([0.0, 0.001, 0.0025]))
        net = spikesim.layered([a, b, c_], delay=delay, inhibitory_fraction=0.3, seed=seed % 1000)
        n = net.n_neurons
    else:
        n_in = draw(st.integers(1, max(1, n - 1)))
        net = spikesim.random_dag(
            n, n_inputs=n_in, n_outputs=1, p_edge=0.6, delay_range=(0.0, 0.003), seed=seed % 1000
        )
    duration = 0.05
    # times on a coarse grid so that arrivals coincide with post spikes (ties)
    grid = draw(st.sampled_from([0.0005, 0.001, None]))
    trains = []
    for _ in range(n):
        k = int(rng.integers(0, 8))
        if grid is None:
            t = np.sort(rng.uniform(0, duration, k))
        else:
            t = np.unique(rng.integers(0, int(duration / grid), k) * grid)
        trains.append(t)
    c = draw(st.sampled_from([20.0, 200.0, 3000.0, 20000.0]))
    return net, record_from_trains(trains, duration), c


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=dag_and_trains())
def test_eligibility_matches_reference(case):
    net, rec, c = case
    fast = eligibility(net, rec, c)
    slow = eligibility_reference(net, rec, c)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


def two_neurons(delay=0.0):
    return spikesim.Network(
        n_neurons=2, pre=[0], post=[1], weight=[0.5], delay=delay, inputs=[0], outputs=[1]
    )


def test_eligibility_hand_computed():
    c = 100.0
    net = two_neurons(delay=0.001)
    # pre at 4, 9, 19.5 ms -> arrivals 5, 10, 20.5 ms; post at 3, 10, 15 ms
    rec = record_from_trains([[0.004, 0.009, 0.0195], [0.003, 0.010, 0.015]], 0.02)
    # arrival 5: T- = 3, T+ = 10; arrival 10: T- = 3 (strictly before), T+ = 10 (at);
    # arrival 20.5 ms >= duration 20 ms: dropped
    expect = (math.exp(-c * 0.002) - math.exp(-c * 0.005)) + (math.exp(-c * 0.007) - 1.0)
    assert eligibility(net, rec, c)[0] == pytest.approx(expect, rel=1e-12)
    # missing neighbours contribute 0: no post spikes at all
    rec = record_from_trains([[0.004], []], 0.02)
    assert eligibility(net, rec, c)[0] == 0.0
    # only a post spike before: only the positive term
    rec = record_from_trains([[0.004], [0.001]], 0.02)
    assert eligibility(net, rec, c)[0] == pytest.approx(math.exp(-c * 0.004), rel=1e-12)


def test_eligibility_on_engine_output_and_refractory_arrivals():
    net = spikesim.layered([5, 4, 2], tau_syn=0.01, t_ref=0.004, seed=3)
    inp = spikesim.encoding.poisson(
        np.ones(5), duration=0.1, max_rate=200.0, neurons=net.inputs, seed=1
    )
    rec = spikesim.simulate(net, inp, 0.1)
    assert rec.counts()[5:].sum() > 0
    np.testing.assert_allclose(
        eligibility(net, rec, 150.0), eligibility_reference(net, rec, 150.0), rtol=1e-9, atol=1e-12
    )


def test_eligibility_large_c_duration_uses_direct_form():
    # c * duration > 600: the factorised exponentials would overflow
    net = two_neurons()
    rec = record_from_trains([[0.5, 1.2], [0.49, 1.3]], 2.0)
    c = 1000.0
    np.testing.assert_allclose(
        eligibility(net, rec, c), eligibility_reference(net, rec, c), rtol=1e-12
    )
    assert np.all(np.isfinite(eligibility(net, rec, c)))


def test_eligibility_rejects_bad_c():
    net = two_neurons()
    rec = record_from_trains([[0.001], [0.002]], 0.01)
    with pytest.raises(ValidationError, match="c must be"):
        eligibility(net, rec, -1.0)
