"""Where one 784-100-10 trial's time goes inside the event kernel (a diagnostic).

Compiles modified copies of :func:`spikesim.engines.event.simulate_trial` (each with one
part of the work removed) and times them on the same 50 trials of 20 Hz Poisson input,
100 ms, delay 0, the batch's block tables made once (as ``run_batch`` does). The
differences between the variants are the parts' costs. Then ``_scan_block`` alone on
synthetic arrival groups of the two layers' shapes, in ns per synaptic event.

The copies are made by replacing lines of the kernel's source: if the kernel changes, the
script stops and names the line it no longer finds. Run on a quiet machine:

    python docs/scripts/kernel_breakdown.py
"""

from __future__ import annotations

import importlib
import inspect
import time

import numpy as np
from numba import njit
from numba.typed import List

from spikesim.benchmarks.events import benchmark_network

ev = importlib.import_module("spikesim.engines.event")

EMPTY = "(np.zeros(0, np.int64), np.zeros(0, np.int64))"
SCAN = "et, en = _scan_block(ng, gstart, gtime, gdecay, sslot, wt, thr_b, tref_b)"
BLOCK = "        # -- the block's shared arrival sequence\n"
SORT = "        idx = _stable_argsort(at[:k])\n"

VARIANTS = {
    "full": [],
    "without the output block": [
        (BLOCK, "        if b == nblk - 1:\n            continue\n" + BLOCK)
    ],
    "output block without its scan": [
        (BLOCK, BLOCK + "        last = b == nblk - 1\n"),
        (SCAN, SCAN.replace("et, en = ", "et, en = ") + " if not last else " + EMPTY),
    ],
    "no scans (so no hidden spikes)": [(SCAN, "et, en = " + EMPTY)],
    "hidden block: gather and sort only": [(SORT, SORT + "        continue\n")],
    "hidden block: gather only": [(SORT, "        continue\n")],
}


def _variant(src: str, fname: str, name: str, edits):
    s = src.replace(f"def {fname}", f"def _v_{name}", 1)
    for old, new in edits:
        if old not in s:
            raise SystemExit(f"{fname} changed: no line {old.strip()!r}")
        s = s.replace(old, new)
    g = dict(vars(ev))
    exec(s, g)  # noqa: S102 - a diagnostic compiling edited copies of our own kernel
    return njit(nogil=True)(g[f"_v_{name}"])


@njit(nogil=True)
def _trials(f, enet, w, tables, table_ptr, ptrs, times, reps, vrow):
    total = 0
    for _ in range(reps):
        for i in range(len(ptrs)):
            sp = f(
                enet, w, tables, table_ptr, ptrs[i], times[i], 0.1, vrow, np.zeros(0),
                np.zeros((0, 0)), False,
            )  # fmt: skip
            total += sp.count.sum()
    return total


@njit(nogil=True)
def _scans(f, reps, ng, gstart, gtime, gdecay, sslot, wt, thr, tref):
    n = 0
    for _ in range(reps):
        et, _en = f(ng, gstart, gtime, gdecay, sslot, wt, thr, tref)
        n += et.shape[0]
    return n


def main() -> None:
    net = benchmark_network([784, 100, 10], seed=0)
    enet = ev.event_net(net)
    w = ev.signed_weights(net, net.weight)
    tables, table_ptr = ev.block_tables(net, w)
    vrow = np.full(net.n_neurons, -1, np.int64)
    rng = np.random.default_rng(0)
    ptrs, times = List(), List()
    for _ in range(50):
        cnt = rng.poisson(2.0, 784)
        t = np.concatenate([np.sort(rng.uniform(0.0, 0.1, c)) for c in cnt])
        ptr = np.full(net.n_neurons + 1, cnt.sum(), np.int64)
        ptr[:785] = np.r_[0, np.cumsum(cnt)]
        ptrs.append(ptr)
        times.append(t)
    src = inspect.getsource(ev.simulate_trial.py_func)
    src = src[src.index("def simulate_trial") :]
    fs = {
        k: _variant(src, "simulate_trial", f"s{i}", e) for i, (k, e) in enumerate(VARIANTS.items())
    }
    for f in fs.values():
        _trials(f, enet, w, tables, table_ptr, ptrs, times, 1, vrow)
    reps = 20
    print("simulate_trial variants, us per trial (best of 3):")
    for k, f in fs.items():
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            _trials(f, enet, w, tables, table_ptr, ptrs, times, reps, vrow)
            best = min(best, (time.perf_counter() - t0) / (reps * len(ptrs)))
        print(f"  {k:38s} {best * 1e6:7.1f}")
    print("_scan_block alone, ns per synaptic event (one arrival per group):")
    for label, nb, fan, ng, gain in (
        ("hidden (100 x 784)", 100, 784, 1507, 6.0),
        ("output (10 x 100)", 10, 100, 1616, 2.0),
    ):
        r = np.random.default_rng(1)
        gtime = np.sort(r.integers(0, 10**11, ng)).astype(np.int64)
        gstart = np.arange(ng + 1, dtype=np.int64)
        gdecay = np.exp(-np.diff(np.r_[0, gtime]) / 1e12 / 0.01)
        sslot = r.integers(0, fan, ng).astype(np.int64)
        wt = r.uniform(0.0, 4.0 * gain / fan, (fan, nb))
        thr, tref = np.ones(nb), np.full(nb, 2 * 10**9, np.int64)
        args = (ng, gstart, gtime, gdecay, sslot, wt, thr, tref)
        _scans(ev._scan_block, 1, *args)
        t0 = time.perf_counter()
        _scans(ev._scan_block, 400, *args)
        dt = (time.perf_counter() - t0) / 400
        print(f"  {label:20s} {dt / (ng * nb) * 1e9:6.3f}")


if __name__ == "__main__":
    main()
