"""The public event-engine path's compiled helpers against their obvious numpy forms
(issue 18 item 4): input checking/sorting and the record's (time, neuron) order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.engines.event import EventEngine, simulate_csr, to_record
from spikesim.record import check_input_spikes

NET = spikesim.layered([5, 4, 2], weight_mean=[0.6, 0.8], seed=0)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    m=st.integers(0, 80),
    grid=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_check_input_spikes_equals_lexsort(seed, m, grid, dtype):
    rng = np.random.default_rng(seed)
    t = (rng.integers(0, 12, m) * 0.01 if grid else rng.uniform(0, 0.12, m)).astype(dtype)
    n = rng.integers(0, 5, m)
    got_t, got_n = check_input_spikes(NET, (t, n), 0.1)
    t64 = t.astype(np.float64)
    keep = t64 < 0.1
    order = np.lexsort((t64[keep], n[keep]))
    assert np.array_equal(got_t, t64[keep][order]) and got_t.dtype == np.float64
    assert np.array_equal(got_n, n[keep][order]) and got_n.dtype == np.int64


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    m=st.integers(0, 80),
    presort=st.sampled_from(["neuron-time", "neuron-only", "none"]),
    late=st.booleans(),
)
def test_check_input_spikes_in_order_fast_path_equals_lexsort(seed, m, presort, late):
    """Inputs already in (neuron, time) order (the encoders' output) take a one-pass path;
    inputs sorted by neuron only, or with spikes at or after the end, must not."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 12, m) * 0.01 if late else rng.uniform(0, 0.0999, m)
    n = rng.integers(0, 5, m)
    if presort == "neuron-time":
        order = np.lexsort((t, n))
        t, n = t[order], n[order]
    elif presort == "neuron-only":
        order = np.argsort(n, kind="stable")
        t, n = t[order], n[order]
    got_t, got_n = check_input_spikes(NET, (t, n), 0.1)
    keep = t < 0.1
    order = np.lexsort((t[keep], n[keep]))
    assert np.array_equal(got_t, t[keep][order]) and np.array_equal(got_n, n[keep][order])
    assert got_t is not t and got_n is not n  # copies: the caller's arrays stay theirs


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), rate=st.sampled_from([50.0, 300.0]))
def test_records_sorted_like_lexsort_and_batch_equals_kernel(seed, rate):
    from spikesim.encoding import poisson

    inp = poisson(np.full(5, 1.0), duration=0.1, max_rate=rate, neurons=NET.inputs, seed=seed)
    t, n = check_input_spikes(NET, inp, 0.1)
    start, count, buf = simulate_csr(NET, NET.weight, t, n, 0.1)
    neurons = np.repeat(np.arange(NET.n_neurons), count)
    times = np.concatenate([buf[start[j] : start[j] + count[j]] for j in range(NET.n_neurons)])
    order = np.lexsort((neurons, times))
    rec = to_record(NET, start, count, buf, 0.1)
    assert np.array_equal(rec.times, times[order]) and np.array_equal(rec.neurons, neurons[order])
    (batch,) = EventEngine(n_threads=1).run_batch(NET, [inp], 0.1)
    assert np.array_equal(batch.times, rec.times) and np.array_equal(batch.neurons, rec.neurons)
