"""Local receptive fields (``spikesim.receptive``): the convolution's connectivity, the
spiking hidden layer that ``ei_network(receptive=...)`` builds from it, ``network.receptive``
of the ``spiking`` kind, and the one definition shared with the rate learners' conv layers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesim.cli import main
from spikesim.errors import ConfigError, ValidationError
from spikesim.plasticity.tasks import ei_network
from spikesim.rate import _conv
from spikesim.receptive import conv_edges, receptive_field, same_padding


def slow_pairs(h, w, c_in, c_out, kh, kw):
    """Reference: the (input unit, output unit) pairs of a size-keeping stride-1
    convolution, by a plain loop over every output unit and its window (SAME padding: the
    window of output (i, j) starts (kh - 1) // 2 rows above and (kw - 1) // 2 columns left)."""
    out = set()
    for i in range(h):
        for j in range(w):
            for co in range(c_out):
                q = (i * w + j) * c_out + co
                for r in range(i - (kh - 1) // 2, i - (kh - 1) // 2 + kh):
                    for s in range(j - (kw - 1) // 2, j - (kw - 1) // 2 + kw):
                        if 0 <= r < h and 0 <= s < w:
                            for ch in range(c_in):
                                out.add(((r * w + s) * c_in + ch, q))
    return out


@st.composite
def geometries(draw):
    h = draw(st.integers(1, 6))
    w = draw(st.integers(1, 6))
    kh = draw(st.integers(1, h))
    kw = draw(st.integers(1, w))
    return h, w, draw(st.integers(1, 3)), draw(st.integers(1, 3)), kh, kw


@settings(max_examples=60, deadline=None)
@given(geometries())
def test_conv_edges_are_the_windows_of_the_convolution(geom):
    h, w, c_in, c_out, kh, kw = geom
    pre, post = conv_edges(*geom)
    pairs = list(zip(pre.tolist(), post.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))  # each pair once
    assert set(pairs) == slow_pairs(*geom)
    # post-major, the inputs of one output ascending
    assert np.all(np.diff(post) >= 0)
    same = np.diff(post) == 0
    assert np.all(np.diff(pre)[same] > 0)
    # the rate learners' conv connectivity is the same set ...
    g = _conv.build_plan(f"conv {c_out} {kh}x{kw}", (h, w, c_in), 2)[0].geometry
    csr = _conv.connectivity_matrix(g).tocoo()
    assert set(zip(csr.row.tolist(), csr.col.tolist(), strict=True)) == set(pairs)
    # ... and the nonzeros of the convolution itself (im2col + positive weights) as a matrix
    rng = np.random.default_rng(0)
    wk = rng.uniform(0.5, 1.0, (g.patch, c_out))
    n_in = h * w * c_in
    dense = np.stack(
        [(_conv.im2col(e.reshape(1, h, w, c_in), g) @ wk).reshape(-1) for e in np.eye(n_in)]
    )
    rows, cols = np.nonzero(dense)
    assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == set(pairs)
    assert int(_conv.connectivity(g).sum()) * c_out == len(pairs)


@settings(max_examples=40, deadline=None)
@given(geometries(), st.integers(0, 2), st.booleans())
def test_spiking_receptive_layer_has_exactly_the_conv_edges(geom, n_bias, ei_pairs):
    h, w, c_in, c_out, kh, kw = geom
    rf = receptive_field([h, w, c_in], [kh, kw], c_out)
    n_pix, n_hid, n_out = h * w * c_in, h * w * c_out, 3
    net = ei_network(
        [n_pix + n_bias, n_hid, n_out],
        w_exc=[0.3, 0.2],
        w_inh=[0.1, 0.05],
        ei_pairs=ei_pairs,
        receptive=rf,
        bias_inputs=n_bias,
        seed=1,
    )
    inputs, hidden, outputs = net.layers
    into_hidden = np.isin(net.post, hidden)
    got = list(
        zip(
            net.pre[into_hidden].tolist(), (net.post[into_hidden] - hidden[0]).tolist(), strict=True
        )
    )
    per_pair = 2 if ei_pairs else 1
    ref = slow_pairs(*geom) | {(n_pix + b, q) for b in range(n_bias) for q in range(n_hid)}
    assert len(got) == per_pair * len(ref)
    assert set(got) == ref
    if ei_pairs:  # an excitatory and an inhibitory edge per pair, as in the dense network
        np.testing.assert_array_equal(net.sign[into_hidden], np.tile([1, -1], len(ref)))
        np.testing.assert_array_equal(net.pre[into_hidden][0::2], net.pre[into_hidden][1::2])
        wt = net.weight[into_hidden].reshape(-1, 2)
        assert np.all((wt[:, 0] >= 0.15) & (wt[:, 0] <= 0.45))  # 0.3 * [0.5, 1.5]
        assert np.all((wt[:, 1] >= 0.05) & (wt[:, 1] <= 0.15))
    # the later layer stays dense
    rest = list(zip(net.pre[~into_hidden].tolist(), net.post[~into_hidden].tolist(), strict=True))
    assert set(rest) == {(int(a), int(b)) for a in hidden for b in outputs}
    assert len(rest) == per_pair * n_hid * n_out
    assert np.isin(net.pre[into_hidden], inputs).all()


def test_modular_and_skip_keep_working_with_a_receptive_layer():
    rf = receptive_field([4, 4, 1], 3, 2)  # 32 hidden neurons
    kw = dict(w_exc=[0.3, 0.2], w_inh=[0.1, 0.05], receptive=rf, bias_inputs=1, seed=4)
    plain = ei_network([17, 32, 4], **kw)
    mod = ei_network([17, 32, 4], modules=2, skip=(0.1, 0.05), **kw)
    _, hidden, outputs = mod.layers
    key = lambda n, m: set(zip(n.pre[m].tolist(), n.post[m].tolist(), strict=True))  # noqa: E731
    # the receptive transition is unchanged by modules and skip
    assert key(mod, np.isin(mod.post, hidden)) == key(plain, np.isin(plain.post, hidden))
    # hidden -> output pooled: hidden neurons 0..15 feed outputs 0, 1; 16..31 outputs 2, 3
    from_hidden = np.isin(mod.pre, hidden)
    pool = lambda idx, layer, n: (idx - layer[0]) * 2 // n  # noqa: E731
    assert np.all(pool(mod.pre[from_hidden], hidden, 32) == pool(mod.post[from_hidden], outputs, 4))
    skip = np.isin(mod.pre, mod.inputs) & np.isin(mod.post, outputs)
    assert key(mod, skip) == {(int(a), int(b)) for a in mod.inputs for b in outputs}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (([8, 8, 1], 9, 2), ["kernel 9x9", "larger than the 8x8 image"]),
        (([8, 5], [3, 6], 2), ["kernel 3x6", "8x5"]),
        (([8, 8, 1], 3, 0), ["channels", "got 0"]),
        (([8, 8, 1], 3, 1.5), ["channels", "1.5"]),
        (([8, 0, 1], 3, 2), ["image", "[8, 0, 1]"]),
        (([8, 8, 1, 1], 3, 2), ["image", "2 or 3"]),
        (([8, 8, 1], [3, 3, 3], 2), ["kernel", "[3, 3, 3]"]),
    ],
)
def test_bad_receptive_fields_are_refused_naming_the_value(args, words):
    with pytest.raises(ValidationError) as exc:
        receptive_field(*args)
    for word in words:
        assert word in str(exc.value)


def test_ei_network_refuses_sizes_that_do_not_fit_the_receptive_field():
    rf = receptive_field([4, 4], 3, 2)
    kw = dict(w_exc=0.2, w_inh=0.1, receptive=rf)
    with pytest.raises(ValidationError, match=r"4x4x1 image has 16 pixels.*sizes\[0\] = 17"):
        ei_network([17, 32, 2], **kw)  # one more input than pixels, no bias_inputs
    with pytest.raises(ValidationError, match=r"32 neurons, but sizes\[1\] = 30"):
        ei_network([17, 30, 2], bias_inputs=1, **kw)
    with pytest.raises(ValidationError, match="need a hidden layer"):
        ei_network([16, 32], **kw)
    with pytest.raises(ValidationError, match="bias_inputs = 1 only applies with receptive"):
        ei_network([17, 32, 2], w_exc=0.2, w_inh=0.1, bias_inputs=1)
    with pytest.raises(ValidationError, match="must be a ReceptiveField"):
        ei_network([17, 32, 2], w_exc=0.2, w_inh=0.1, receptive=([4, 4, 1], 3, 2))


def test_same_padding_is_the_rate_learners_padding():
    for k in range(1, 8):
        g = _conv.build_plan(f"conv 1 {k}x{k}", (9, 9, 1), 2)[0].geometry
        assert g.pad_top == g.pad_left == same_padding(k) == (k - 1) // 2


# -- the spiking kind ---------------------------------------------------------------------
EXP = """
[experiment]
name = "tiny-receptive"
kind = "spiking"
seed = 2

[task]
dataset = "spike-pattern"
n_train = 100
n_test = 40

[network]
sizes = [16, 32, 2]
bias_inputs = 1
w_exc = [0.4, 0.1]
w_inh = [0.2, 0.05]
receptive = {image = [4, 4, 1], kernel = 3, channels = 2}

[encoding]
kind = "regular"

[loss]
split = "class"

[rule]
baseline = "per-sample"
beta = 0.3

[train]
trials = 3000
chunk = 500
eval_every = 1000
plots = false
"""


def test_a_spiking_experiment_with_a_receptive_hidden_layer_trains(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(EXP)
    out = tmp_path / "run"
    assert main(["train", str(exp), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["final"]["trials"] == 3000
    assert 0.0 <= res["final"]["test_accuracy"] <= 1.0
    assert np.isfinite(res["final"]["test_loss"])
    from spikesim import load_run

    net = load_run(out).network
    _, hidden, _ = net.layers
    into = np.isin(net.post, hidden)
    ref = slow_pairs(4, 4, 1, 2, 3, 3) | {(16, q) for q in range(32)}
    assert (
        set(zip(net.pre[into].tolist(), (net.post[into] - hidden[0]).tolist(), strict=True)) == ref
    )
    with np.load(out / "weights.npz") as z:
        assert np.any(z["w_final"][into] != z["w_init"][into])  # the receptive layer learns
    # frozen_layers = [1] keeps the receptive layer's weights
    out2 = tmp_path / "frozen"
    assert main(["train", str(exp), "--out", str(out2), "--set", "rule.frozen_layers=[1]",
                 "--set", "train.trials=1000"]) == 0  # fmt: skip
    with np.load(out2 / "weights.npz") as z:
        np.testing.assert_array_equal(z["w_final"][into], z["w_init"][into])
        assert np.any(z["w_final"][~into] != z["w_init"][~into])


@pytest.mark.parametrize(
    ("sets", "pattern"),
    [
        (
            ["network.receptive={image=[4,4,1],kernel=5,channels=2}"],
            r"^network.receptive = .*kernel 5x5 is larger than the 4x4 image",
        ),
        (
            ["network.receptive={image=[4,4,1],kernel=3,channels=0}"],
            r"^network.receptive = .*channels must be an integer >= 1, got 0",
        ),
        (
            ["network.receptive={image=[4,5,1],kernel=3,channels=2}", "network.sizes=[16,40,2]"],
            r"the 4x5x1 image has 20 pixels but network.sizes\[0\] = 16 inputs",
        ),
        (
            ["network.sizes=[16,30,2]"],
            r"2 channels over the 4x4 image make 32 neurons but network.sizes\[1\] = 30",
        ),
        (["network.sizes=[16,2]"], r"needs a hidden layer, got network.sizes = \[16, 2\]"),
        (
            ["network.receptive={image=[4,4,1],kernel=3,channel=2}"],
            r"unknown \['channel'\]",
        ),
        (["network.receptive=3"], r"^network.receptive must be a"),
    ],
)
def test_network_receptive_config_errors_name_the_value(tmp_path, sets, pattern):
    from spikesim.experiments.config import load

    exp = tmp_path / "exp.toml"
    exp.write_text(EXP)
    with pytest.raises(ConfigError, match=pattern):
        load(exp, overrides=sets)


def test_network_receptive_empty_is_the_dense_network(tmp_path):
    from spikesim.experiments.config import load
    from spikesim.experiments.kinds.spiking import build

    exp = tmp_path / "exp.toml"
    exp.write_text(EXP)
    cfg = load(exp, overrides=["network.receptive={}"])
    net = build(cfg)["network"]
    ref = ei_network([17, 32, 2], w_exc=[0.4, 0.1], w_inh=[0.2, 0.05], seed=2)
    np.testing.assert_array_equal(net.pre, ref.pre)
    np.testing.assert_array_equal(net.post, ref.post)
    np.testing.assert_array_equal(net.weight, ref.weight)
