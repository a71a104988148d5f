"""Simulation speed: 784-100-10 dense network, 20 Hz Poisson inputs, 100 ms trials.

Reports ``synaptic_events_per_s`` (arrivals processed: every spike times the out-degree of
its neuron, counting arrivals inside the trial) and ``trials_per_s`` for each engine (for
``event``: through the public ``EventEngine.run_batch`` on one core, with the internal
kernel's figure and ``public_over_kernel`` measured alternately in the same run), and
the ratio event engine / brian2-standalone measured in the same run. Any registered
engine can be named (:func:`bench_engine`): engines that compile per structure
(``brian2-standalone``, ``brian2-cuda`` on GPU machines) compile once into a temporary cache
(``compile_s``, not part of the rate) and run every trial; the others (the runtime engines
``brian2`` / ``brian2-cython`` rebuild their objects per trial) time only
``--runtime-trials`` trials. An engine unavailable here is an entry with the reason.

``nest`` (NEST's precise-timing ``iaf_psc_delta_ps``, single-threaded) is measured by
:func:`bench_nest` on the same network with 0.1 ms delays on every edge (NEST needs delays
of at least its resolution), alternating with the event engine's public path on that
network in ``--nest-rounds`` rounds, so that the machine's load affects both alike; the
network's construction in NEST is not timed. ``ratio_event_vs_nest`` = event engine
synaptic events/s / NEST's, both on the 0.1 ms network. Where NEST is not importable the
``nest`` entry says why and there is no ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, default=300, help="trials per engine")
    parser.add_argument("--sizes", default="784,100,10", help="layer sizes (default 784,100,10)")
    parser.add_argument("--rate", type=float, default=20.0, help="input rate in Hz")
    parser.add_argument("--duration", type=float, default=0.1, help="trial length in s")
    parser.add_argument(
        "--engines",
        default="event,brian2-standalone",
        help="comma-separated engines to measure (default event,brian2-standalone)",
    )
    parser.add_argument(
        "--dt", type=float, default=1e-4, help="time step of clock-driven engines (s)"
    )
    parser.add_argument(
        "--runtime-trials",
        type=int,
        default=3,
        help="trials timed for the Brian2 runtime engines brian2 / brian2-cython (default 3)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of network, inputs and learner (default 0)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per synaptic event of the event engine's public path "
        "under valgrind's callgrind (two child runs of --instruction-trials and twice as "
        "many trials; minutes)",
    )
    parser.add_argument(
        "--instruction-trials",
        type=int,
        default=20,
        help="trials of the shorter callgrind run (default 20)",
    )
    parser.add_argument(
        "--nest-rounds",
        type=int,
        default=3,
        help="rounds alternating nest and the event engine (best of each; default 3)",
    )


_INSTRUCTIONS_CHILD = r"""
import json, sys
import numpy as np
from spikesim import encoding
from spikesim.benchmarks.events import benchmark_network, synaptic_events
from spikesim.engines.event import EventEngine
sizes, k, duration, rate, seed = json.loads(sys.argv[1])
net = benchmark_network(sizes, seed=seed)
inputs = [
    encoding.poisson(np.ones(sizes[0]), duration=duration, max_rate=rate, neurons=net.inputs,
                     seed=seed + j)
    for j in range(k)
]
engine = EventEngine(n_threads=1)
engine.run_batch(net, inputs[:2], duration)  # load the kernels: the same in both runs
recs = engine.run_batch(net, inputs, duration)
print(json.dumps({"events": sum(synaptic_events(net, r.counts()) for r in recs)}))
"""


def _valgrind_child(tool_args: list[str], sizes, k, duration, rate, seed) -> int:
    """Run the instruction child (``k`` trials of the public path) under ``valgrind
    tool_args``; return its synaptic events."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONHASHSEED="0", NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            "valgrind",
            *tool_args,
            "--smc-check=all-non-file",  # Numba's JIT code lives in anonymous memory
            sys.executable,
            "-c",
            _INSTRUCTIONS_CHILD,
            json.dumps([list(sizes), k, duration, rate, seed]),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"valgrind exited {proc.returncode}: {proc.stderr[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["events"]


def _child_events(sizes, k: int, duration: float, rate: float, seed: int) -> int:
    """The child under ``valgrind --tool=none``: it fills Numba's cache for the CPU that
    valgrind presents (which differs from the host's, so a cache made outside valgrind
    does not apply)."""
    return _valgrind_child(["--tool=none"], sizes, k, duration, rate, seed)


def _callgrind_total(sizes, k: int, duration: float, rate: float, seed: int) -> tuple[int, int]:
    """(instructions, synaptic events) of the child running ``k`` trials under
    ``valgrind --tool=callgrind``."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        events = _valgrind_child(
            ["--tool=callgrind", f"--callgrind-out-file={out}"], sizes, k, duration, rate, seed
        )
        with open(out) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1]), events
    raise RuntimeError("callgrind wrote no instruction total")


def bench_instructions(sizes, trials: int, duration: float, rate: float, seed: int) -> dict:
    """Instructions per synaptic event of the event engine's public path, from
    ``valgrind --tool=callgrind``: two child runs that differ only in the number of trials
    (``trials`` and ``2 * trials``, same network, imports and warm-up), so that
    ``(Ir_2 - Ir_1) / (events_2 - events_1)`` counts the instructions of the extra trials
    alone -- a figure that does not depend on the machine's load. A first run under
    ``valgrind --tool=none`` fills Numba's cache for valgrind's CPU (a compiling run would
    count the compiler). Needs ``valgrind``."""
    import shutil

    if shutil.which("valgrind") is None:
        return {"error": "valgrind is not installed; nothing was measured"}
    # a first run fills Numba's cache (for valgrind's CPU): neither measured run compiles
    _child_events(sizes, 2, duration, rate, seed)
    ir1, ev1 = _callgrind_total(sizes, trials, duration, rate, seed)
    ir2, ev2 = _callgrind_total(sizes, 2 * trials, duration, rate, seed)
    return {
        "trials": [trials, 2 * trials],
        "instructions": [ir1, ir2],
        "synaptic_events": [ev1, ev2],
        "instructions_per_synaptic_event": (ir2 - ir1) / (ev2 - ev1),
        "instructions_per_trial": (ir2 - ir1) / trials,
    }


def benchmark_network(sizes, seed: int = 0, delay: float = 0.0):
    """The benchmark network: dense layers, weights that keep every layer active at 20 Hz;
    ``delay`` (s) on every edge (0.1 ms for NEST, which needs delays of whole steps)."""
    import spikesim

    sizes = [int(s) for s in sizes]
    # Mean drive ~ fan_in * rate * tau_syn * w; aim at a little above threshold.
    return spikesim.layered(
        sizes,
        weight_mean=[0.02, 0.1][: len(sizes) - 1] + [0.1] * max(0, len(sizes) - 3),
        inhibitory_fraction=0.0,
        tau_syn=0.01,
        threshold=1.0,
        t_ref=0.002,
        delay=delay,
        seed=seed,
    )


def out_degree(network) -> np.ndarray:
    """Each neuron's number of outgoing edges, shape (n_neurons,), from the outgoing CSR
    (no per-edge temporary)."""
    return np.diff(network.arrays().out_ptr)


def synaptic_events(network, counts: np.ndarray) -> int:
    """Arrivals generated by spike counts ``counts`` (n_neurons,): sum of count * out-degree."""
    return int(np.dot(counts, out_degree(network)))


def bench_event(network, inputs, duration: float, *, repeats: int = 2) -> dict:
    """The event engine on one core through its public API, and its internal kernel on
    the same trials, measured alternately in the same run (best of ``repeats`` each).

    ``public``: ``EventEngine(n_threads=1).run_batch(network, inputs, duration)`` from the
    encoder's raw input spikes (checks, kernel, SpikeRecords): the headline
    ``synaptic_events_per_s``, ``wall_s`` and ``trials_per_s``. ``kernel``: the compiled
    kernel alone (:func:`spikesim.engines.event._kernel`) on inputs, weights and network
    record prepared outside the timing. ``public_over_kernel``: the ratio of their wall
    times (1.0: no overhead). The records come back grouped by neuron (as the kernel computes
    them); ``public_time_sorted_over_kernel`` adds building every record's time-sorted view
    (``record.times``, a sort by time of every spike) to the public path. Also the speed on
    all cores (``run_batch`` with one thread per core).
    """
    import os

    from spikesim.engines.event import EventEngine, _kernel, block_tables, event_net
    from spikesim.record import check_input_spikes

    net = event_net(network)
    w_signed = network.sign * np.asarray(network.weight, np.float64)
    tab, tab_ptr = block_tables(network, w_signed)  # as run_batch makes them, untimed
    n = network.n_neurons
    no_row, no_t, no_v = np.full(n, -1, np.int64), np.zeros(0), np.zeros((0, 0))
    prepared = []
    for inp in inputs:
        t, nn = check_input_spikes(network, inp, duration)
        ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(nn, minlength=n), out=ptr[1:])
        prepared.append((ptr, np.ascontiguousarray(t)))
    one = EventEngine(n_threads=1)
    one.run_batch(network, inputs[:1], duration)  # compile / warm up
    outdeg = out_degree(network)

    def kernel_pass():
        ev = 0
        t0 = time.perf_counter()
        for ptr, t in prepared:
            _, count, _ = _kernel(net, w_signed, tab, tab_ptr, ptr, t, duration, no_row, no_t, no_v)
            ev += int(np.dot(count, outdeg))
        return time.perf_counter() - t0, ev

    def public_pass():
        t0 = time.perf_counter()
        recs = one.run_batch(network, inputs, duration)
        wall = time.perf_counter() - t0
        return wall, sum(int(np.dot(r.counts(), outdeg)) for r in recs)

    def sorted_pass():
        t0 = time.perf_counter()
        recs = one.run_batch(network, inputs, duration)
        for r in recs:
            r.times  # noqa: B018 (builds the time-sorted view)
        return time.perf_counter() - t0

    kernel_s = public_s = sorted_s = np.inf
    events = 0
    for _ in range(max(1, repeats)):
        w, events_k = kernel_pass()
        kernel_s = min(kernel_s, w)
        w, events = public_pass()
        public_s = min(public_s, w)
        sorted_s = min(sorted_s, sorted_pass())
    assert events == events_k, "the public path and the kernel simulated different spikes"
    n_threads = os.cpu_count() or 1
    t0 = time.perf_counter()
    EventEngine(n_threads=n_threads).run_batch(network, inputs, duration)
    wall_par = time.perf_counter() - t0
    return {
        "trials": len(inputs),
        "wall_s": public_s,
        "trials_per_s": len(inputs) / public_s,
        "synaptic_events_per_trial": events / len(inputs),
        "synaptic_events_per_s": events / public_s,
        "kernel_wall_s": kernel_s,
        "kernel_synaptic_events_per_s": events / kernel_s,
        "public_over_kernel": public_s / kernel_s,
        "public_time_sorted_over_kernel": sorted_s / kernel_s,
        "threads": n_threads,
        "trials_per_s_all_cores": len(inputs) / wall_par,
        "speedup_all_cores": public_s / wall_par,
    }


def _nest_build(network, inputs, duration: float, resolution: float):
    """All trials of ``inputs`` as one NEST simulation on ``iaf_psc_delta_ps`` (built, not
    run): trial ``k`` occupies NEST time ``[k P, (k + 1) P)``, its own time 0 at ``k P +
    resolution`` (NEST cannot spike at 0). ``P`` (a whole number of steps) covers the trial,
    every arrival still in flight at its end (depth x the longest delay) and the longest
    refractory period, so that resetting every potential to 0 at ``k P`` starts trial ``k``
    from the state a fresh simulation has. Returns ``(nest, nodes, recorder, ids, P)`` (P in
    1 ps ticks)."""
    from spikesim.engines.nest_engine import NestEngine, import_nest, neuron_params
    from spikesim.engines.ticks import to_ticks
    from spikesim.record import check_input_spikes

    NestEngine(threads=1, resolution=resolution)._check(network, duration)  # clear errors
    nest = import_nest()
    res = int(to_ticks(resolution))
    n = network.n_neurons
    hidden = np.flatnonzero(~network.is_input)
    inputs_ids = np.asarray(network.inputs, np.int64)
    depth = int(network.depth().max()) if n else 0
    span = int(to_ticks(duration)) + (depth + 1) * int(to_ticks(network.delay).max(initial=0))
    period = res + span + int(to_ticks(network.t_ref[hidden]).max(initial=0)) + res
    period = -(-period // res) * res
    nest.ResetKernel()
    nest.set(resolution=resolution * 1e3, local_num_threads=1)
    nodes = nest.Create(
        "iaf_psc_delta_ps",
        int(hidden.size),
        params=neuron_params(network, hidden),
    )
    ids = np.zeros(n, np.int64)
    ids[hidden] = np.asarray(nodes.tolist(), np.int64)
    gens = nest.Create("spike_generator", int(inputs_ids.size), params={"precise_times": True})
    ids[inputs_ids] = np.asarray(gens.tolist(), np.int64)
    ticks, who = [], []
    for k, inp in enumerate(inputs):
        t, nn = check_input_spikes(network, inp, duration)
        ticks.append(to_ticks(t) + k * period + res)
        who.append(np.asarray(nn, np.int64))
    ticks, who = np.concatenate(ticks), np.concatenate(who)
    order = np.lexsort((ticks, who))
    ticks, who = ticks[order], who[order]
    lo = np.searchsorted(who, inputs_ids, side="left")
    hi = np.searchsorted(who, inputs_ids, side="right")
    gens.set([{"spike_times": (ticks[a:b] / 1e9).tolist()} for a, b in zip(lo, hi, strict=True)])
    nest.Connect(
        ids[network.pre],
        ids[network.post],
        conn_spec="one_to_one",
        syn_spec={
            "weight": network.sign * np.asarray(network.weight, np.float64),
            "delay": to_ticks(network.delay) / 1e9,
        },
    )
    rec = nest.Create("spike_recorder")
    nest.Connect(nodes, rec)
    return nest, nodes, rec, ids, period


def bench_nest(network, inputs, duration: float, *, rounds: int = 3, resolution: float = 1e-4):
    """NEST's ``iaf_psc_delta_ps`` on one thread against the event engine's public path on
    the same network and trials, alternating the two in ``rounds`` rounds (best of each).

    ``network`` needs every delay a whole multiple (>= 1) of ``resolution`` (s). Each round
    builds the network in NEST (:func:`_nest_build`: nodes, connections, spike generators
    holding every trial's input spikes; not timed), then times the simulation of all trials
    in one ``RunManager`` session (per trial: every potential reset to 0 and one ``Run`` of
    the trial's period) and reading the spike recorder; then times
    ``EventEngine(n_threads=1).run_batch(network, inputs, duration)``. Spikes after a
    trial's end are not counted, as in the event engine.

    Returns the ``nest`` entry: ``trials``, ``rounds``, ``wall_s``, ``trials_per_s``,
    ``synaptic_events_per_trial``, ``synaptic_events_per_s``, ``build_s`` (the last
    round's, apart), ``threads`` (1), ``resolution_s``, ``delay_s`` (the edges' delays, if
    all equal), ``same_counts_as_event`` (every trial's spike count of every neuron equal in
    both engines), ``event_wall_s`` and ``event_synaptic_events_per_s`` (the event engine on
    this network).
    """
    from spikesim.engines.event import EventEngine
    from spikesim.engines.ticks import to_ticks

    n = network.n_neurons
    hidden = np.flatnonzero(~network.is_input)
    outdeg = out_degree(network)
    one = EventEngine(n_threads=1)
    one.run_batch(network, inputs[:1], duration)  # compile / warm up
    end = int(to_ticks(duration))
    res = int(to_ticks(resolution))
    nest_s = event_s = np.inf
    build_s = 0.0
    nest_counts = event_counts = None
    for _ in range(max(1, rounds)):
        t0 = time.perf_counter()
        nest, nodes, rec, ids, period = _nest_build(network, inputs, duration, resolution)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with nest.RunManager():
            for _k in range(len(inputs)):
                nodes.V_m = 0.0
                nest.Run(period / 1e9)
        ev = rec.get("events")
        nest_s = min(nest_s, time.perf_counter() - t0)
        st = np.rint(np.asarray(ev["times"], np.float64) * 1e9).astype(np.int64)
        trial, local = np.divmod(st - res, period)
        keep = local < end
        index = np.full(int(ids.max()) + 1, -1, np.int64)
        index[ids[hidden]] = hidden
        nest_counts = np.zeros((len(inputs), n), np.int64)
        np.add.at(nest_counts, (trial[keep], index[np.asarray(ev["senders"], np.int64)[keep]]), 1)
        t0 = time.perf_counter()
        recs = one.run_batch(network, inputs, duration)
        event_s = min(event_s, time.perf_counter() - t0)
        event_counts = np.array([r.counts() for r in recs], np.int64).reshape(len(inputs), n)
    nest_counts[:, network.inputs] = event_counts[:, network.inputs]  # the generators' spikes
    nest_events = int(np.sum(nest_counts @ outdeg))
    event_events = int(np.sum(event_counts @ outdeg))
    delays = np.unique(np.asarray(network.delay, np.float64))
    return {
        "trials": len(inputs),
        "rounds": max(1, rounds),
        "wall_s": nest_s,
        "trials_per_s": len(inputs) / nest_s,
        "synaptic_events_per_trial": nest_events / len(inputs),
        "synaptic_events_per_s": nest_events / nest_s,
        "build_s": build_s,
        "threads": 1,
        "resolution_s": resolution,
        "delay_s": float(delays[0]) if delays.size == 1 else None,
        "same_counts_as_event": bool(np.array_equal(nest_counts, event_counts)),
        "event_wall_s": event_s,
        "event_synaptic_events_per_s": event_events / event_s,
    }


def bench_engine(
    network,
    inputs,
    duration: float,
    dt: float,
    *,
    engine: str,
    max_trials: int | None = None,
) -> dict:
    """Benchmark a registered engine (other than ``event``) on ``inputs`` (list of input
    spikes).

    An engine unavailable here (:meth:`~spikesim.engines.base.Engine.availability`) is an
    :class:`~spikesim.errors.EngineError` with its reason; nothing is measured. A
    clock-driven engine runs at time step ``dt`` (seconds). An engine that compiles per
    structure (``brian2-standalone``, ``brian2-cuda``) is compiled into a fresh temporary
    cache first (``compile_s``, reported apart), then every trial runs through
    ``run_batch``. Other engines time at most ``max_trials`` trials after a warm-up trial
    (cython compiles there).

    Returns ``trials``, ``wall_s``, ``trials_per_s``, ``synaptic_events_per_trial``,
    ``synaptic_events_per_s``, ``compile_s`` (None for engines without a build) and ``dt``.
    """
    import tempfile

    from spikesim.engines import get_engine
    from spikesim.engines.brian2.standalone import Brian2StandaloneEngine
    from spikesim.errors import EngineError
    from spikesim.record import check_input_spikes

    eng = get_engine(engine)
    ok, why = type(eng).availability()
    if not ok:
        raise EngineError(f"{why}; nothing was measured")
    if not eng.exact:
        eng = eng.with_dt(dt)
    trials = list(
        inputs if max_trials is None or eng.compiles_per_structure else inputs[:max_trials]
    )
    compile_s = None
    with tempfile.TemporaryDirectory(prefix="spikesim-bench-") as tmp:
        if isinstance(eng, Brian2StandaloneEngine):  # brian2-cuda extends it
            eng = eng.with_cache(tmp)
            checked = [check_input_spikes(network, inp, duration) for inp in trials]
            t0 = time.perf_counter()
            eng.project(network, duration, checked)
            compile_s = time.perf_counter() - t0
        else:
            eng.run(network, trials[0], duration)  # warm-up (cython compiles here)
        t0 = time.perf_counter()
        recs = eng.run_batch(network, trials, duration)
        wall = time.perf_counter() - t0
    events = sum(synaptic_events(network, r.counts()) for r in recs)
    return {
        "trials": len(trials),
        "wall_s": wall,
        "trials_per_s": len(trials) / wall,
        "synaptic_events_per_trial": events / len(trials),
        "synaptic_events_per_s": events / wall,
        "compile_s": compile_s,
        "dt": dt,
    }


def run(args: argparse.Namespace) -> dict:
    from spikesim import encoding
    from spikesim.errors import ValidationError

    if args.nest_rounds < 1:
        raise ValidationError(f"--nest-rounds must be >= 1, got {args.nest_rounds}")

    sizes = [int(s) for s in args.sizes.split(",")]
    net = benchmark_network(sizes, seed=args.seed)
    inputs = [
        encoding.poisson(
            np.ones(sizes[0]),
            duration=args.duration,
            max_rate=args.rate,
            neurons=net.inputs,
            seed=args.seed + k,
        )
        for k in range(args.trials)
    ]
    result = {
        "network": {
            "sizes": sizes,
            "n_edges": net.n_edges,
            "input_rate_hz": args.rate,
            "duration_s": args.duration,
        },
        "engines": {},
    }
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if name == "event":
            result["engines"][name] = bench_event(net, inputs, args.duration)
        elif name == "nest":
            result["engines"][name] = _nest_entry(args, sizes, inputs)
        else:
            from spikesim.errors import EngineError

            try:
                result["engines"][name] = bench_engine(
                    net,
                    inputs,
                    args.duration,
                    args.dt,
                    engine=name,
                    max_trials=args.runtime_trials,
                )
            except (EngineError, ValidationError) as exc:  # unknown / unavailable engine
                result["engines"][name] = {"error": str(exc)}
    if args.instructions:
        if args.instruction_trials < 1:
            raise ValidationError(
                f"--instruction-trials must be >= 1, got {args.instruction_trials}"
            )
        result["instructions"] = bench_instructions(
            sizes, args.instruction_trials, args.duration, args.rate, args.seed
        )
    ev = result["engines"].get("event", {}).get("synaptic_events_per_s")
    b2 = result["engines"].get("brian2-standalone", {}).get("synaptic_events_per_s")
    result["synaptic_events_per_s"] = ev
    result["trials_per_s"] = result["engines"].get("event", {}).get("trials_per_s")
    if ev and b2:
        result["ratio_event_vs_brian2_standalone"] = ev / b2
    ns = result["engines"].get("nest", {})
    if ns.get("synaptic_events_per_s"):
        result["ratio_event_vs_nest"] = (
            ns["event_synaptic_events_per_s"] / ns["synaptic_events_per_s"]
        )
    return result


def _nest_entry(args, sizes, inputs) -> dict:
    """The ``nest`` entry of :func:`run`: :func:`bench_nest` on the benchmark network with
    0.1 ms delays, or ``{"error": why}`` where NEST is not importable."""
    from spikesim.engines.nest_engine import NestEngine, import_nest

    ok, why = NestEngine.availability()
    if ok:
        try:
            import_nest()
        except Exception as exc:  # an installed but broken NEST: say why, measure the rest
            ok, why = False, f"NEST is installed but does not import ({exc})"
    if not ok:
        return {"error": f"{why}; nothing was measured"}
    net = benchmark_network(sizes, seed=args.seed, delay=1e-4)
    return bench_nest(net, inputs, args.duration, rounds=args.nest_rounds)
