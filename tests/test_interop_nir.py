"""NIR export/import: round trips give the same spikes, files work, foreign shapes import,
and what is not the spikesim model is refused with the node named."""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.errors import ValidationError

nir = pytest.importorskip("nir", reason="the optional extra 'nir' is not installed")

from spikesim.interop import NIRExportWarning  # noqa: E402


def _export(net):
    """to_nir, asserting the refractory-period warning exactly when some t_ref > 0."""
    ctx = (
        pytest.warns(NIRExportWarning, match="refractory")
        if np.any(net.t_ref > 0)
        else contextlib.nullcontext()
    )
    with ctx:
        return spikesim.to_nir(net)


@st.composite
def networks(draw):
    seed = draw(st.integers(0, 2**31))
    t_ref = draw(st.sampled_from([0.0, 0.002]))
    tau = draw(st.sampled_from([0.005, 0.01, 0.02]))
    if draw(st.booleans()):
        sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
        return spikesim.layered(
            sizes,
            delay=draw(st.sampled_from([0.0, 0.001])),
            inhibitory_fraction=draw(st.sampled_from([0.0, 0.3])),
            tau_syn=tau,
            t_ref=t_ref,
            p_connect=draw(st.sampled_from([0.5, 1.0])),
            seed=seed,
        )
    n = draw(st.integers(3, 12))
    n_in = draw(st.integers(1, n - 2))
    return spikesim.random_dag(
        n,
        n_inputs=n_in,
        n_outputs=draw(st.integers(1, n - n_in)),
        p_edge=draw(st.sampled_from([0.2, 0.5])),
        delay_range=draw(st.sampled_from([(0.0, 0.0), (0.0, 0.003)])),
        tau_syn=tau,
        t_ref=t_ref,
        seed=seed,
    )


def _drive(net, seed):
    rng = np.random.default_rng(seed)
    m = 6 * net.inputs.size
    t = np.sort(rng.uniform(0.0, 0.05, m))
    return t, rng.choice(net.inputs, m)


def _same_spikes(a, b):
    assert a.n_spikes == b.n_spikes
    for x, y in zip(a.trains(), b.trains(), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def _edge_table(net):
    """(pre, post, delay) -> summed signed weight: the network up to edge order."""
    table = {}
    for p, q, d, w in zip(net.pre, net.post, net.delay, net.signed_weight, strict=True):
        table[(int(p), int(q), float(d))] = table.get((int(p), int(q), float(d)), 0.0) + w
    return {k: v for k, v in table.items() if v != 0}


@settings(max_examples=40, deadline=None)
@given(net=networks(), seed=st.integers(0, 1000))
def test_round_trip_gives_the_same_spikes(net, seed):
    back = spikesim.from_nir(_export(net))
    assert back.n_neurons == net.n_neurons
    np.testing.assert_array_equal(back.inputs, net.inputs)
    np.testing.assert_array_equal(back.outputs, net.outputs)
    for name in ("tau_syn", "threshold", "t_ref"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    table, back_table = _edge_table(net), _edge_table(back)
    assert back_table.keys() == table.keys()
    for k, v in table.items():
        assert back_table[k] == pytest.approx(v, rel=1e-12)
    drive = _drive(net, seed)
    _same_spikes(spikesim.simulate(net, drive, 0.1), spikesim.simulate(back, drive, 0.1))


@settings(max_examples=10, deadline=None)
@given(net=networks())
def test_nir_write_and_read(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("nir") / "net.nir"
    nir.write(path, _export(net))
    back = spikesim.from_nir(nir.read(path))
    for name in ("tau_syn", "threshold", "t_ref", "inputs", "outputs"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    if net.layers is not None:
        assert [g.tolist() for g in back.layers] == [g.tolist() for g in net.layers]
    drive = _drive(net, 1)
    _same_spikes(spikesim.simulate(net, drive, 0.1), spikesim.simulate(back, drive, 0.1))


def test_export_mapping_of_a_layered_network():
    net = spikesim.layered([3, 2], delay=0.001, t_ref=0.0, tau_syn=0.02, threshold=0.7)
    g = _export(net)
    lif = g.nodes["lif_0"]
    # tau = r = tau_syn so that a Linear weight is the jump of v (R / tau = 1)
    np.testing.assert_array_equal(lif.tau, [0.02, 0.02])
    np.testing.assert_array_equal(lif.r, lif.tau)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_array_equal(lif.v_reset, 0.0)
    np.testing.assert_array_equal(lif.v_threshold, [0.7, 0.7])
    np.testing.assert_array_equal(g.nodes["d_0_1"].delay, [0.001] * 3)
    w = np.zeros((2, 3))
    w[net.post - 3, net.pre] = net.signed_weight
    np.testing.assert_array_equal(g.nodes["w_0_1"].weight, w)
    assert ("input", "d_0_1") in g.edges and ("lif_0", "output") in g.edges


def test_export_without_refractory_period_does_not_warn():
    import warnings

    net = spikesim.layered([2, 2], t_ref=0.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spikesim.to_nir(net)
    assert caught == []
    with warnings.catch_warnings(record=True) as caught:  # the same network with a t_ref
        warnings.simplefilter("always")
        spikesim.to_nir(spikesim.layered([2, 2], t_ref=0.002))
    assert [type(w.message).__name__ for w in caught] == ["NIRExportWarning"]


# -- graphs written by other frameworks ------------------------------------------------------


def _snntorch_shape(beta=0.9, dt=1e-4, bias=0.0, seed=0):
    """Input -> Affine -> LIF -> Affine -> LIF -> Output, LIF as snnTorch's Leaky exports it
    (tau = dt / (1 - beta), r = tau / dt, v_leak = 0)."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(0, 0.5, (4, 3)), rng.normal(0, 0.5, (2, 4))
    tau1, tau2 = np.full(4, dt / (1 - beta)), np.full(2, dt / (1 - beta))

    def lif(tau, thr):
        return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros_like(tau), v_threshold=thr)

    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "fc1": nir.Affine(weight=w1, bias=np.full(4, bias)),
        "lif1": lif(tau1, np.full(4, 1.0)),
        "fc2": nir.Affine(weight=w2, bias=np.zeros(2)),
        "lif2": lif(tau2, np.full(2, 0.5)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2")]
    edges.append(("lif2", "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges), (w1, w2, tau1, tau2, dt)


def test_import_snntorch_shape_scales_weights_by_r_over_tau():
    g, (w1, w2, tau1, tau2, dt) = _snntorch_shape()
    net = spikesim.from_nir(g)
    assert net.n_neurons == 9
    np.testing.assert_array_equal(net.inputs, [0, 1, 2])
    np.testing.assert_array_equal(net.outputs, [7, 8])
    np.testing.assert_allclose(net.tau_syn[3:], np.concatenate([tau1, tau2]))
    np.testing.assert_array_equal(net.threshold[3:], [1, 1, 1, 1, 0.5, 0.5])
    np.testing.assert_array_equal(net.t_ref, 0.0)  # NIR's LIF has no refractory period
    # the jump of v per unit input is r / tau = 1 / dt (the NIR LIF equation)
    expected = {}
    for (q, p), w in np.ndenumerate(w1):
        expected[(p, 3 + q, 0.0)] = w / dt
    for (q, p), w in np.ndenumerate(w2):
        expected[(3 + p, 7 + q, 0.0)] = w / dt
    got = _edge_table(net)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-9)


def test_import_norse_shape_linear_and_delay():
    """Input -> Linear -> LIF (Norse's LIFBoxCell-style continuous tau) with a Delay."""
    tau = np.array([0.01, 0.02])
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2])}),
        "delay": nir.Delay(delay=np.array([0.001, 0.002])),
        "lin": nir.Linear(weight=np.array([[0.5, 0.0], [0.25, 2.0]])),
        "lif": nir.LIF(tau=tau, r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
        "out": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("in", "delay"), ("delay", "lin"), ("lin", "lif"), ("lif", "out")]
    net = spikesim.from_nir(nir.NIRGraph(nodes=nodes, edges=edges))
    assert _edge_table(net) == {
        (0, 2, 0.001): 0.5 / 0.01,
        (0, 3, 0.001): 0.25 / 0.02,
        (1, 3, 0.002): 2.0 / 0.02,
    }
    # closed form: one spike of input 0 at 1 ms arrives at 2 ms with jumps 50 and 12.5
    rec = spikesim.simulate(net, (np.array([0.001]), np.array([0])), 0.01)
    np.testing.assert_allclose(rec.spikes_of(2), [0.002])
    np.testing.assert_allclose(rec.spikes_of(3), [0.002])


def test_imported_threshold_jump_closed_form():
    """A single input spike fires the LIF iff its jump a * r / tau reaches the threshold."""
    for a, fires in ((0.999, False), (1.0, True)):
        tau = np.array([0.01])
        nodes = {
            "in": nir.Input(input_type={"input": np.array([1])}),
            "lin": nir.Linear(weight=np.array([[a * 0.01 / 0.5]])),
            "lif": nir.LIF(tau=tau, r=np.array([0.5]), v_leak=np.zeros(1), v_threshold=np.ones(1)),
        }
        net = spikesim.from_nir(nir.NIRGraph(nodes=nodes, edges=[("in", "lin"), ("lin", "lif")]))
        rec = spikesim.simulate(net, (np.array([0.0]), np.array([0])), 0.01)
        assert (rec.spikes_of(1).size == 1) is fires


def _one_lif(node):
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2])}),
        "lin": nir.Linear(weight=np.eye(2)),
        "neuron": node,
        "out": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("in", "lin"), ("lin", "neuron"), ("neuron", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _lif(**kw):
    args = dict(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    args.update(kw)
    return nir.LIF(**args)


@pytest.mark.parametrize(
    "node, match",
    [
        (
            nir.CubaLIF(
                tau_syn=np.full(2, 0.005),
                tau_mem=np.full(2, 0.01),
                r=np.ones(2),
                v_leak=np.zeros(2),
                v_threshold=np.ones(2),
            ),
            "'neuron' is a CubaLIF: .*synaptic time constant",
        ),
        (
            nir.CubaLIF(
                tau_syn=np.full(2, 0.01),
                tau_mem=np.full(2, 0.01),
                r=np.ones(2),
                v_leak=np.zeros(2),
                v_threshold=np.ones(2),
            ),
            "'neuron' is a CubaLIF: .*alpha function",
        ),
        (_lif(v_leak=np.full(2, 0.1)), "'neuron': v_leak\\[0\\] = 0.1; must be 0"),
        (_lif(v_reset=np.array([0.0, -0.5])), "'neuron': v_reset\\[1\\] = -0.5; must be 0"),
        (_lif(metadata={"reset_mechanism": "subtract"}), "'neuron': .*soft .*reset"),
        (_lif(metadata={"beta": 0.9}), "'neuron': .*time-discretised leak"),
        (nir.IF(r=np.ones(2), v_threshold=np.ones(2)), "'neuron' is a IF: .*no leak"),
        (nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)), "'neuron' is a LI: .*spike"),
    ],
)
def test_not_the_spikesim_model_is_refused_naming_the_node(node, match):
    with pytest.raises(ValidationError, match=match):
        spikesim.from_nir(_one_lif(node))


def test_affine_bias_and_current_outputs_are_refused():
    g, _ = _snntorch_shape(bias=0.1)
    with pytest.raises(ValidationError, match="'fc1': Affine bias is nonzero"):
        spikesim.from_nir(g)
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2])}),
        "lin": nir.Linear(weight=np.eye(2)),
        "lif": _lif(),
        "readout": nir.Linear(weight=np.ones((1, 2))),
        "out": nir.Output(output_type={"output": np.array([1])}),
    }
    edges = [("in", "lin"), ("lin", "lif"), ("lif", "readout"), ("readout", "out")]
    with pytest.raises(ValidationError, match="'out': output channel 0 is not exactly one"):
        spikesim.from_nir(nir.NIRGraph(nodes=nodes, edges=edges))


def test_recurrence_is_refused():
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2])}),
        "lin": nir.Linear(weight=np.eye(2)),
        "lif": _lif(),
        "rec": nir.Linear(weight=np.eye(2)),
        "out": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("in", "lin"), ("lin", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")]
    with pytest.raises(ValidationError, match="cycle"):
        spikesim.from_nir(nir.NIRGraph(nodes=nodes, edges=edges))


def test_a_network_nir_cannot_hold_is_a_validation_error():
    net = spikesim.Network(1, [], [], [], inputs=[0], t_ref=0.0)  # an Input and nothing else
    with pytest.raises(ValidationError, match="NIR cannot represent Network"):
        spikesim.to_nir(net)


def test_not_a_graph_is_refused():
    with pytest.raises(ValidationError, match="nir.NIRGraph"):
        spikesim.from_nir({"nodes": {}})
    with pytest.raises(ValidationError, match="spikesim.Network"):
        spikesim.to_nir("net")
