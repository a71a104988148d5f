"""The network-size guard: an estimate of what will be built, refused before allocating."""

from __future__ import annotations

import pytest

from spikesim import graph
from spikesim.errors import ValidationError


def test_estimate_counts_possible_and_expected_edges():
    # independent arithmetic: 10x20 + 20x5 = 300 possible pairs, 150 expected at p = 0.5
    est = graph.estimate_layered_bytes([10, 20, 5], 0.5)
    assert est == 300 * graph.BYTES_PER_POSSIBLE_EDGE + 150 * graph.BYTES_PER_SPARSE_EDGE
    # dense: every pair is an edge, nothing drawn per pair
    assert graph.estimate_layered_bytes([10, 20, 5], 1.0) == 300 * graph.BYTES_PER_EDGE


def test_estimate_brackets_a_measured_build():
    import tracemalloc

    graph.layered([20, 20], p_connect=0.5)  # compile the graph kernels outside the measurement
    tracemalloc.start()
    net = graph.layered([300, 300], p_connect=0.5, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    est = graph.estimate_layered_bytes([300, 300], 0.5)
    assert net.n_edges > 0 and 0.5 * peak <= est <= 2.0 * peak


def test_dense_build_peak_is_its_arrays():
    # issue 18 item 8: a dense layer costs its weights (8 B), ids (2 x 4 B) and incoming /
    # outgoing edge orders (2 x 4 B) at peak, nothing more
    import tracemalloc

    graph.layered([20, 20])  # compile the graph kernels outside the measurement
    tracemalloc.start()
    net = graph.layered([1000, 700], seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak / net.n_edges <= 24.5
    assert net.delay.strides == (0,) and net.sign.strides == (0,)


def test_refused_with_estimate_and_limit(monkeypatch):
    monkeypatch.setenv("SPIKESIM_MEMORY_LIMIT", str(10**6))
    assert graph.memory_limit() == 10**6
    with pytest.raises(ValidationError, match=r"about .* GiB, more than the limit .*MEMORY_LIMIT"):
        graph.layered([1000, 1000])
    graph.layered([50, 50])  # 2500 pairs: about 0.3 MB, under the limit


def test_bad_limit_is_named(monkeypatch):
    monkeypatch.setenv("SPIKESIM_MEMORY_LIMIT", "lots")
    with pytest.raises(ValidationError, match="SPIKESIM_MEMORY_LIMIT='lots'"):
        graph.memory_limit()


def test_default_limit_is_a_fraction_of_available(monkeypatch):
    monkeypatch.delenv("SPIKESIM_MEMORY_LIMIT", raising=False)
    with open("/proc/meminfo") as fh:
        kb = next(int(ln.split()[1]) for ln in fh if ln.startswith("MemAvailable:"))
    assert abs(graph.memory_limit() - graph.MEMORY_FRACTION * kb * 1024) < 0.05 * kb * 1024


def test_a_voltage_recording_over_the_limit_is_refused_before_it_runs(monkeypatch):
    """The simulation side of the guard: recording voltages is refused with the estimate
    (2 float64 copies of neurons x times) and the limit, before anything is allocated."""
    import spikesim
    from spikesim.engines import get_engine
    from spikesim.engines.base import voltage_bytes

    assert voltage_bytes(3, 1000) == 2 * 8 * 3 * 1000
    net = spikesim.layered([4, 3], seed=0)
    monkeypatch.setenv("SPIKESIM_MEMORY_LIMIT", str(10_000))
    eng = get_engine("event")
    with pytest.raises(
        ValidationError, match=r"recording the potentials of 7 neurons at 1000 times"
    ):
        eng.run(net, ([0.001], [0]), 0.1, voltage_neurons=list(range(7)))
    # a recording under the limit runs
    rec = eng.run(net, ([0.001], [0]), 0.1, voltage_neurons=[4], voltage_times=[0.05])
    assert rec.voltage.shape == (1, 1)
