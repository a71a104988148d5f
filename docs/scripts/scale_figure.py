"""The scale figure of docs/guide/benchmarks.md from ``spikesim bench scale --json`` output.

    spikesim bench scale --json > docs/figures/bench/scale.json
    python docs/scripts/scale_figure.py docs/figures/bench/scale.json docs/figures/bench-scale.png

Three panels against the number of edges (log-log): build time, memory per edge (the
network's arrays, the build's peak, the trials' peak above the network), and synaptic
events per second of the event engine on one core. Extra JSON files (e.g. a single large
size measured apart) can follow the first.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    *inputs, out = sys.argv[1:]
    rows = []
    for path in inputs:
        with open(path) as fh:
            rows += [r for r in json.load(fh)["sizes"] if "error" not in r]
    rows.sort(key=lambda r: r["n_edges"])
    e = [r["n_edges"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    ax[0].loglog(e, [r["build_s"] for r in rows], "o-", label="build time")
    ax[0].loglog(e, [x / 5e7 for x in e], "k:", label="5e7 edges/s")
    ax[0].set_ylabel("seconds")
    ax[0].set_title("layered([n, n]) build")
    ax[1].semilogx(e, [r["network_bytes_per_edge"] for r in rows], "o-", label="network arrays")
    tr = [(x, r["build_traced_peak_bytes_per_edge"]) for x, r in zip(e, rows, strict=True)]
    tr = [(x, y) for x, y in tr if y is not None]
    ax[1].semilogx(*zip(*tr, strict=True), "s--", label="build peak (tracemalloc)")
    big = [(x, r["build_peak_bytes_per_edge"]) for x, r in zip(e, rows, strict=True) if x >= 1e6]
    ax[1].semilogx(*zip(*big, strict=True), "kx", label="build peak (resident)")
    ax[1].semilogx(
        e, [r["sim_peak_bytes_per_edge"] for r in rows], "^-", label="trial, above network"
    )
    ax[1].axhline(24, color="k", ls=":", lw=1, label="24 B target")
    ax[1].set_ylabel("bytes per edge (resident)")
    ax[1].set_ylim(0, 32)
    ax[1].set_title("memory")
    ax[2].semilogx(e, [r["synaptic_events_per_s"] for r in rows], "o-")
    ax[2].set_ylabel("synaptic events / s (one core)")
    ax[2].set_title("event engine, 20 Hz inputs, 100 ms")
    for a in ax:
        a.set_xlabel("edges")
        a.grid(alpha=0.3, which="both")
    ax[0].legend(fontsize=8)
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main()
