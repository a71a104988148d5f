"""Scale: build time, memory and simulation speed of dense layered networks, 1e5-1e8 edges.

For each edge count ``E`` (``--edges``), a fresh process builds ``layered([n, n])`` with
``n = round(sqrt(E))`` (dense, one delay, all edges excitatory) and runs ``--trials``
100 ms trials of 20 Hz Poisson inputs on the event engine's public path
(``EventEngine(n_threads=1).run_batch``). Reported per size:

- ``build_s`` and ``build_edges_per_s`` (best of ``--build-repeats`` builds);
- ``network_bytes_per_edge``: the bytes of the network's own arrays (``nbytes`` of every
  array it holds, stride-0 views counted once) per edge;
- ``build_peak_bytes_per_edge``: the process's peak resident memory during the build,
  above what it held before (``baseline_resident_mib``), per edge (what ``/proc`` sees,
  temporaries included);
- ``build_traced_peak_bytes_per_edge``: the peak of NumPy's allocations during one more
  build under ``tracemalloc``, per edge (sizes up to :data:`TRACED_MAX_EDGES`; at small
  sizes the resident figure can read low, the build reusing memory the process already
  held);
- ``first_trial_s`` (includes the engine's per-network preparation: blocks, ticks) and
  ``trial_s`` (best later trial), ``synaptic_events_per_s`` on the later trials, and
  ``sim_peak_bytes_per_edge``: the peak resident memory of the trials above the network's
  (``run_batch`` makes the dense blocks' transposed weights once per batch, 8 B per edge,
  up to :data:`spikesim.engines.event.TABLE_LIMIT` values; larger networks gather them per
  trial and chunk).

The imports and the compiled kernels are in each process's baseline (a tiny network is
built and simulated first). Sizes whose estimated memory exceeds the build limit
(:func:`spikesim.graph.check_memory`) are reported with the error instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

#: Largest size also built under ``tracemalloc`` (an extra build).
TRACED_MAX_EDGES = 10**8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--edges",
        default="1e5,1e6,1e7,1e8",
        help="comma-separated edge counts (default 1e5,1e6,1e7,1e8)",
    )
    parser.add_argument("--trials", type=int, default=3, help="trials per size (default 3)")
    parser.add_argument(
        "--build-repeats", type=int, default=2, help="builds per size, best taken (default 2)"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="input rate in Hz")
    parser.add_argument("--duration", type=float, default=0.1, help="trial length in s")


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset the process's peak resident memory (``VmHWM``) to its current one (Linux:
    ``5`` into ``/proc/self/clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def network_nbytes(network) -> int:
    """Bytes held by a network's arrays (its own and the derived CSR and order), a stride-0
    view counted as the one value it holds."""
    seen, total = set(), 0
    for arr in network.arrays():
        base = arr
        while isinstance(base.base, type(arr)):
            base = base.base
        if id(base) in seen:
            continue
        seen.add(id(base))
        total += base.nbytes
    for arr in (network.inputs, network.outputs):
        total += arr.nbytes
    return total


def measure_size(n_edges: int, *, trials: int, build_repeats: int, rate: float, duration: float):
    """One size's figures (see the module docstring), in this process."""
    import gc
    import time

    import numpy as np

    import spikesim
    from spikesim.benchmarks.events import synaptic_events
    from spikesim.encoding import poisson
    from spikesim.engines.event import EventEngine
    from spikesim.errors import ValidationError

    engine = EventEngine(n_threads=1)
    n = max(1, round(float(n_edges) ** 0.5))

    def build():
        # mean drive ~ n * rate * tau_syn * w: a little above threshold
        return spikesim.layered([n, n], weight_mean=1.2 / (n * rate * 0.01), seed=0)

    def inputs(k):
        return poisson(np.ones(n), duration=duration, max_rate=rate, neurons=np.arange(n), seed=k)

    tiny = spikesim.layered([4, 4], seed=0)  # a dense block: every kernel is loaded
    warm = [poisson(np.ones(4), duration=duration, max_rate=rate, seed=k) for k in range(2)]
    engine.run_batch(tiny, warm, duration)
    gc.collect()
    out = {"sizes": [n, n], "n_edges": n * n}
    best = float("inf")
    net = None
    for _ in range(max(1, build_repeats)):
        del net
        gc.collect()
        before = _rss_kb("VmRSS")
        exact_peak = _reset_peak()
        t0 = time.perf_counter()
        try:
            net = build()
        except ValidationError as exc:
            return {**out, "error": str(exc)}
        best = min(best, time.perf_counter() - t0)
        peak = _rss_kb("VmHWM") - before
    m = net.n_edges
    traced = None
    if m <= TRACED_MAX_EDGES:  # one more build, under tracemalloc (NumPy's allocations)
        import tracemalloc

        del net
        gc.collect()
        tracemalloc.start()
        net = build()
        traced = tracemalloc.get_traced_memory()[1] / m
        tracemalloc.stop()
    out["build_traced_peak_bytes_per_edge"] = traced
    out["build_s"] = best
    out["build_edges_per_s"] = m / best
    out["network_bytes_per_edge"] = network_nbytes(net) / m
    out["build_peak_bytes_per_edge"] = peak * 1024 / m
    out["baseline_resident_mib"] = before / 1024  # the process before the (last) build
    out["peak_is_exact"] = exact_peak  # False: VmHWM could not be reset (upper bound)
    trial_inputs = [inputs(k) for k in range(max(2, trials))]
    held = _rss_kb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    rec = engine.run_batch(net, trial_inputs[:1], duration)[0]
    out["first_trial_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    recs = engine.run_batch(net, trial_inputs[1:], duration)
    wall = time.perf_counter() - t0
    out["sim_peak_bytes_per_edge"] = (_rss_kb("VmHWM") - held) * 1024 / m
    events = sum(synaptic_events(net, r.counts()) for r in recs)
    out["trial_s"] = wall / len(recs)
    out["synaptic_events_per_trial"] = events / len(recs)
    out["synaptic_events_per_s"] = events / wall
    out["output_spikes_per_trial"] = float(np.mean([r.counts()[n:].sum() for r in [rec, *recs]]))
    return out


def _child_command(n_edges: int, args: argparse.Namespace) -> list[str]:
    code = (
        "import json; from spikesim.benchmarks.scale import measure_size; "
        f"print(json.dumps(measure_size({int(n_edges)}, trials={int(args.trials)}, "
        f"build_repeats={int(args.build_repeats)}, rate={float(args.rate)!r}, "
        f"duration={float(args.duration)!r})))"
    )
    return [sys.executable, "-c", code]


def run(args: argparse.Namespace) -> dict:
    from spikesim.errors import ValidationError

    try:
        sizes = [int(float(e)) for e in args.edges.split(",") if e.strip()]
    except ValueError:
        raise ValidationError(
            f"--edges must be comma-separated numbers, got {args.edges!r}"
        ) from None
    for e in sizes:
        if e < 1:
            raise ValidationError(f"--edges: every edge count must be >= 1, got {e}")
    if args.trials < 1:
        raise ValidationError(f"--trials must be >= 1, got {args.trials}")
    result = {"engine": "event (one thread)", "input_rate_hz": args.rate, "sizes": []}
    for e in sizes:
        proc = subprocess.run(_child_command(e, args), capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            entry = {"n_edges": e, "error": f"exit {proc.returncode}: {tail[0]}"}
        else:
            entry = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(entry), file=sys.stderr, flush=True)  # progress, one line a size
        result["sizes"].append(entry)
    return result
