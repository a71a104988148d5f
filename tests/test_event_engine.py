"""The exact event-driven engine against hand-computed cases."""

import math

import numpy as np
import pytest

import spikesim
from spikesim import ValidationError
from spikesim.engines import available
from spikesim.engines.ticks import from_ticks, to_ticks


def one_neuron(n_in, weight, *, delay=0.0, sign=1, tau=0.01, thr=1.0, t_ref=0.0):
    return spikesim.Network(
        n_neurons=n_in + 1,
        pre=list(range(n_in)),
        post=[n_in] * n_in,
        weight=[weight] * n_in if np.isscalar(weight) else weight,
        delay=delay,
        sign=sign,
        inputs=list(range(n_in)),
        outputs=[n_in],
        tau_syn=tau,
        threshold=thr,
        t_ref=t_ref,
    )


def spikes(rec, j):
    return rec.spikes_of(j).tolist()


def test_crossing_after_k_inputs():
    # weight 0.3, arrivals every 1 ms: V_k = 0.3 * sum_{m<k} exp(-m dt / tau)
    net = one_neuron(1, 0.3)
    t_in = np.arange(10) * 1e-3
    rec = spikesim.simulate(net, (t_in, np.zeros(10, int)), 0.05)
    v, k = 0.0, 0
    for k in range(10):
        v = v * math.exp(-1e-3 / 0.01) + 0.3
        if v >= 1.0:
            break
    assert k == 3  # 0.3 (1 + e^-0.1 + e^-0.2 + e^-0.3) = 1.0395 >= 1, three arrivals are not
    # after the reset the same count of arrivals crosses again: arrivals 3..6 -> spike at 7
    assert spikes(rec, 1) == [t_in[3], t_in[7]]


def test_simultaneous_arrivals_are_summed_before_the_threshold():
    net = one_neuron(2, 0.5)
    rec = spikesim.simulate(net, ([0.01, 0.01], [0, 1]), 0.05)
    assert spikes(rec, 2) == [0.01]
    # excitatory and inhibitory at the same time cancel whatever the order
    net = one_neuron(2, [1.2, 0.5], sign=[1, -1])
    rec = spikesim.simulate(net, ([0.01, 0.01], [0, 1]), 0.05)
    assert spikes(rec, 2) == []


def test_delays_shift_arrivals():
    net = one_neuron(2, 0.6, delay=[0.0, 0.003])
    rec = spikesim.simulate(net, ([0.010, 0.010], [0, 1]), 0.05)
    # arrivals at 10 ms and 13 ms: 0.6 e^{-0.3} + 0.6 = 1.0445 >= 1 at 13 ms
    assert spikes(rec, 2) == pytest.approx([0.013])
    net = one_neuron(2, 0.6, delay=[0.0, 0.006])
    rec = spikesim.simulate(net, ([0.010, 0.010], [0, 1]), 0.05)
    assert spikes(rec, 2) == []  # 0.6 e^{-0.6} + 0.6 = 0.929 < 1


def test_refractory_period_swallows_an_arrival():
    net = one_neuron(1, 1.0, t_ref=0.002)
    rec = spikesim.simulate(net, ([0.010, 0.011, 0.012, 0.0135], [0, 0, 0, 0]), 0.05)
    # 10 ms spike; 11 ms ignored (refractory until 12 ms); 12 ms is not refractory
    # and crosses on its own; 13.5 ms is refractory again
    assert spikes(rec, 1) == [0.010, 0.012]
    net = one_neuron(1, 0.6, t_ref=0.002)
    rec = spikesim.simulate(net, ([0.0, 0.0, 0.0005, 0.003], [0, 0, 0, 0]), 0.05)
    # spike at 0 (1.2), 0.5 ms ignored, 3 ms: V starts from 0 again -> 0.6, no spike
    assert spikes(rec, 1) == [0.0]


def test_inhibitory_edge():
    net = one_neuron(2, [0.7, 0.5], sign=[1, -1])
    rec = spikesim.simulate(net, ([0.010, 0.011, 0.009], [0, 0, 1]), 0.05)
    # inhibitory 0.5 at 9 ms, then 0.7 at 10 and 11 ms
    v = -0.5 * math.exp(-0.1) + 0.7
    v = v * math.exp(-0.1) + 0.7
    assert v < 1.0
    assert spikes(rec, 2) == []
    rec = spikesim.simulate(net, ([0.010, 0.011], [0, 0]), 0.05)
    assert spikes(rec, 2) == [0.011]


def test_chain_propagates_through_the_dag_in_topological_order():
    # neurons numbered against the topological order: 3 -> 1 -> 2 -> 0
    net = spikesim.Network(
        n_neurons=4,
        pre=[3, 1, 2],
        post=[1, 2, 0],
        weight=[1.0, 1.0, 1.0],
        delay=[0.001, 0.002, 0.003],
        inputs=[3],
        outputs=[0],
    )
    rec = spikesim.simulate(net, ([0.005], [3]), 0.05)
    assert rec.times.tolist() == pytest.approx([0.005, 0.006, 0.008, 0.011])
    assert rec.neurons.tolist() == [3, 1, 2, 0]


def test_record_is_sorted_and_includes_inputs():
    net = spikesim.layered([30, 20, 5], weight_mean=[0.2, 0.3], seed=3)
    inp = spikesim.encoding.poisson(np.full(30, 0.5), duration=0.1, max_rate=100, seed=1)
    rec = spikesim.simulate(net, inp, 0.1)
    key = rec.times + rec.neurons * 1e-12
    assert np.all(np.diff(rec.times) >= 0)
    assert np.all(np.diff(key[np.diff(rec.times, prepend=-1) == 0]) >= 0)
    # inputs included, on the engine's 1 ps clock (docs/model.md, "Exact time")
    got = np.sort(rec.times[np.isin(rec.neurons, net.inputs)])
    assert np.array_equal(got, np.sort(from_ticks(to_ticks(inp[0]))))
    assert np.all(np.abs(got - np.sort(inp[0])) <= 0.5e-12 + 1e-17)
    assert rec.counts()[net.layers[1]].sum() > 0
    assert np.all(rec.times < 0.1)


def test_voltage_trace_is_exact_between_arrivals():
    net = one_neuron(1, 0.4, tau=0.01)
    grid = np.array([0.0, 0.0099, 0.010, 0.012, 0.0199, 0.020, 0.030])
    rec = spikesim.simulate(
        net, ([0.010, 0.020], [0, 0]), 0.05, voltage_neurons=[1], voltage_times=grid
    )
    v = rec.voltage[0]
    expect = [
        0.0,
        0.0,
        0.4,
        0.4 * math.exp(-0.2),
        0.4 * math.exp(-0.99),
        0.4 * math.exp(-1.0) + 0.4,
        (0.4 * math.exp(-1.0) + 0.4) * math.exp(-1.0),
    ]
    assert v == pytest.approx(expect, rel=1e-12, abs=1e-15)


def test_same_result_twice_and_weights_override():
    net = spikesim.layered([40, 20, 5], weight_mean=[0.15, 0.3], seed=0)
    inp = spikesim.encoding.poisson(np.full(40, 0.6), duration=0.1, max_rate=80, seed=5)
    a = spikesim.simulate(net, inp, 0.1)
    b = spikesim.simulate(net, inp, 0.1)
    assert np.array_equal(a.times, b.times) and np.array_equal(a.neurons, b.neurons)
    silent = spikesim.simulate(net, inp, 0.1, weights=np.zeros(net.n_edges))
    assert np.all(np.isin(silent.neurons, net.inputs))


def test_input_errors_are_named():
    net = one_neuron(2, 0.5)
    with pytest.raises(ValidationError, match="neuron 2, which is not an input neuron"):
        spikesim.simulate(net, ([0.01], [2]), 0.05)
    with pytest.raises(ValidationError, match="differ in length"):
        spikesim.simulate(net, ([0.01, 0.02], [0]), 0.05)
    with pytest.raises(ValidationError, match="input spike time 0 is nan"):
        spikesim.simulate(net, ([np.nan], [0]), 0.05)
    with pytest.raises(ValidationError, match="negative"):
        spikesim.simulate(net, ([-0.01], [0]), 0.05)
    with pytest.raises(ValidationError, match="duration"):
        spikesim.simulate(net, ([0.01], [0]), -1.0)
    with pytest.raises(ValidationError, match="unknown engine 'nope'"):
        spikesim.simulate(net, ([0.01], [0]), 0.05, engine="nope")
    with pytest.raises(ValidationError, match="voltage_neurons contains 9"):
        spikesim.simulate(net, ([0.01], [0]), 0.05, voltage_neurons=[9])


def test_registry_lists_event():
    assert "event" in available()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_path_equals_neuron_by_neuron_path(seed):
    # Recording a neuron's voltage forces the one-neuron scan; unrecorded neurons of a
    # dense layer are scanned together. Both must give bit-identical spikes.
    net = spikesim.layered(
        [60, 30, 8], weight_mean=[0.1, 0.25], inhibitory_fraction=0.3, t_ref=0.001, seed=seed
    )
    inp = spikesim.encoding.poisson(np.full(60, 0.7), duration=0.2, max_rate=60, seed=seed)
    fast = spikesim.simulate(net, inp, 0.2)
    slow = spikesim.simulate(
        net, inp, 0.2, voltage_neurons=np.arange(net.n_neurons), voltage_times=np.array([0.0])
    )
    assert fast.counts()[net.layers[1]].sum() > 10
    assert np.array_equal(fast.times, slow.times)
    assert np.array_equal(fast.neurons, slow.neurons)


def test_block_scanned_in_chunks_equals_neuron_by_neuron():
    # a layer wider than SCAN_CHUNK is scanned chunk by chunk (the last one partial);
    # every neuron's spikes must equal the one-neuron scan's
    from spikesim.engines.event import SCAN_CHUNK

    width = 2 * SCAN_CHUNK + 3
    net = spikesim.layered([40, width], weight_mean=0.12, inhibitory_fraction=0.2, seed=5)
    inp = spikesim.encoding.poisson(np.full(40, 0.8), duration=0.2, max_rate=60, seed=5)
    fast = spikesim.simulate(net, inp, 0.2)
    slow = spikesim.simulate(
        net, inp, 0.2, voltage_neurons=np.arange(net.n_neurons), voltage_times=np.array([0.0])
    )
    out = fast.counts()[net.layers[1]]
    assert (out > 0).mean() > 0.5  # most neurons of every chunk spike
    assert np.array_equal(fast.times, slow.times)
    assert np.array_equal(fast.neurons, slow.neurons)


def test_block_path_single_and_several_crossings_per_arrival():
    # the block scan finds a lone crossing from the sum of the crossing indices and several
    # by a pass along the row: a synchronous layer (benchmark-like drive, 0 delays) has both
    # kinds of arrival in one trial, and every spike must equal the one-neuron scan's
    net = spikesim.layered([200, 40], weight_mean=0.03, inhibitory_fraction=0.0, seed=3)
    inp = spikesim.encoding.poisson(np.full(200, 1.0), duration=0.1, max_rate=40, seed=3)
    fast = spikesim.simulate(net, inp, 0.1)
    slow = spikesim.simulate(
        net, inp, 0.1, voltage_neurons=np.arange(net.n_neurons), voltage_times=np.array([0.0])
    )
    hidden = np.isin(fast.neurons, net.layers[1])
    _, per_time = np.unique(fast.times[hidden], return_counts=True)
    assert (per_time == 1).sum() > 10 and (per_time >= 2).sum() > 10
    assert np.array_equal(fast.times, slow.times)
    assert np.array_equal(fast.neurons, slow.neurons)


def test_stable_argsort_matches_mergesort():
    from spikesim.engines.event import _stable_argsort

    rng = np.random.default_rng(0)
    for n in [0, 1, 2, 7, 500]:
        for a in (
            rng.random(n),
            np.round(rng.random(n), 2),
            np.sort(rng.random(n))[::-1].copy(),
            np.concatenate([rng.random(n // 2) * 1e-9, rng.random(n - n // 2)]),
        ):
            assert np.array_equal(_stable_argsort(a), np.argsort(a, kind="mergesort"))


def test_run_batch_in_threads_equals_one_by_one():
    from spikesim.engines.event import EventEngine

    net = spikesim.layered([50, 20, 5], weight_mean=[0.12, 0.3], seed=4)
    inputs = [
        spikesim.encoding.poisson(np.full(50, 0.5), duration=0.1, max_rate=80, seed=s)
        for s in range(7)
    ]
    batch = EventEngine(n_threads=2).run_batch(net, inputs, 0.1)
    assert len(batch) == 7
    for inp, rec in zip(inputs, batch, strict=True):
        one = spikesim.simulate(net, inp, 0.1)
        assert np.array_equal(one.times, rec.times) and np.array_equal(one.neurons, rec.neurons)


@pytest.mark.parametrize("limit", [None, 0])
def test_batch_block_tables_equal_per_trial_gathers(monkeypatch, limit):
    # run_batch makes the blocks' transposed weights once (block_tables); with the limit
    # at 0 it falls back to gathering them each trial; both equal single trials
    from spikesim.engines import event
    from spikesim.engines.event import SCAN_CHUNK, EventEngine, block_tables, signed_weights

    if limit is not None:
        monkeypatch.setattr(event, "TABLE_LIMIT", limit)
    net = spikesim.layered(
        [30, SCAN_CHUNK + 9, 6], weight_mean=[0.15, 0.02], inhibitory_fraction=0.25, seed=8
    )
    tables, ptr = block_tables(net, signed_weights(net, net.weight))
    if limit == 0:
        assert tables.size == 0 and ptr.size == 0
    else:
        # hidden and output blocks: every weight of theirs, once
        assert tables.size == net.n_edges and (ptr >= 0).sum() == 2
    inputs = [
        spikesim.encoding.poisson(np.full(30, 0.6), duration=0.1, max_rate=80, seed=s)
        for s in range(4)
    ]
    batch = EventEngine(n_threads=1).run_batch(net, inputs, 0.1)
    assert sum(r.counts()[net.layers[1]].sum() for r in batch) > 50
    for inp, rec in zip(inputs, batch, strict=True):
        one = spikesim.simulate(net, inp, 0.1)
        assert np.array_equal(one.times, rec.times) and np.array_equal(one.neurons, rec.neurons)
