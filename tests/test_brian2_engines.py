"""Brian2 engines: compile-once reuse, the project cache, CUDA code generation, errors.

Agreement of spikes with the exact engine is in tests/test_engine_conformance.py; here:
voltages, that one compilation serves many trials (counted, and the binary untouched),
concurrent use of one cache entry, LRU cleaning, the brian2cuda project generated without
a GPU, and the clear errors.
"""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

import spikesim
from spikesim.engines.brian2 import model
from spikesim.engines.brian2 import project as standalone
from spikesim.engines.brian2.cuda import CudaEngine, generate_cuda_project, gpu_present
from spikesim.engines.brian2.options import BuildOptions
from spikesim.engines.brian2.runtime import Brian2Engine
from spikesim.engines.brian2.standalone import Brian2StandaloneEngine
from spikesim.errors import EngineError

pytestmark = pytest.mark.brian2


def small_net(seed=4):
    # t_ref off the 0.1 ms input grid: no arrival lands exactly on a refractory end (a tie
    # that floating-point rounding decides in the exact engine and the step count on a clock)
    return spikesim.layered([8, 6, 2], weight_mean=[0.5, 0.7], t_ref=0.00205, seed=seed)


def grid_inputs(net, seed, k=40, duration=0.05):
    """Input spikes on a 0.1 ms grid (a 0.01 ms clock represents them exactly)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, int(duration / 1e-4), k) * 1e-4, rng.choice(net.inputs, k)


def assert_same_spikes(a, b):
    """Same spike trains, neuron by neuron, up to float rounding of step times."""
    assert np.array_equal(a.counts(), b.counts())
    for j in range(a.n_neurons):
        np.testing.assert_allclose(a.spikes_of(j), b.spikes_of(j), rtol=0, atol=1e-12)


def test_runtime_voltages_match_event_engine():
    """Zero delays, inputs on the grid: the clock loses nothing, voltages coincide."""
    net = small_net()
    inp = grid_inputs(net, 1)
    vt = np.arange(0.0, 0.05, 5e-4)
    kw = dict(voltage_neurons=[9, 14, 9], voltage_times=vt)
    ev = spikesim.simulate(net, inp, 0.05, **kw)
    b2 = spikesim.simulate(net, inp, 0.05, engine=Brian2Engine(dt=1e-5), **kw)
    assert b2.voltage.shape == (3, vt.size)
    assert np.array_equal(b2.voltage[0], b2.voltage[2])
    np.testing.assert_allclose(b2.voltage, ev.voltage, atol=1e-9)
    assert_same_spikes(b2, ev)


def test_one_compilation_serves_many_trials(tmp_path):
    """Many trials, new weights and inputs, two threads at once: one build, binary reused."""
    net = small_net()
    engine = Brian2StandaloneEngine(dt=1e-5, cache=tmp_path)
    inputs = [grid_inputs(net, s) for s in range(6)]
    before = standalone.BUILDS
    results = {}

    def worker(k):
        results[k] = engine.run_batch(net, inputs[3 * k : 3 * k + 3], 0.05)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert standalone.BUILDS == before + 1
    proj = engine.project(net, 0.05, inputs)
    binary = proj.path / "main"
    stamp = binary.stat().st_mtime_ns
    # more trials with new weights, from a fresh engine object: still no compilation
    w2 = net.weight * 1.3
    again = Brian2StandaloneEngine(dt=1e-5, cache=tmp_path)
    recs = again.run_batch(net, inputs, 0.05, weights=w2)
    one = again.run(net, inputs[0], 0.05, weights=w2)
    assert standalone.BUILDS == before + 1
    assert binary.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [proj.path.name]
    # and the trials are right: equal to the exact engine (inputs on the grid, no delays)
    batch = results[0] + results[1]
    for inp, rec, rec2 in zip(inputs, batch, recs, strict=True):
        assert_same_spikes(rec, spikesim.simulate(net, inp, 0.05))
        assert_same_spikes(rec2, spikesim.simulate(net, inp, 0.05, weights=w2))
    assert np.array_equal(one.times, recs[0].times)
    assert not np.array_equal(recs[0].counts(), batch[0].counts())


def test_clean_cache_lru(tmp_path):
    for k, name in enumerate(["a", "b", "c"]):
        (tmp_path / name).mkdir()
        ready = tmp_path / name / "READY"
        ready.write_text("{}")
        os.utime(ready, (1000 + k, 1000 + k))
    assert standalone.clean_cache(1, root=tmp_path) == ["a", "b"]
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["c"]
    # an entry in use (locked) is kept
    (tmp_path / "d").mkdir()
    with standalone._locked(tmp_path / "c.lock", shared=True):
        assert standalone.clean_cache(0, root=tmp_path) == ["d"]
    assert standalone.clean_cache(0, root=tmp_path) == ["c"]


def test_cache_key_ignores_weights_not_structure():
    net = small_net()
    small = BuildOptions(capacity=8, copies=2)

    def key(n, dt=1e-4, opts=small):
        return standalone.project_key(model.spec_from_network(n, dt, 0.05), opts, n.structure_key())

    assert key(net) == key(net.with_weights(net.weight * 2))
    slower = spikesim.layered([8, 6, 2], weight_mean=[0.5, 0.7], seed=4, delay=1e-3)
    assert key(net) != key(slower)
    assert key(net) != key(net, dt=1e-5)
    assert key(net) != key(net, opts=BuildOptions(capacity=16, copies=2))
    assert key(net) != key(net, opts=BuildOptions(capacity=8, copies=2, profile=True))


def test_build_options_round_trip_through_json():
    """The record the child process reads is the one the parent wrote."""
    opts = BuildOptions(
        capacity=64,
        copies=3,
        extra_compile_args=["-O1"],
        openmp_threads=2,
        extra={"constants": {"c": 1.5}, "setup": "m:f"},
    )
    assert opts.extra_compile_args == ("-O1",)
    again = BuildOptions.from_json(opts.to_json())
    assert again == opts and again.to_json() == opts.to_json()
    cuda = BuildOptions(device="cuda_standalone", compute_capability=8, cuda_runtime_version=12)
    assert BuildOptions.from_json(cuda.to_json()).compute_capability == 8.0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"device": "gpu"}, "device='gpu'"),
        ({"capacity": 0}, "capacity=0"),
        ({"copies": True}, "copies=True"),
        ({"openmp_threads": -1}, "openmp_threads=-1"),
        ({"device": "cuda_standalone"}, "compute_capability=None"),
        ({"compute_capability": 8.0}, "only for the cuda_standalone"),
        ({"extra": {"f": object()}}, "not JSON-able"),
        ({"extra_compile_args": [1]}, "extra_compile_args"),
    ],
)
def test_build_options_refuse_bad_values(kw, match):
    with pytest.raises(EngineError, match=match):
        BuildOptions(**kw)


def test_build_options_from_json_names_unknown_and_missing_keys():
    data = json.loads(BuildOptions().to_json())
    data["colour"] = "red"
    del data["copies"]
    with pytest.raises(EngineError, match=r"unknown keys \['colour'\], missing keys \['copies'\]"):
        BuildOptions.from_json(json.dumps(data))


def test_default_cache_is_the_test_runs_own(brian2_cache):
    assert standalone.cache_dir() == brian2_cache
    assert ".cache" not in str(brian2_cache)


@pytest.mark.skipif(gpu_present(), reason="checks the no-GPU path")
def test_cuda_project_generated_without_gpu(tmp_path):
    net = small_net()
    inp = grid_inputs(net, 2)
    path = generate_cuda_project(net, inp, 0.05, tmp_path / "proj", dt=1e-5)
    assert (path / "main.cu").is_file()
    assert (path / "makefile").is_file()
    cu = list((path / "code_objects").glob("*.cu"))
    assert any("syn_in" in p.name for p in cu) and any("neurons" in p.name for p in cu)
    assert "nvcc" in (path / "makefile").read_text()
    script = (path / "run.sh").read_text()
    assert "./main --results_dir" in script and "syn_in.w=" in script
    # the weights beside it are the trial's, in the order of the synapses
    copies = json.loads((path / "manifest.json").read_text())["copies"]
    w = np.fromfile(path / "run_inputs" / "syn_in_w.dat")
    assert w.size == 8 * 6 * copies
    np.testing.assert_array_equal(w[:48], net.weight[:48])


@pytest.mark.skipif(gpu_present(), reason="checks the no-GPU path")
def test_gpu_requested_without_gpu_is_clear(tmp_path):
    net = small_net()
    engine = CudaEngine(cache=tmp_path)
    ok, why = CudaEngine.availability()
    assert not ok and "NVIDIA GPU" in why
    with pytest.raises(EngineError, match="needs an NVIDIA GPU") as info:
        spikesim.simulate(net, grid_inputs(net, 0), 0.05, engine=engine)
    where = str(info.value).split("generated at ")[1].split(";")[0]
    assert os.path.isfile(os.path.join(where, "main.cu"))


def test_compile_failure_shows_compiler_message(tmp_path):
    # Brian2 drops flags its test program rejects; this macro breaks only Brian2's code
    engine = Brian2StandaloneEngine(
        cache=tmp_path, extra_compile_args=["-Dsize_t=spikesim_no_such_type"]
    )
    net = spikesim.layered([2, 1], weight_mean=0.5, seed=0)
    with pytest.raises(EngineError, match="compilation failed") as info:
        spikesim.simulate(net, None, 0.01, engine=engine)
    assert "spikesim_no_such_type" in str(info.value)  # the compiler's own complaint
    assert "error" in str(info.value)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no half-built project left


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Brian2Engine(target="cpp"), "target='cpp'"),
        (lambda: Brian2Engine(dt=-1.0), "dt=-1.0"),
        (lambda: Brian2Engine(dt=0.01), "dt=0.01"),
        (lambda: Brian2StandaloneEngine(capacity=0), "capacity=0"),
        (lambda: CudaEngine(dt="fast"), "dt='fast'"),
    ],
)
def test_unsupported_options(make, match):
    with pytest.raises(EngineError, match=match):
        make()


def test_standalone_refuses_voltages():
    net = spikesim.layered([2, 1], weight_mean=0.5, seed=0)
    with pytest.raises(EngineError, match="voltage_neurons.*use engine 'brian2'"):
        spikesim.simulate(net, None, 0.01, engine="brian2-standalone", voltage_neurons=[2])


@pytest.mark.skipif(not gpu_present(), reason="needs an NVIDIA GPU")
def test_cuda_equals_cpp_standalone_step_for_step(tmp_path):
    """On a GPU, brian2cuda runs the same model as cpp_standalone: at the same dt the two
    engines give the same spikes, neuron for neuron and time step for time step."""
    net = spikesim.layered([8, 6, 2], weight_mean=[0.5, 0.7], seed=1)
    inp = spikesim.encoding.poisson(
        np.linspace(0.2, 1.0, 8), duration=0.05, max_rate=300.0, neurons=net.inputs, seed=3
    )
    dt = 1e-4
    cuda = spikesim.simulate(net, inp, 0.05, engine=CudaEngine(dt=dt, cache=tmp_path / "cu"))
    cpp = spikesim.simulate(
        net,
        inp,
        0.05,
        engine=Brian2StandaloneEngine(dt=dt, cache=tmp_path / "cpp"),
    )
    assert np.sum(~np.isin(cpp.neurons, net.inputs)) > 50  # the network itself is active
    assert np.array_equal(cuda.neurons, cpp.neurons)
    np.testing.assert_array_equal(np.round(cuda.times / dt), np.round(cpp.times / dt))
