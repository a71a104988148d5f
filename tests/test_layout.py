"""Dense blocks laid out in scan order (:func:`spikesim.engines.event.laid_out`, the
trainer's edge numbering): the same spikes and the same eligibilities, edge for edge and
bit for bit, as the network's own numbering, which reads the weights through a transpose
and writes the eligibilities back through one."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.engines.event import (
    SCAN_CHUNK,
    _kernel,
    event_net,
    laid_out,
    signed_weights,
    simulate_trial,
)
from spikesim.plasticity.eligibility import (
    _eligibility_kernel,
    eligibility_kernel,
    eligibility_reference,
)
from spikesim.record import SpikeRecord

DURATION = 0.1


def _inputs(network, rng, rate=40.0):
    """Poisson input spikes as the kernel's (inp_ptr, times)."""
    n = network.n_neurons
    ptr = np.zeros(n + 1, np.int64)
    times = []
    counts = np.zeros(n, np.int64)
    for j in np.sort(network.inputs):  # by neuron, sorted within each
        t = np.sort(rng.uniform(0, DURATION, rng.poisson(rate * DURATION)))
        counts[j] = t.size
        times.append(t)
    np.cumsum(counts, out=ptr[1:])
    return ptr, np.concatenate(times)


def _run(net, w_signed, ptr, times):
    n = net.order.shape[0]
    no = np.full(n, -1, np.int64)
    return _kernel(
        net, w_signed, np.zeros(0), np.zeros(0, np.int64), ptr, times, DURATION, no,
        np.zeros(0), np.zeros((0, 0)),
    )  # fmt: skip


sizes = st.tuples(
    st.integers(2, 30),
    st.sampled_from([1, 3, 4, 7, 40, SCAN_CHUNK, SCAN_CHUNK + 5]),
    st.integers(1, 6),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=sizes,
    seed=st.integers(0, 2**16),
    inhibitory=st.sampled_from([0.0, 0.3]),
    delay=st.sampled_from([0.0, 0.0003]),
)
def test_laid_out_blocks_give_the_same_spikes_and_eligibilities(sizes, seed, inhibitory, delay):
    n_in, n_hid, n_out = sizes
    network = spikesim.layered(
        [n_in, n_hid, n_out],
        weight_mean=[3.0 / n_in, 3.0 / max(n_hid, 1)],
        inhibitory_fraction=inhibitory,
        delay=delay,
        seed=seed,
    )
    plain = event_net(network)
    net, perm = laid_out(network)
    assert np.array_equal(np.sort(perm), np.arange(network.n_edges))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    w_signed = signed_weights(network, network.weight)
    ptr, times = _inputs(network, np.random.default_rng(seed))
    s0, c0, b0 = _run(plain, w_signed, ptr, times)
    s1, c1, b1 = _run(net, np.ascontiguousarray(w_signed[perm]), ptr, times)
    assert np.array_equal(c0, c1) and np.array_equal(s0, s1)
    assert np.array_equal(b0.view(np.int64), b1.view(np.int64))
    # eligibilities: the factorised form (c = 100/s) and the direct one (c * T > 600)
    for c in (100.0, 7000.0):
        e0 = np.empty(network.n_edges)
        e1 = np.empty(network.n_edges)
        _eligibility_kernel(plain, s0, c0, b0, DURATION, c, e0)
        _eligibility_kernel(net, s1, c1, b1, DURATION, c, e1)
        assert np.array_equal(e1[inv].view(np.int64), e0.view(np.int64))
        # the kernel's own sorted arrivals (the trainer's path) instead of gathering again
        for nt, w in ((plain, w_signed), (net, np.ascontiguousarray(w_signed[perm]))):
            sp = simulate_trial(
                nt, w, np.zeros(0), np.zeros(0, np.int64), ptr, times, DURATION,
                np.full(network.n_neurons, -1, np.int64), np.zeros(0), np.zeros((0, 0)), True,
            )  # fmt: skip
            assert sp.arrivals.ptr.shape == (nt.blocks.shape[0],)
            e2 = np.empty(network.n_edges)
            eligibility_kernel(nt, sp.start, sp.count, sp.buf, sp.arrivals, DURATION, c, e2)
            e_ref = e0 if nt is plain else e1
            assert np.array_equal(e2.view(np.int64), e_ref.view(np.int64))


def test_layout_is_the_scan_order_and_the_reference_agrees():
    """Edge ``L + fan * c0 + q * nc + jj`` of a laid-out block is slot ``q`` of its neuron
    ``c0 + jj`` (chunks of SCAN_CHUNK); and the laid-out eligibilities, taken back to the
    network's numbering, equal the slow reference's."""
    network = spikesim.layered(
        [12, SCAN_CHUNK + 9, 5], weight_mean=[0.4, 0.02], inhibitory_fraction=0.2, seed=4
    )
    net, perm = laid_out(network)
    plain = event_net(network)
    laid = np.flatnonzero(net.layout >= 0)
    assert laid.size == 2  # the hidden and the output layer; the input block is not laid out
    for b in laid:
        oi, ob = net.blocks[b], net.blocks[b + 1]
        vec = net.order[oi:ob]
        fan = net.in_ptr[vec[0] + 1] - net.in_ptr[vec[0]]
        for c0 in range(0, ob - oi, SCAN_CHUNK):
            nc = min(SCAN_CHUNK, ob - oi - c0)
            for jj in range(nc):
                j = vec[c0 + jj]
                slots = net.in_edges[net.in_ptr[j] : net.in_ptr[j + 1]]
                expect = net.layout[b] + fan * c0 + np.arange(fan) * nc + jj
                assert np.array_equal(slots, expect)
                # the same presynaptic neuron in the same slot as in the network's numbering
                orig = plain.in_edges[plain.in_ptr[j] : plain.in_ptr[j + 1]]
                assert np.array_equal(perm[slots], orig)
    w_signed = signed_weights(network, network.weight)
    ptr, times = _inputs(network, np.random.default_rng(1), rate=80.0)
    start, count, buf = _run(net, np.ascontiguousarray(w_signed[perm]), ptr, times)
    assert count[network.outputs].sum() > 0
    e = np.empty(network.n_edges)
    _eligibility_kernel(net, start, count, buf, DURATION, 100.0, e)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    nn = np.repeat(np.arange(network.n_neurons), count)
    tt = np.concatenate([buf[start[j] : start[j] + count[j]] for j in range(network.n_neurons)])
    order = np.lexsort((nn, tt))
    rec = SpikeRecord(
        times=tt[order], neurons=nn[order], n_neurons=network.n_neurons, duration=DURATION
    )
    np.testing.assert_allclose(
        e[inv], eligibility_reference(network, rec, 100.0), rtol=1e-9, atol=1e-12
    )
