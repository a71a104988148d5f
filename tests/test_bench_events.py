"""``spikesim bench events``: synaptic events per second of each engine, from one run."""

import json

import numpy as np
import pytest

import spikesim
from spikesim.benchmarks.events import bench_nest, benchmark_network
from spikesim.cli import main
from spikesim.engines.brian2.cuda import gpu_present
from spikesim.engines.nest_engine import NestEngine


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


_NEST_OK, _NEST_WHY = NestEngine.availability()


def _bench_inputs(net, n_trials, n_in=30):
    return [
        spikesim.encoding.poisson(
            np.ones(n_in), duration=0.1, max_rate=20.0, neurons=net.inputs, seed=k
        )
        for k in range(n_trials)
    ]


@pytest.mark.skipif(not _NEST_OK, reason=_NEST_WHY or "NEST is available")
def test_nest_entry_and_ratio(capsys):
    out = run_bench(capsys, "--engines", "event,nest", "--trials", "4", "--nest-rounds", "2")
    ns = out["engines"]["nest"]
    assert "error" not in ns, ns
    assert ns["trials"] == 4 and ns["rounds"] == 2 and ns["threads"] == 1
    assert ns["delay_s"] == 1e-4 and ns["resolution_s"] == 1e-4
    assert ns["synaptic_events_per_s"] > 0 and ns["event_synaptic_events_per_s"] > 0
    assert out["ratio_event_vs_nest"] > 0
    assert out["ratio_event_vs_nest"] == pytest.approx(
        ns["event_synaptic_events_per_s"] / ns["synaptic_events_per_s"]
    )
    # both engines simulated the same spikes: every trial's count of every neuron
    assert ns["same_counts_as_event"] is True
    # independent count: the event engine and the nest engine (one fresh NEST simulation
    # per trial) on the 0.1 ms network, every spike times its neuron's out-degree
    net = benchmark_network([30, 12, 3], seed=0, delay=1e-4)
    outdeg = np.bincount(net.pre, minlength=net.n_neurons)
    ev_event = ev_nest = 0
    for inp in _bench_inputs(net, 4):
        ev_event += int(np.dot(spikesim.simulate(net, inp, 0.1).counts(), outdeg))
        ev_nest += int(np.dot(spikesim.simulate(net, inp, 0.1, engine="nest").counts(), outdeg))
    assert ev_event == ev_nest > 0
    assert ns["synaptic_events_per_trial"] == pytest.approx(ev_event / 4)
    assert ns["synaptic_events_per_s"] == pytest.approx(ev_event / ns["wall_s"])


@pytest.mark.skipif(not _NEST_OK, reason=_NEST_WHY or "NEST is available")
def test_bench_nest_counts_match_with_hidden_activity_after_the_trial():
    """Trials run back to back in one NEST session: spikes still in flight at a trial's
    end and refractory periods must not leak into the next trial (strong weights, long
    t_ref, late input spikes)."""
    net = spikesim.layered(
        [3, 4, 2], weight_mean=1.2, inhibitory_fraction=0.0, tau_syn=0.01, threshold=1.0,
        t_ref=0.005, delay=3e-4, seed=1,
    )  # fmt: skip
    inputs = [
        (np.array([0.0, 0.0994, 0.0999]), np.array([0, 1, 2])),
        (np.array([0.0001, 0.05, 0.0997]), np.array([2, 0, 1])),
        (np.array([0.002]), np.array([1])),
    ]
    res = bench_nest(net, inputs, 0.1, rounds=1)
    assert res["same_counts_as_event"] is True
    outdeg = np.bincount(net.pre, minlength=net.n_neurons)
    events = sum(
        int(np.dot(spikesim.simulate(net, inp, 0.1, engine="nest").counts(), outdeg))
        for inp in inputs
    )
    assert res["synaptic_events_per_trial"] == pytest.approx(events / 3)


def test_nest_absent_is_an_entry_with_the_reason(capsys, monkeypatch):
    monkeypatch.setattr(
        NestEngine, "availability", classmethod(lambda cls: (False, "NEST is not installed"))
    )
    out = run_bench(capsys, "--engines", "event,nest", "--trials", "2")
    assert out["engines"]["nest"] == {"error": "NEST is not installed; nothing was measured"}
    assert "ratio_event_vs_nest" not in out
    assert out["engines"]["event"]["trials"] == 2


def test_nest_rounds_must_be_positive(capsys):
    assert main(["bench", "events", "--engines", "event", "--nest-rounds", "0"]) == 2
    assert "--nest-rounds must be >= 1, got 0" in capsys.readouterr().err


def test_instructions_without_valgrind_say_why(monkeypatch):
    import shutil

    from spikesim.benchmarks import events

    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = events.bench_instructions([30, 12, 3], 2, 0.1, 20.0, 0)
    assert out == {"error": "valgrind is not installed; nothing was measured"}


def test_instruction_trials_must_be_positive(capsys):
    argv = ["bench", "events", "--engines", "event", "--sizes", "8,3", "--trials", "2"]
    assert main([*argv, "--instructions", "--instruction-trials", "0"]) != 0
    assert "--instruction-trials must be >= 1, got 0" in capsys.readouterr().err
