"""Network construction and validation: every bad input names the offending value."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim import ValidationError


def example(**over):
    kw = dict(
        n_neurons=5,
        pre=[0, 1, 2, 3],
        post=[2, 2, 4, 4],
        weight=[0.6, 0.7, 1.2, 0.4],
        delay=[0.0, 0.001, 0.002, 0.0],
        inputs=[0, 1, 3],
        outputs=[4],
        tau_syn=0.01,
        threshold=1.0,
        t_ref=0.002,
    )
    kw.update(over)
    return spikesim.Network(**kw)


def test_example_builds_and_exposes_structure():
    net = example()
    assert net.n_edges == 4
    assert list(net.inputs) == [0, 1, 3]
    assert set(net.incoming(2)) == {0, 1}
    assert list(net.depth()) == [0, 0, 1, 0, 2]
    pos = {int(v): k for k, v in enumerate(net.order)}
    for a, b in zip(net.pre, net.post, strict=True):
        assert pos[int(a)] < pos[int(b)]
    assert net.tau_syn.shape == (5,) and np.all(net.threshold == 1.0)


def test_cycle_is_named():
    with pytest.raises(
        ValidationError, match=r"cycle: (2 -> 4 -> 5 -> 2|4 -> 5 -> 2 -> 4|5 -> 2 -> 4 -> 5)"
    ):
        spikesim.Network(
            n_neurons=6,
            pre=[0, 2, 4, 5],
            post=[2, 4, 5, 2],
            weight=[1, 1, 1, 1],
            inputs=[0],
            outputs=[5],
        )


def test_self_loop_is_a_cycle():
    with pytest.raises(ValidationError, match="cycle: 1 -> 1"):
        spikesim.Network(n_neurons=2, pre=[0, 1], post=[1, 1], weight=[1, 1], inputs=[0])


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(post=[2, 2, 4, 1]), "goes into input neuron 1"),
        (dict(delay=[0.0, -0.001, 0.0, 0.0]), r"delay\[1\] = -0.001 is negative"),
        (dict(weight=[0.6, -0.7, 1.2, 0.4]), r"weight\[1\] = -0.7 is negative"),
        (dict(weight=[0.6, np.nan, 1.2, 0.4]), r"weight\[1\] is nan"),
        (dict(delay=[0.0, np.inf, 0.0, 0.0]), r"delay\[1\] is inf"),
        (dict(post=[2, 2, 4]), "post must have length 4"),
        (dict(weight=[0.6, 0.7]), "weight must have length 4"),
        (dict(pre=[0, 1, 2, 9]), r"pre\[3\] = 9 is not a neuron"),
        (dict(sign=[1, 0, 1, 1]), r"sign\[1\] = 0; signs must be \+1 or -1"),
        (dict(tau_syn=0.0), "tau_syn of neuron 0 is 0.0"),
        (dict(threshold=[1, 1, -1, 1, 1]), "threshold of neuron 2 is -1.0"),
        (dict(t_ref=np.nan), r"t_ref\[0\] is nan"),
        (dict(inputs=[0, 7]), "inputs contains 7"),
        (dict(n_neurons=0), "n_neurons must be a positive integer"),
    ],
)
def test_bad_input_is_named(over, message):
    with pytest.raises(ValidationError, match=message):
        example(**over)


def test_layered_dense_and_sparse():
    net = spikesim.layered([20, 7, 3], seed=1)
    assert net.n_edges == 20 * 7 + 7 * 3
    assert [g.size for g in net.groups()] == [20, 7, 3]
    sparse = spikesim.layered([200, 50, 10], p_connect=0.2, seed=1)
    frac = sparse.n_edges / (200 * 50 + 50 * 10)
    assert 0.17 < frac < 0.23
    assert np.all(sparse.weight > 0)
    inh = spikesim.layered([200, 50], inhibitory_fraction=0.5, seed=0)
    assert 0.4 < np.mean(inh.sign == -1) < 0.6
    with pytest.raises(ValidationError, match="p_connect"):
        spikesim.layered([3, 2], p_connect=0.0)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(3, 30),
    n_in=st.integers(1, 3),
    n_out=st.integers(1, 3),
    p=st.floats(0, 1),
    seed=st.integers(0, 2**31),
)
def test_random_dag_is_acyclic_and_inputs_have_no_incoming(n, n_in, n_out, p, seed):
    if n_in + n_out > n:
        with pytest.raises(ValidationError):
            spikesim.random_dag(n, n_inputs=n_in, n_outputs=n_out, p_edge=p, seed=seed)
        return
    net = spikesim.random_dag(n, n_inputs=n_in, n_outputs=n_out, p_edge=p, seed=seed)
    assert not np.any(net.is_input[net.post])
    pos = np.empty(n, int)
    pos[net.order] = np.arange(n)
    assert np.all(pos[net.pre] < pos[net.post])


def test_with_weights_and_check_weights():
    net = example()
    w = np.array([1.0, 2.0, 3.0, 4.0])
    assert np.array_equal(net.with_weights(w).weight, w)
    assert net.with_weights(w).structure_key() == net.structure_key()
    with pytest.raises(ValidationError, match=r"weights\[2\] = -3.0 is negative"):
        net.check_weights([1.0, 2.0, -3.0, 4.0])
    with pytest.raises(ValidationError, match="weights must have length 4"):
        net.check_weights([1.0])


def test_arrays_record_is_the_public_structure():
    net = spikesim.layered([3, 4, 2], inhibitory_fraction=0.3, delay=0.001, seed=2)
    a = net.arrays()
    assert isinstance(a, spikesim.graph.NetworkArrays)
    for j in range(net.n_neurons):
        np.testing.assert_array_equal(a.in_edges[a.in_ptr[j] : a.in_ptr[j + 1]], net.incoming(j))
        np.testing.assert_array_equal(a.out_edges[a.out_ptr[j] : a.out_ptr[j + 1]], net.outgoing(j))
    np.testing.assert_array_equal(a.order, net.order)
    np.testing.assert_array_equal(a.weight, net.weight)
    assert a.delay.shape == (net.n_edges,) and a.tau_syn.shape == (net.n_neurons,)
    for arr in a:
        assert not arr.flags.writeable


def test_layered_builders_share_one_edge_layout():
    from spikesim.graph import layer_edges
    from spikesim.plasticity.tasks import ei_network

    offsets, layers, transitions = layer_edges([3, 4, 2])
    np.testing.assert_array_equal(offsets, [0, 3, 7, 9])
    pre, post = transitions[0]
    # post-major: the 3 edges into neuron 3 first, each from 0, 1, 2
    np.testing.assert_array_equal(pre[:6], [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(post[:6], [3, 3, 3, 4, 4, 4])
    dense = spikesim.layered([3, 4, 2], seed=0)
    signed = ei_network([3, 4, 2], w_exc=0.2, w_inh=0.1, ei_pairs=False, seed=0)
    pairs = ei_network([3, 4, 2], w_exc=0.2, w_inh=0.1, seed=0)
    for net in (dense, signed):
        np.testing.assert_array_equal(net.pre, np.concatenate([t[0] for t in transitions]))
        np.testing.assert_array_equal(net.post, np.concatenate([t[1] for t in transitions]))
        assert [g.tolist() for g in net.layers] == [g.tolist() for g in layers]
    np.testing.assert_array_equal(pairs.pre[::2], dense.pre)
    np.testing.assert_array_equal(pairs.sign[:4], [1, -1, 1, -1])
