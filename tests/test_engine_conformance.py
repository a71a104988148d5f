"""Every registered engine against the pure-Python reference (tests/reference_sim.py).

Exact engines (``engine.dt is None``) must give exactly the reference's spikes. Clock-driven
engines must give the same number of spikes per neuron, each spike within
``(depth of the neuron + 1) * dt`` of the reference: every layer of the DAG can delay a
spike by at most one step (an arrival is delivered on the next step boundary), plus one
step for the input spikes themselves. Trials whose reference comes close to a threshold
tie (``margin``) or whose arrivals fall within a few steps of a refractory boundary or of
each other (``gap``) are excluded by construction: there a time step legitimately changes
which arrival crosses the threshold.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reference_sim import simulate as reference

import spikesim
from spikesim.engines import available, get_engine

# Engine options used by the suite (clock-driven engines at dt = 0.01 ms).
ENGINE_DT = 1e-5


def make_engine(name):
    engine = get_engine(name)
    if hasattr(engine, "available_here") and not engine.available_here():
        pytest.skip(getattr(engine, "unavailable_reason", f"engine {name} cannot run here"))
    if engine.dt is not None and hasattr(engine, "with_dt"):
        engine = engine.with_dt(ENGINE_DT)
    return engine


def compiles_per_structure(name):
    """Engines that compile a binary per network structure (seconds per random DAG)."""
    return bool(getattr(get_engine(name), "compiles_per_structure", False))


CHEAP = [n for n in available() if not compiles_per_structure(n)]
COMPILED = [n for n in available() if compiles_per_structure(n)]


@st.composite
def trials(draw):
    n = draw(st.integers(3, 9))
    n_in = draw(st.integers(1, min(3, n - 1)))
    seed = draw(st.integers(0, 2**31 - 1))
    net = spikesim.random_dag(
        n,
        n_inputs=n_in,
        n_outputs=1,
        p_edge=draw(st.floats(0.3, 0.9)),
        weight_range=(0.2, 1.2),
        delay_range=(0.0, draw(st.sampled_from([0.0, 0.002]))),
        inhibitory_fraction=draw(st.sampled_from([0.0, 0.3])),
        t_ref=draw(st.sampled_from([0.0, 0.002])),
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    k = draw(st.integers(0, 30))
    # input times on a 0.1 ms grid, so a clock-driven engine sees them exactly
    times = rng.integers(0, 500, k) * 1e-4
    neurons = rng.choice(net.inputs, k)
    return net, times, neurons


def spike_trains(rec, n):
    return [rec.spikes_of(j) for j in range(n)]


@pytest.mark.parametrize("name", CHEAP)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trial=trials())
def test_engine_matches_reference(name, trial):
    check_against_reference(name, trial)


# Engines compiling per structure (~10 s per random DAG): a few examples by default, many
# in the slow run.
@pytest.mark.parametrize("name", COMPILED)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trial=trials())
def test_compiled_engine_matches_reference(name, trial):
    check_against_reference(name, trial)


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPILED)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trial=trials())
def test_compiled_engine_matches_reference_many(name, trial):
    check_against_reference(name, trial)


def check_against_reference(name, trial):
    net, times, neurons = trial
    duration = 0.05
    ref, margin, gap = reference(net, net.weight, times, neurons, duration)
    engine = make_engine(name)
    if engine.dt is not None:
        depth = int(net.depth().max())
        assume(margin > 0.02 and gap > 4 * (depth + 1) * engine.dt)
    rec = spikesim.simulate(net, (times, neurons), duration, engine=engine)
    got = spike_trains(rec, net.n_neurons)
    if engine.dt is None:
        for j in range(net.n_neurons):
            assert got[j].tolist() == ref[j], f"neuron {j}"
    else:
        depth = net.depth()
        for j in range(net.n_neurons):
            assert got[j].size == len(ref[j]), f"neuron {j}: {got[j]} vs {ref[j]}"
            tol = (depth[j] + 1) * engine.dt + 1e-12
            assert np.all(np.abs(got[j] - np.asarray(ref[j])) <= tol), f"neuron {j}"


@pytest.mark.parametrize("name", available())
def test_record_contract(name):
    """Sorted by (time, neuron), inputs included, within [0, duration)."""
    # the same structure as the tests below, so a compiled engine builds it once
    net = spikesim.layered([8, 6, 2], weight_mean=[0.5, 0.7], seed=1)
    inp = spikesim.encoding.poisson(
        np.linspace(0.2, 1.0, 8), duration=0.05, max_rate=300.0, neurons=net.inputs, seed=3
    )
    rec = spikesim.simulate(net, inp, 0.05, engine=make_engine(name))
    assert rec.n_neurons == net.n_neurons
    key = np.lexsort((rec.neurons, rec.times))
    assert np.array_equal(key, np.arange(rec.n_spikes))
    assert np.all((rec.times >= 0) & (rec.times < 0.05))
    # every input spike is in the record
    for j in net.inputs:
        sent = np.sort(inp[0][inp[1] == j])
        assert np.allclose(rec.spikes_of(j), sent, atol=make_engine(name).dt or 0.0)
    assert rec.counts()[net.outputs].sum() > 0


@pytest.mark.parametrize("name", available())
def test_same_seed_same_spikes(name):
    net = spikesim.layered([8, 6, 2], weight_mean=[0.5, 0.7], seed=2)
    recs = []
    for seed in (5, 5, 6):
        inp = spikesim.encoding.poisson(
            np.full(8, 0.7), duration=0.05, max_rate=200.0, neurons=net.inputs, seed=seed
        )
        recs.append(spikesim.simulate(net, inp, 0.05, engine=make_engine(name)))
    assert np.array_equal(recs[0].times, recs[1].times)
    assert np.array_equal(recs[0].neurons, recs[1].neurons)
    assert not (
        recs[0].n_spikes == recs[2].n_spikes and np.array_equal(recs[0].times, recs[2].times)
    )


@pytest.mark.parametrize("name", available())
def test_batch_equals_single_runs(name):
    net = spikesim.layered([8, 6, 2], weight_mean=[0.5, 0.7], seed=4)
    inputs = [
        spikesim.encoding.poisson(
            np.full(8, 0.6), duration=0.05, max_rate=200.0, neurons=net.inputs, seed=s
        )
        for s in range(3)
    ]
    engine = make_engine(name)
    batch = engine.run_batch(net, inputs, 0.05)
    for inp, rec in zip(inputs, batch, strict=True):
        one = engine.run(net, inp, 0.05)
        assert np.array_equal(one.times, rec.times)
        assert np.array_equal(one.neurons, rec.neurons)
