"""Learning speed: reward-modulated STDP trials per second on the 784-100-10 network.

One trial = Poisson input spikes (20 Hz on every input, 100 ms), exact event-driven
simulation, loss, STDP eligibilities of all edges and the update of SH eq. (4.1). Measured
single-threaded (``batch = 1``: the whole loop in Numba, trial after trial) and on all cores
(``batch = B``: B trials simulated in parallel threads with the same weights, their updates
then applied in trial order; see :mod:`spikesim.plasticity.trainer`). Reports both and the
ratio all-cores / single measured in the same run. ``trials_per_cpu_s`` (trials per second
of process CPU time) is given beside the wall-clock figures: on a machine shared with other
work it is the fairer single-core figure. ``peak_rss_mb`` is the process's peak memory
(e.g. ``--sizes 784,1000,300`` trains a network of 1.08e6 synapses).

``brian2_standalone`` adds the same rule as generated code in one Brian2 ``cpp_standalone``
run, single-threaded and with OpenMP on all cores, against a Python loop over the event
engine on the same (pre-drawn) trials: :mod:`spikesim.benchmarks.brian2_training`.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, default=2000, help="trials per measurement")
    parser.add_argument("--sizes", default="784,100,10", help="layer sizes (default 784,100,10)")
    parser.add_argument("--rate", type=float, default=20.0, help="input rate in Hz")
    parser.add_argument("--duration", type=float, default=0.1, help="trial length in s")
    parser.add_argument("--batch", type=int, default=40, help="trials per parallel batch")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads (0: NUMBA_NUM_THREADS, all cores by default)",
    )
    parser.add_argument(
        "--brian2-trials",
        type=int,
        default=200,
        help="trials of the Brian2 cpp_standalone training loop and of the event-engine "
        "loop it is compared with (default 200; 0: skip Brian2, which compiles two "
        "binaries, about 35 s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of network, inputs and learner (default 0)"
    )


def _trainer(net, args, *, batch: int, chunk: int, threads: int):
    from spikesim.plasticity.trainer import Trainer

    n_out = net.outputs.size
    return Trainer(
        net,
        np.ones((1, net.inputs.size)),
        np.full((1, n_out), 20.0),
        np.full(1, -1),
        duration=args.duration,
        max_rate=args.rate,
        c=100.0,
        learning_rate=1e-4,
        baseline="ema",
        loss="mse",
        rate_scale=20.0,
        chunk=chunk,
        batch=batch,
        n_threads=threads,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> dict:
    from spikesim.benchmarks.events import benchmark_network

    sizes = [int(s) for s in args.sizes.split(",")]
    net = benchmark_network(sizes, seed=args.seed)
    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    batch = args.batch
    chunk = max(batch, (args.trials // batch) * batch)
    # compile / warm up both paths
    _trainer(net, args, batch=1, chunk=batch, threads=1).train_chunk()
    _trainer(net, args, batch=batch, chunk=batch, threads=threads).train_chunk()
    out = {}
    for label, b, nt in (("single", 1, 1), ("all_cores", batch, threads)):
        tr = _trainer(net, args, batch=b, chunk=chunk, threads=nt)
        t0 = time.perf_counter()
        c0 = time.process_time()
        r = tr.train_chunk()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        out[label] = {
            "trials": chunk,
            "wall_s": wall,
            "trials_per_s": chunk / wall,
            "cpu_s": cpu,
            "trials_per_cpu_s": chunk / cpu,
            "batch": b,
            "threads": nt,
            "mean_loss": float(np.mean(r["losses"])),
        }
    return {
        "network": {
            "sizes": sizes,
            "n_edges": net.n_edges,
            "input_rate_hz": args.rate,
            "duration_s": args.duration,
        },
        "trial": "poisson input + simulation + loss + eligibility + update (SH eq. 4.1)",
        "trials_per_s": out["single"]["trials_per_s"],
        "trials_per_s_all_cores": out["all_cores"]["trials_per_s"],
        "ratio_all_cores_vs_single": out["all_cores"]["trials_per_s"]
        / out["single"]["trials_per_s"],
        "peak_rss_mb": _peak_rss_mb(),
        "details": out,
        **_brian2(args, sizes),
    }


def _brian2(args: argparse.Namespace, sizes: list[int]) -> dict:
    """The Brian2-native rule in one cpp_standalone run against the event engine (Python
    loop) on the same trials: :func:`spikesim.benchmarks.brian2_training.compare_loops`.
    A failed build or a setting the Brian2 loop refuses is reported, not raised: the
    event-engine figures stand alone."""
    if args.brian2_trials <= 0:
        return {}
    from spikesim.benchmarks.brian2_training import compare_loops
    from spikesim.errors import EngineError, ValidationError

    try:
        res = compare_loops(
            trials=args.brian2_trials,
            duration=args.duration,
            dt=1e-4,
            threads=args.threads,
            seed=args.seed,
            sizes=sizes,
        )
    except (EngineError, ValidationError) as exc:  # no compiler, c * T too large, ...
        return {"brian2_standalone": {"error": str(exc)}}
    return {
        "brian2_standalone": res,
        "ratio_brian2_loop_time_vs_event_loop": res["ratio_brian2_loop_time_vs_event_loop"],
    }


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
