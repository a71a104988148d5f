"""``spikesim bench events``: synaptic events per second of each engine, from one run."""

import json

import numpy as np
import pytest

import spikesim
from spikesim.benchmarks.events import benchmark_network
from spikesim.cli import main
from spikesim.engines.brian2.cuda import gpu_present


def run_bench(capsys, *extra):
    argv = ["bench", "events", "--json", "--sizes", "30,12,3", "--trials", "6", *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_event_engine_counts_every_arrival(capsys):
    out = run_bench(capsys, "--engines", "event")
    ev = out["engines"]["event"]
    assert out["network"]["n_edges"] == 30 * 12 + 12 * 3
    # independent count: every spike of a trial times its neuron's out-degree
    net = benchmark_network([30, 12, 3], seed=0)
    outdeg = np.bincount(net.pre, minlength=net.n_neurons)
    events = 0
    for k in range(6):
        inp = spikesim.encoding.poisson(
            np.ones(30), duration=0.1, max_rate=20.0, neurons=net.inputs, seed=k
        )
        rec = spikesim.simulate(net, inp, 0.1)
        events += int(np.dot(rec.counts(), outdeg))
    assert events > 0
    assert ev["synaptic_events_per_trial"] == pytest.approx(events / 6)
    assert ev["trials"] == 6 and ev["trials_per_s"] == pytest.approx(6 / ev["wall_s"])
    assert ev["synaptic_events_per_s"] == pytest.approx(events / ev["wall_s"])
    assert out["synaptic_events_per_s"] == ev["synaptic_events_per_s"]


def test_unknown_engine_reported_not_fatal(capsys):
    out = run_bench(capsys, "--engines", "event,no-such-engine")
    assert "error" in out["engines"]["no-such-engine"]
    assert out["engines"]["event"]["trials"] == 6


@pytest.mark.skipif(gpu_present(), reason="checks the no-GPU path")
def test_cuda_without_gpu_is_an_entry_with_the_reason(capsys):
    out = run_bench(capsys, "--engines", "brian2-cuda", "--trials", "2")
    assert "needs an NVIDIA GPU" in out["engines"]["brian2-cuda"]["error"]
    assert "nothing was measured" in out["engines"]["brian2-cuda"]["error"]
