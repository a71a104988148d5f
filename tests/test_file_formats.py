"""Record and network files round-trip bit for bit; bad files name their problem; to_neo."""

import json
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikesim
from spikesim import io
from spikesim.errors import ValidationError

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
nonneg = st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_subnormal=True)
positive = st.floats(min_value=5e-324, max_value=1e300, allow_nan=False)


@st.composite
def records(draw, with_voltage=None):
    n = draw(st.integers(1, 12))
    duration = draw(st.floats(min_value=1e-6, max_value=1e6, allow_nan=False))
    m = draw(st.integers(0, 40))
    times = np.array(
        draw(
            st.lists(
                st.floats(min_value=0.0, max_value=duration, exclude_max=True),
                min_size=m,
                max_size=m,
            )
        ),
        dtype=np.float64,
    )
    neurons = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    order = np.lexsort((neurons, times))
    kw = {}
    if with_voltage is None:
        with_voltage = draw(st.booleans())
    if with_voltage:
        n_rec = draw(st.integers(0, n))
        n_samp = draw(st.integers(0, 6))
        kw["voltage_neurons"] = np.array(
            draw(st.lists(st.integers(0, n - 1), min_size=n_rec, max_size=n_rec)), np.int64
        )
        kw["voltage_times"] = np.sort(
            np.array(draw(st.lists(nonneg, min_size=n_samp, max_size=n_samp)), np.float64)
        )
        kw["voltage"] = np.array(
            draw(st.lists(finite, min_size=n_rec * n_samp, max_size=n_rec * n_samp)),
            np.float64,
        ).reshape(n_rec, n_samp)
    return spikesim.SpikeRecord(
        times=times[order], neurons=neurons[order], n_neurons=n, duration=duration, **kw
    )


@st.composite
def networks(draw):
    n = draw(st.integers(1, 10))
    perm = np.array(draw(st.permutations(range(n))))
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=20)) if pairs else []
    n_inputs = draw(st.integers(0, n))
    # inputs: the first neurons of the order that receive no edge
    chosen = [(a, b) for a, b in chosen if b >= n_inputs]
    pre = perm[[a for a, _ in chosen]].astype(np.int64)
    post = perm[[b for _, b in chosen]].astype(np.int64)
    m = len(chosen)

    def vec(strategy, size):
        return np.array(draw(st.lists(strategy, min_size=size, max_size=size)), np.float64)

    layers = None
    if draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
        bounds = [0, *cuts, n]
        layers = [perm[bounds[k] : bounds[k + 1]] for k in range(len(bounds) - 1)]
    return spikesim.Network(
        n_neurons=n,
        pre=pre,
        post=post,
        weight=vec(nonneg, m),
        delay=vec(nonneg, m),
        sign=np.array(draw(st.lists(st.sampled_from([-1, 1]), min_size=m, max_size=m))),
        inputs=perm[:n_inputs],
        outputs=perm[n - draw(st.integers(0, n)) :],
        tau_syn=vec(positive, n),
        threshold=vec(positive, n),
        t_ref=vec(nonneg, n),
        layers=layers,
    )


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


ROUNDTRIP = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@ROUNDTRIP
@given(rec=records())
def test_record_round_trips_bit_for_bit(tmp_path, rec):
    path = tmp_path / "rec.npz"
    io.save_record(path, rec, info={"trial": 7})
    back = io.load_record(path)
    assert back.n_neurons == rec.n_neurons and isinstance(back.n_neurons, int)
    assert np.float64(back.duration).tobytes() == np.float64(rec.duration).tobytes()
    for name in ("times", "neurons", "voltage", "voltage_neurons", "voltage_times"):
        a, b = getattr(rec, name), getattr(back, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert same_bits(a, b), name
    meta = io.read_metadata(path)
    assert meta["format"] == "spikesim.record" and meta["version"] == 1
    assert meta["units"]["times"] == "s" and meta["info"] == {"trial": 7}
    assert meta["spikesim_version"] == spikesim.__version__
    assert not [p for p in tmp_path.iterdir() if p.name != "rec.npz"]  # no temp files


NETWORK_FIELDS = (
    "pre",
    "post",
    "weight",
    "delay",
    "sign",
    "inputs",
    "outputs",
    "tau_syn",
    "threshold",
    "t_ref",
)


@ROUNDTRIP
@given(net=networks())
def test_network_round_trips_bit_for_bit(tmp_path, net):
    path = tmp_path / "net.npz"
    io.save_network(path, net)
    back = io.load_network(path)
    assert back.n_neurons == net.n_neurons
    for name in NETWORK_FIELDS:
        assert same_bits(getattr(net, name), getattr(back, name)), name
    assert (net.layers is None) == (back.layers is None)
    if net.layers is not None:
        assert len(net.layers) == len(back.layers)
        for g, h in zip(net.layers, back.layers, strict=True):
            assert same_bits(g, h)
    assert same_bits(net.order, back.order)
    assert net.structure_key() == back.structure_key()


def test_trained_weights_round_trip(tmp_path):
    net = spikesim.layered([5, 4, 2], inhibitory_fraction=0.3, seed=3)
    w = np.random.default_rng(0).exponential(0.3, net.n_edges)
    io.save_network(tmp_path / "w.npz", net.with_weights(w), info={"trial": 120})
    back = io.load_network(tmp_path / "w.npz")
    assert same_bits(back.weight, w)
    assert io.read_metadata(tmp_path / "w.npz")["info"] == {"trial": 120}
    # and the reloaded network simulates exactly like the original
    inp = spikesim.encoding.poisson(np.full(5, 0.8), duration=0.1, max_rate=300, seed=1)
    a = spikesim.simulate(net.with_weights(w), inp, 0.1)
    b = spikesim.simulate(back, inp, 0.1)
    assert same_bits(a.times, b.times) and same_bits(a.neurons, b.neurons)


def _good_record_file(tmp_path):
    rec = spikesim.SpikeRecord(
        times=np.array([0.01, 0.02]), neurons=np.array([1, 0]), n_neurons=2, duration=0.1
    )
    return io.save_record(tmp_path / "good.npz", rec)


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    np.savez(dst, **arrays)
    return dst


def _meta_change(**kv):
    def change(arrays):
        meta = json.loads(str(arrays["meta"]))
        meta.update(kv)
        arrays["meta"] = np.array(json.dumps(meta))

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_meta_change(format="spikesim.network"), "format is 'spikesim.network'"),
        (_meta_change(version=2), "version 2 is newer"),
        (_meta_change(version="1"), "version '1' is not a positive integer"),
        (lambda a: a.pop("meta"), "no 'meta' entry"),
        (lambda a: a.update(meta=np.array("{not json")), "not valid JSON"),
        (lambda a: a.update(meta=np.arange(3)), "not a JSON string"),
        (lambda a: a.pop("times"), "missing entry 'times'"),
        (lambda a: a.update(extra=np.zeros(2)), "unexpected entry 'extra'"),
        (lambda a: a.update(times=a["times"].astype(np.float32)), "'times' must be float64"),
        (lambda a: a.update(neurons=np.array([1, 5])), "neuron 5, which does not exist"),
        (lambda a: a.update(times=np.array([0.05, 0.02])), "out of .time, neuron. order"),
        (lambda a: a.update(times=np.array([0.01, 0.2])), r"time 1 is 0.2; must be in \[0, 0.1\)"),
        (lambda a: a.update(duration=np.float64(np.nan)), "duration must be a positive"),
        (lambda a: a.update(voltage=np.zeros((1, 1))), "need .* as well"),
    ],
)
def test_bad_record_files_name_the_problem(tmp_path, change, message):
    bad = _rewrite(_good_record_file(tmp_path), tmp_path / "bad.npz", change)
    with pytest.raises(ValidationError, match=message):
        io.load_record(bad)


def test_corrupt_and_missing_files(tmp_path):
    good = _good_record_file(tmp_path)
    data = good.read_bytes()
    (tmp_path / "half.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValidationError, match="not a readable .npz file"):
        io.load_record(tmp_path / "half.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValidationError, match="not a readable .npz file"):
        io.load_record(tmp_path / "text.npz")
    with pytest.raises(ValidationError, match="no such file"):
        io.load_record(tmp_path / "absent.npz")
    # a flipped byte inside the stored data: the zip CRC check catches it
    flipped = bytearray(data)
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("times.npy")
    pos = info.header_offset + 30 + len(info.filename) + info.extra.__len__() + 130
    flipped[pos] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(ValidationError, match="not a readable .npz file"):
        io.load_record(tmp_path / "flip.npz")
    # a network file is not a record file, and the other way round
    io.save_network(tmp_path / "net.npz", spikesim.layered([2, 1]))
    with pytest.raises(ValidationError, match="format is 'spikesim.network'"):
        io.load_record(tmp_path / "net.npz")
    with pytest.raises(ValidationError, match="format is 'spikesim.record'"):
        io.load_network(good)


def test_bad_network_file_is_rejected_by_the_constructor(tmp_path):
    io.save_network(tmp_path / "net.npz", spikesim.layered([2, 2, 1], seed=0))

    def cycle(a):
        a["pre"] = a["pre"].copy()
        a["post"] = a["post"].copy()
        a["pre"][0], a["post"][0] = 4, 2  # output -> hidden closes a cycle

    bad = _rewrite(tmp_path / "net.npz", tmp_path / "bad.npz", cycle)
    with pytest.raises(ValidationError, match="bad.npz: the network has a cycle"):
        io.load_network(bad)
    bad = _rewrite(
        tmp_path / "net.npz",
        tmp_path / "bad2.npz",
        lambda a: a.update(layer_ptr=np.array([0, 9], np.int64)),
    )
    with pytest.raises(ValidationError, match="layer_ptr does not partition"):
        io.load_network(bad)


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValidationError, match="record must be a SpikeRecord"):
        io.save_record(tmp_path / "x.npz", "nope")
    with pytest.raises(ValidationError, match="network must be a Network"):
        io.save_network(tmp_path / "x.npz", None)
    rec = spikesim.SpikeRecord(
        times=np.zeros(1), neurons=np.zeros(1, np.int64), n_neurons=1, duration=1.0
    )
    with pytest.raises(ValidationError, match="info must be JSON-serialisable"):
        io.save_record(tmp_path / "x.npz", rec, info={"bad": object()})
    assert list(tmp_path.iterdir()) == []


# -- Neo ----------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(rec=records(with_voltage=False))
def test_to_neo_trains_equal_the_record(rec):
    import quantities as pq

    trains = rec.to_neo()
    assert len(trains) == rec.n_neurons
    for k, tr in enumerate(trains):
        expect = np.sort(rec.times[rec.neurons == k])
        assert same_bits(tr.rescale(pq.s).magnitude, expect)
        assert tr.annotations["neuron"] == k and tr.name == f"neuron {k}"
        assert float(tr.t_start.rescale(pq.s)) == 0.0
        assert float(tr.t_stop.rescale(pq.s)) == rec.duration
        assert tr.units == pq.s


def test_to_neo_subset_and_elephant_style_analysis():
    import neo
    import quantities as pq

    net = spikesim.layered([6, 5, 3], weight_mean=[0.5, 0.6], seed=2)
    inp = spikesim.encoding.poisson(np.full(6, 0.9), duration=0.2, max_rate=150, seed=4)
    rec = spikesim.simulate(net, inp, 0.2)
    trains = rec.to_neo(neurons=net.outputs)
    assert [tr.annotations["neuron"] for tr in trains] == net.outputs.tolist()
    seg = neo.Segment()
    seg.spiketrains.extend(trains)
    block = neo.Block()
    block.segments.append(seg)
    # what elephant.statistics.mean_firing_rate computes: count / (t_stop - t_start)
    counts = spikesim.encoding.spike_counts(rec, net.outputs)
    for tr, c in zip(seg.spiketrains, counts, strict=True):
        rate = (len(tr) / (tr.t_stop - tr.t_start)).rescale(pq.Hz)
        assert float(rate) == pytest.approx(c / 0.2)
        # inter-spike intervals (elephant.statistics.isi) match the record's
        own = np.diff(rec.spikes_of(int(tr.annotations["neuron"])))
        assert np.array_equal(np.diff(tr.magnitude), own)
    with pytest.raises(ValidationError, match="neurons contains 99"):
        rec.to_neo(neurons=[99])


def test_to_neo_with_elephant_if_installed():
    elephant_stats = pytest.importorskip("elephant.statistics")
    rec = spikesim.SpikeRecord(
        times=np.array([0.01, 0.03, 0.07]), neurons=np.array([0, 0, 0]), n_neurons=1, duration=0.1
    )
    (tr,) = rec.to_neo()
    assert float(elephant_stats.mean_firing_rate(tr).rescale("Hz")) == pytest.approx(30.0)


def test_to_neo_without_neo_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "neo", None)
    rec = spikesim.SpikeRecord(
        times=np.zeros(0), neurons=np.zeros(0, np.int64), n_neurons=1, duration=1.0
    )
    with pytest.raises(ImportError, match=r"pip install 'spikesim\[neo\]'"):
        rec.to_neo()


def test_file_formats_page_code_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "guide" / "file-formats.md"
    code = "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))
    assert code.strip()
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(page), "exec"), {"__name__": "__docs__"})
    assert io.read_metadata(tmp_path / "trial.npz")["info"] == {"label": 3, "seed": 4}
