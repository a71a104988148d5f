"""SpikeRecord's two views of one trial (by time and by neuron): each built from the other
equals the obvious numpy form, whichever view the record was made from."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.engines.event import EventEngine
from spikesim.errors import ValidationError
from spikesim.record import SpikeRecord


def _random_spikes(seed, n_spikes, n_neurons, grid):
    """Spikes sorted by (time, neuron), with ties in time when ``grid``."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 20, n_spikes) * 0.005 if grid else rng.uniform(0, 0.1, n_spikes)
    nn = rng.integers(0, n_neurons, n_spikes)
    order = np.lexsort((nn, t))
    return t[order].astype(np.float64), nn[order].astype(np.int64)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_spikes=st.integers(0, 400),
    n_neurons=st.integers(1, 30),
    grid=st.booleans(),
)
def test_from_csr_round_trip_equals_lexsort(seed, n_spikes, n_neurons, grid):
    t, nn = _random_spikes(seed, n_spikes, n_neurons, grid)
    by_time = SpikeRecord(times=t, neurons=nn, n_neurons=n_neurons, duration=0.1)
    ptr, grouped = by_time.csr()
    # the obvious form of the by-neuron view: a stable sort by neuron
    order = np.argsort(nn, kind="stable")
    assert np.array_equal(grouped, t[order])
    assert np.array_equal(
        ptr, np.concatenate([[0], np.cumsum(np.bincount(nn, minlength=n_neurons))])
    )
    by_neuron = SpikeRecord.from_csr(ptr, grouped, n_neurons=n_neurons, duration=0.1)
    assert by_neuron.n_spikes == n_spikes
    assert np.array_equal(by_neuron.counts(), by_time.counts())
    assert by_neuron.counts().dtype == np.int64
    for k in range(n_neurons):
        assert np.array_equal(by_neuron.spikes_of(k), t[nn == k])
    for a, b in zip(by_neuron.trains(), by_time.trains(), strict=True):
        assert np.array_equal(a, b)
    # the time view computed from the neuron view: exactly the lexsort order, ties by neuron
    assert np.array_equal(by_neuron.times, t) and np.array_equal(by_neuron.neurons, nn)
    assert by_neuron.times.dtype == np.float64 and by_neuron.neurons.dtype == np.int64
    by_neuron.validate()


def test_records_are_read_only_and_pickle_in_either_state():
    t, nn = _random_spikes(3, 50, 6, True)
    rec = SpikeRecord.from_csr(*SpikeRecord(t, nn, 6, 0.1).csr(), n_neurons=6, duration=0.1)
    with pytest.raises(AttributeError, match="read-only"):
        rec.times = t
    with pytest.raises(AttributeError, match="read-only"):
        rec.duration = 1.0
    for _ in range(2):  # before and after the time view exists
        back = pickle.loads(pickle.dumps(rec))
        assert np.array_equal(back.times, t) and np.array_equal(back.neurons, nn)
        assert back.n_neurons == 6 and back.duration == 0.1
        assert np.array_equal(back.counts(), rec.counts())
        rec.times  # noqa: B018


def test_csr_returns_copies():
    t, nn = _random_spikes(4, 30, 5, False)
    rec = SpikeRecord.from_csr(*SpikeRecord(t, nn, 5, 0.1).csr(), n_neurons=5, duration=0.1)
    ptr, grouped = rec.csr()
    grouped[:] = -1.0
    assert np.array_equal(rec.times, t)


@pytest.mark.parametrize(
    "ptr, n_times",
    [([0, 2, 3], 4), ([1, 2, 4], 4), ([0, 4], 4), ([[0, 2, 4]], 4)],
)
def test_from_csr_rejects_a_ptr_that_does_not_bound_the_times(ptr, n_times):
    with pytest.raises(ValidationError, match="n_neurons \\+ 1 = 3"):
        SpikeRecord.from_csr(np.array(ptr), np.zeros(n_times), n_neurons=2, duration=0.1)


def test_event_engine_returns_records_by_neuron_equal_to_the_single_run():
    """run_batch's records (built by neuron) against run's, trial by trial, and against the
    trial's spikes re-sorted by numpy."""
    from spikesim.encoding import poisson

    net = spikesim.layered([8, 6, 3], weight_mean=[0.5, 0.7], seed=1)
    inputs = [
        poisson(np.full(8, 1.0), duration=0.1, max_rate=200.0, neurons=net.inputs, seed=s)
        for s in range(5)
    ]
    eng = EventEngine(n_threads=2)
    for inp, rec in zip(inputs, eng.run_batch(net, inputs, 0.1), strict=True):
        one = eng.run(net, input_spikes=inp, duration=0.1)
        ptr, grouped = rec.csr()
        assert np.array_equal(rec.counts(), one.counts())
        owner = np.repeat(np.arange(net.n_neurons), np.diff(ptr))
        order = np.lexsort((owner, grouped))
        assert np.array_equal(rec.times, grouped[order])
        assert np.array_equal(rec.neurons, owner[order])
        assert np.array_equal(rec.times, one.times) and np.array_equal(rec.neurons, one.neurons)


def test_replace_changes_one_attribute_and_keeps_the_rest():
    t, nn = _random_spikes(5, 40, 4, False)
    rec = SpikeRecord.from_csr(*SpikeRecord(t, nn, 4, 0.1).csr(), n_neurons=4, duration=0.1)
    longer = rec.replace(duration=0.2)
    assert longer.duration == 0.2 and rec.duration == 0.1
    assert np.array_equal(longer.times, t) and np.array_equal(longer.neurons, nn)
    shifted = rec.replace(times=t + 0.05)
    assert np.array_equal(shifted.times, t + 0.05) and np.array_equal(
        shifted.counts(), rec.counts()
    )
