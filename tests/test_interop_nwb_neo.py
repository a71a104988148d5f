"""NWB export reads back with pynwb; the Neo conversion the Elephant how-to relies on."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.errors import ValidationError


def _trial(seed, t_ref=0.002):
    net = spikesim.layered([3, 4, 2], t_ref=t_ref, seed=seed)
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 0.04, 12))
    k = rng.choice(net.inputs, 12)
    return net, spikesim.simulate(net, (t, k), 0.05, voltage_neurons=[3, 8])


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_nwb_round_trip(seed, tmp_path_factory):
    pynwb = pytest.importorskip("pynwb", reason="the optional extra 'nwb' is not installed")
    net, rec = _trial(seed)
    path = tmp_path_factory.mktemp("nwb") / "trial.nwb"
    assert rec.to_nwb(path, network=net, info={"sample": 7}) == path
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        units = f.units
        assert len(units) == net.n_neurons
        for k, train in enumerate(rec.trains()):
            np.testing.assert_array_equal(units["spike_times"][k], train)
            assert units["neuron"][k] == k
            np.testing.assert_array_equal(units["obs_intervals"][k], [[0.0, 0.05]])
        groups = net.groups()
        for layer, g in enumerate(groups):
            assert {units["layer"][int(j)] for j in g} == {f"layer {layer}"}
        np.testing.assert_array_equal(np.flatnonzero(units["is_input"][:]), net.inputs)
        np.testing.assert_array_equal(np.flatnonzero(units["is_output"][:]), net.outputs)
        v = f.acquisition["voltage"]
        np.testing.assert_array_equal(v.data[:], rec.voltage.T)
        np.testing.assert_array_equal(v.timestamps[:], rec.voltage_times)
        np.testing.assert_array_equal(f.scratch["voltage_neurons"].data[:], [3, 8])
        np.testing.assert_array_equal(f.scratch["network_weight"].data[:], net.weight)
        notes = json.loads(f.notes)
        assert notes["info"] == {"sample": 7}
        assert notes["network"]["n_edges"] == net.n_edges
        assert notes["network"]["t_ref_s"] == 0.002


def test_nwb_without_network_or_voltages(tmp_path):
    pynwb = pytest.importorskip("pynwb", reason="the optional extra 'nwb' is not installed")
    rec = spikesim.SpikeRecord(np.array([0.01, 0.02]), np.array([1, 0]), 3, 0.1)
    rec.to_nwb(tmp_path / "r.nwb")
    with pynwb.NWBHDF5IO(str(tmp_path / "r.nwb"), "r") as io:
        f = io.read()
        assert len(f.units) == 3
        np.testing.assert_array_equal(f.units["spike_times"][0], [0.02])
        assert "voltage" not in f.acquisition
        assert set(f.units["layer"][:]) == {""}


def test_nwb_refuses_a_network_of_another_size(tmp_path):
    pytest.importorskip("pynwb", reason="the optional extra 'nwb' is not installed")
    net, rec = _trial(0)
    with pytest.raises(ValidationError, match="network has 5 neurons but the record 9"):
        rec.to_nwb(tmp_path / "x.nwb", network=spikesim.layered([3, 2]))
    with pytest.raises(ValidationError, match="info must be JSON-serialisable"):
        rec.to_nwb(tmp_path / "x.nwb", info={"x": float("nan")})


def _raster(seed):
    """A long Poisson raster of a few independent neurons (Elephant how-to's input)."""
    rng = np.random.default_rng(seed)
    rates, duration = np.array([20.0, 50.0, 80.0]), 20.0
    times, neurons = [], []
    for k, r in enumerate(rates):
        t = np.sort(rng.uniform(0, duration, rng.poisson(r * duration)))
        times.append(t)
        neurons.append(np.full(t.size, k))
    t, n = np.concatenate(times), np.concatenate(neurons)
    order = np.lexsort((n, t))
    return spikesim.SpikeRecord(t[order], n[order], 3, duration), rates


def test_neo_trains_carry_what_elephant_needs():
    pytest.importorskip("neo", reason="the optional extra 'neo' is not installed")
    import quantities as pq

    rec, _ = _raster(0)
    trains = rec.to_neo()
    for k, st_ in enumerate(trains):
        np.testing.assert_array_equal(st_.rescale(pq.s).magnitude, rec.spikes_of(k))
        assert st_.t_start == 0 * pq.s and st_.t_stop == rec.duration * pq.s
        # the quantities Elephant computes, from the neo object's own properties
        isi = np.diff(st_.magnitude)
        assert len(st_) / float(st_.duration.rescale(pq.s)) == rec.counts()[k] / rec.duration
        assert isi.std() / isi.mean() == pytest.approx(
            np.diff(rec.spikes_of(k)).std() / np.diff(rec.spikes_of(k)).mean()
        )


# elephant 1.2 passes copy= to quantities >= 0.16, which deprecates it (a third-party
# warning, not ours)
@pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity is deprecated")
def test_elephant_rates_cv_and_cross_correlogram():
    pytest.importorskip("neo", reason="the optional extra 'neo' is not installed")
    pytest.importorskip("elephant", reason="the optional extra 'elephant' is not installed")
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import cross_correlation_histogram
    from elephant.statistics import cv, isi, mean_firing_rate

    rec, rates = _raster(1)
    trains = rec.to_neo()
    for k, st_ in enumerate(trains):
        # independent references: counts / duration, numpy's CV of the ISIs
        r = float(mean_firing_rate(st_).rescale(pq.Hz))
        assert r == pytest.approx(rec.counts()[k] / rec.duration, rel=1e-12)
        d = np.diff(rec.spikes_of(k))
        assert cv(isi(st_)) == pytest.approx(d.std() / d.mean(), rel=1e-9)
        # a Poisson process: rate near the drawn one, CV near 1
        assert r == pytest.approx(rates[k], rel=0.1)
        assert cv(isi(st_)) == pytest.approx(1.0, abs=0.1)
    b0 = BinnedSpikeTrain(trains[0], bin_size=5 * pq.ms)
    b1 = BinnedSpikeTrain(trains[1], bin_size=5 * pq.ms)
    cch, lags = cross_correlation_histogram(b0, b1, window=[-10, 10])
    assert lags.tolist() == list(range(-10, 11))
    # reference: the correlogram by numpy on the same binned counts
    c0, c1 = b0.to_array()[0], b1.to_array()[0]
    n = c0.size
    want = [
        np.dot(c0[max(0, -lag) : n - max(0, lag)], c1[max(0, lag) : n - max(0, -lag)])
        for lag in range(-10, 11)
    ]
    np.testing.assert_allclose(np.asarray(cch.magnitude).ravel(), want)


def test_import_spikesim_needs_no_interop_extra():
    import subprocess
    import sys

    code = (
        "import sys, spikesim; spikesim.to_nir; spikesim.from_nir; "
        "print(sorted(m for m in ('nir', 'pynwb', 'elephant', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_write_nwb_refuses_what_is_not_a_record(tmp_path):
    pytest.importorskip("pynwb")
    from spikesim.errors import ValidationError
    from spikesim.interop import write_nwb

    with pytest.raises(ValidationError, match="record must be a SpikeRecord, got str"):
        write_nwb(tmp_path / "x.nwb", "nope")
