"""How networks are built and stored (issue 18 item 8): dense layers filled in place,
int32 ids, uniform delays and signs as stride-0 views, the CSR orders and the topological
order from compiled kernels -- each against a slow obvious reference."""

import heapq

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim import ValidationError, graph
from spikesim.engines.event import signed_weights
from spikesim.engines.ticks import to_ticks


def reference_layered(sizes, p_connect, weight_spread, inhibitory_fraction, seed):
    """Enumerate every pair (post-major), draw the same random numbers one transition at a
    time with ``rng.uniform``, then the signs: the builder before issue 18."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    pre, post, weight = [], [], []
    for k in range(len(sizes) - 1):
        pairs = [
            (offsets[k] + i, offsets[k + 1] + j)
            for j in range(sizes[k + 1])
            for i in range(sizes[k])
        ]
        if p_connect < 1.0:
            keep = rng.random(len(pairs)) < p_connect
            pairs = [p for p, kept in zip(pairs, keep, strict=True) if kept]
        mean = 2.0 / (p_connect * sizes[k])
        weight += list(mean * rng.uniform(1 - weight_spread, 1 + weight_spread, len(pairs)))
        pre += [p[0] for p in pairs]
        post += [p[1] for p in pairs]
    sign = np.where(rng.random(len(pre)) < inhibitory_fraction, -1, 1)
    return np.array(pre), np.array(post), np.array(weight), sign


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4),
    p_connect=st.sampled_from([1.0, 0.7, 0.3]),
    weight_spread=st.sampled_from([0.0, 0.5, 1.0]),
    inhibitory_fraction=st.sampled_from([0.0, 0.25, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_layered_equals_the_enumeration(sizes, p_connect, weight_spread, inhibitory_fraction, seed):
    net = graph.layered(
        sizes,
        p_connect=p_connect,
        weight_spread=weight_spread,
        inhibitory_fraction=inhibitory_fraction,
        seed=seed,
    )
    pre, post, weight, sign = reference_layered(
        sizes, p_connect, weight_spread, inhibitory_fraction, seed
    )
    np.testing.assert_array_equal(net.pre, pre)
    np.testing.assert_array_equal(net.post, post)
    np.testing.assert_array_equal(net.weight, weight)  # bit for bit
    np.testing.assert_array_equal(net.sign, sign)
    assert net.pre.dtype == np.int32 and net.post.dtype == np.int32


def reference_order(n, pre, post):
    """Kahn's algorithm with Python's heapq, smallest id first."""
    indeg = [0] * n
    succ = [[] for _ in range(n)]
    for a, b in zip(pre.tolist(), post.tolist(), strict=True):
        indeg[b] += 1
        succ[a].append(b)
    ready = [v for v in range(n) if indeg[v] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        v = heapq.heappop(ready)
        order.append(v)
        for w in succ[v]:
            indeg[w] -= 1
            if indeg[w] == 0:
                heapq.heappush(ready, w)
    return order


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_order_and_csr_equal_slow_references(n, p, seed):
    net = graph.random_dag(n, n_inputs=1, n_outputs=1, p_edge=p, seed=seed)
    a = net.arrays()
    assert a.order.tolist() == reference_order(n, net.pre, net.post)
    np.testing.assert_array_equal(a.in_edges, np.argsort(net.post, kind="stable"))
    np.testing.assert_array_equal(a.out_edges, np.argsort(net.pre, kind="stable"))
    np.testing.assert_array_equal(a.in_ptr, np.r_[0, np.cumsum(np.bincount(net.post, minlength=n))])
    np.testing.assert_array_equal(a.out_ptr, np.r_[0, np.cumsum(np.bincount(net.pre, minlength=n))])


@st.composite
def tiled_keys(draw):
    """Keys made of segments (a block of consecutive keys repeated), as the sources of
    dense layers are, then perhaps broken: a key changed, segments out of order, a
    partial repeat, a segment overlapping another."""
    segs, a = [], draw(st.integers(0, 3))
    for _ in range(draw(st.integers(1, 4))):
        na, nb = draw(st.integers(1, 6)), draw(st.integers(1, 5))
        segs.append(np.tile(np.arange(a, a + na), nb))
        a += na + draw(st.integers(0, 2))
    how = draw(st.sampled_from(["tiled", "changed", "swapped", "partial", "overlap"]))
    if how == "swapped" and len(segs) > 1:
        segs[0], segs[1] = segs[1], segs[0]
    keys = np.concatenate(segs)
    if how == "changed":
        keys[draw(st.integers(0, keys.size - 1))] = draw(st.integers(0, a))
    elif how == "partial":
        keys = keys[: draw(st.integers(1, keys.size))]
    elif how == "overlap":
        keys = np.concatenate([keys, keys[: draw(st.integers(1, keys.size))]])
    return keys.astype(np.int32), a + 1


@settings(max_examples=300, deadline=None)
@given(case=tiled_keys())
def test_counting_csr_equals_a_stable_sort_on_tiled_keys(case):
    # the tiled fast path (the outgoing edges of dense layers) and its fall-back to the
    # scatter: both against numpy's stable argsort
    keys, n = case
    perm = np.full(keys.size, -1, np.int64)
    ptr = graph._counting_csr(keys, n, perm)
    np.testing.assert_array_equal(perm, np.argsort(keys, kind="stable"))
    np.testing.assert_array_equal(ptr, np.r_[0, np.cumsum(np.bincount(keys, minlength=n))])


def test_dense_layers_take_the_tiled_path():
    # the keys of a dense layered network's sources are tiled: no scatter needed
    net = graph.layered([7, 5, 3], seed=1)
    n = net.n_neurons
    perm = np.empty(net.n_edges, np.int64)
    ptr = graph._tiled_perm(net.pre, n, perm)
    np.testing.assert_array_equal(ptr, np.r_[0, np.cumsum(np.bincount(net.pre, minlength=n))])
    np.testing.assert_array_equal(perm, np.argsort(net.pre, kind="stable"))
    assert graph._tiled_perm(net.pre[::-1].copy(), n, perm).size == 0


def test_increasing_ids_order_is_the_identity_and_equals_kahn():
    # the fast path (every edge to a larger id) against the heap, on a layered network
    net = graph.layered([5, 4, 3], p_connect=0.6, seed=2)
    assert np.all(net.pre < net.post)
    assert net.order.tolist() == reference_order(net.n_neurons, net.pre, net.post)
    order, done = graph._kahn(net.n_neurons, net.post, net.arrays().out_ptr, net.arrays().out_edges)
    assert done == net.n_neurons and order.tolist() == net.order.tolist()


def test_uniform_delays_and_signs_take_no_memory_per_edge():
    net = graph.layered([30, 20], delay=0.001)
    assert net.delay.strides == (0,) and net.sign.strides == (0,)
    assert net.delay.shape == (600,) and np.all(net.delay == 0.001) and np.all(net.sign == 1)
    # the same values given per edge are stored the same way
    per_edge = spikesim.Network(
        n_neurons=3,
        pre=[0, 1],
        post=[2, 2],
        weight=[0.5, 0.5],
        delay=[0.002, 0.002],
        sign=[-1, -1],
        inputs=[0, 1],
    )
    assert per_edge.delay.strides == (0,) and per_edge.sign.strides == (0,)
    assert per_edge.delay.tolist() == [0.002, 0.002] and per_edge.sign.tolist() == [-1, -1]
    mixed = graph.random_dag(12, n_inputs=2, n_outputs=2, p_edge=0.8, seed=1)
    assert mixed.delay.strides == (8,)
    # the engine's ticks keep the view
    ticks = to_ticks(net.delay)
    assert ticks.strides == (0,) and ticks.shape == (600,) and ticks[0] == 10**9
    np.testing.assert_array_equal(to_ticks(mixed.delay), np.rint(mixed.delay * 1e12))


def test_all_excitatory_signed_weights_are_the_weights():
    net = graph.layered([6, 4])
    w = np.linspace(0.1, 0.2, net.n_edges)
    assert signed_weights(net, w) is w
    inh = graph.layered([6, 4], inhibitory_fraction=0.5, seed=3)
    np.testing.assert_array_equal(signed_weights(inh, w), inh.sign * w)


def test_the_network_owns_its_arrays():
    pre = np.array([0, 1])
    weight = np.array([0.4, 0.6])
    net = spikesim.Network(n_neurons=3, pre=pre, post=[2, 2], weight=weight, inputs=[0, 1])
    pre[0], weight[0] = 1, 9.0  # the caller's arrays stay theirs and writable
    assert net.pre.tolist() == [0, 1] and net.weight.tolist() == [0.4, 0.6]
    assert not net.weight.flags.writeable and not net.pre.flags.writeable


def test_with_weights_shares_the_structure_and_checks_the_weights():
    net = graph.random_dag(15, n_inputs=3, n_outputs=2, p_edge=0.5, seed=4)
    w = np.full(net.n_edges, 0.3)
    other = net.with_weights(w)
    assert other.pre is net.pre and other.order is net.order
    assert other.arrays().in_edges is net.arrays().in_edges
    w[0] = 5.0  # a copy was taken
    assert other.weight[0] == 0.3 and net.structure_key() == other.structure_key()
    bad = np.full(net.n_edges, 0.3)
    bad[2] = -0.1
    with pytest.raises(ValidationError, match=r"weights\[2\] = -0.1 is negative"):
        net.with_weights(bad)


def test_structure_key_does_not_depend_on_storage():
    # the same values stored per edge or as a view, int32 or int64 ids: one key
    a = spikesim.Network(
        n_neurons=3, pre=[0, 1], post=[2, 2], weight=[0.5, 0.5], delay=0.001, inputs=[0, 1]
    )
    b = spikesim.Network(
        n_neurons=3,
        pre=np.array([0, 1], np.int64),
        post=np.array([2, 2], np.int64),
        weight=[0.1, 0.2],
        delay=[0.001, 0.001],
        inputs=[0, 1],
    )
    assert a.structure_key() == b.structure_key()


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(pre=[0, 2**40]), r"pre\[1\] = 1099511627776 is out of range"),
        (dict(pre=np.array([0.0, 1.5])), r"pre\[1\] = 1.5 is not an integer"),
        (dict(weight=[0.5, np.nan]), r"weight\[1\] is nan"),
        (dict(delay=[0.0, -1e-3]), r"delay\[1\] = -0.001 is negative"),
        (dict(sign=[1, np.nan]), r"sign\[1\] = nan; signs must be \+1 or -1"),
        (dict(sign=0), r"sign = 0; signs must be \+1 or -1"),
    ],
)
def test_bad_edges_are_named(over, message):
    kw = dict(n_neurons=3, pre=[0, 1], post=[2, 2], weight=[0.5, 0.5], inputs=[0, 1])
    kw.update(over)
    with pytest.raises(ValidationError, match=message):
        spikesim.Network(**kw)
