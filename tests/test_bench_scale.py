"""``spikesim bench scale``: build time, memory per edge and simulation speed by size."""

import json

import numpy as np
import pytest

import spikesim
from spikesim.benchmarks.scale import measure_size, network_nbytes
from spikesim.cli import main


def test_network_bytes_are_its_arrays():
    # independent count: 8 B weights + 4 B each of pre, post, in_edges, out_edges per edge,
    # the per-neuron arrays, the uniform delay and sign once
    net = spikesim.layered([30, 20], seed=0)
    n, m = net.n_neurons, net.n_edges
    per_neuron = 8 * 3 + 8 + 1 + 2 * 8  # tau/threshold/t_ref, order, is_input, ptrs
    expected = 24 * m + per_neuron * n + 2 * 8 + 8 + 1 + net.inputs.nbytes + net.outputs.nbytes
    assert network_nbytes(net) == expected


def test_one_size_in_process():
    r = measure_size(40000, trials=2, build_repeats=1, rate=20.0, duration=0.1)
    assert r["sizes"] == [200, 200] and r["n_edges"] == 40000
    assert 24.0 <= r["network_bytes_per_edge"] <= 26.0
    assert r["build_traced_peak_bytes_per_edge"] == pytest.approx(24.0, abs=1.5)
    assert r["build_edges_per_s"] == pytest.approx(40000 / r["build_s"])
    # independent count of the arrivals: input spikes times their out-degree (200)
    from spikesim.encoding import poisson

    net = spikesim.layered([200, 200], weight_mean=1.2 / (200 * 20.0 * 0.01), seed=0)
    inp = poisson(np.ones(200), duration=0.1, max_rate=20.0, neurons=np.arange(200), seed=1)
    rec = spikesim.simulate(net, inp, 0.1)
    assert r["synaptic_events_per_trial"] == pytest.approx(rec.counts()[:200].sum() * 200)


def test_cli_runs_each_size_apart(capsys):
    assert main(["bench", "scale", "--json", "--edges", "400,900", "--trials", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["n_edges"] for s in out["sizes"]] == [400, 900]
    assert all("error" not in s and s["trial_s"] > 0 for s in out["sizes"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--edges", "lots"], "--edges must be comma-separated numbers, got 'lots'"),
        (["--edges", "100,0"], "every edge count must be >= 1, got 0"),
        (["--trials", "0"], "--trials must be >= 1, got 0"),
    ],
)
def test_bad_arguments_are_named(capsys, argv, message):
    assert main(["bench", "scale", *argv]) != 0
    assert message in capsys.readouterr().err
