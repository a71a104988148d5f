"""Memory per synapse of the event engine and of NEST (docs/guide/nest.md).

Each measurement runs in a fresh process: build ``layered([n, n])`` (n**2 edges, delays
0.1 ms), run one 100 ms trial of 20 Hz Poisson inputs, and report the peak resident memory
above the process's baseline (Python, NumPy, Numba, NEST imported and the kernels
compiled on a tiny network first), divided by the number of edges. For NEST it also
reports NEST's own share: the resident memory after the trial (NEST still holds its copy
of the network) minus that after building the spikesim network.

    python docs/scripts/memory_per_synapse.py --sizes 500,1000,2000 [--engines event,nest]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import numpy as np
import spikesim
from spikesim.encoding import poisson
engine, n = sys.argv[1], int(sys.argv[2])
def peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
def trial(net, eng):
    inp = poisson(np.ones(net.inputs.size), duration=0.1, max_rate=20.0, neurons=net.inputs, seed=0)
    return spikesim.simulate(net, inp, 0.1, engine=eng)
tiny = spikesim.layered([4, 4], delay=1e-4, seed=0)
nest_kb = None
if engine == "nest":
    from spikesim.engines.nest_engine import NestEngine, import_nest
    eng = NestEngine()
    nest = import_nest()
else:
    eng = "event"
trial(tiny, eng)  # imports and compiled kernels in the baseline
base = peak_kb()
net = spikesim.layered([n, n], weight_mean=20.0 / n, delay=1e-4, seed=0)
net_kb = rss_kb()
rec = trial(net, eng)
if engine == "nest":
    nest_kb = rss_kb() - net_kb  # NEST still holds its copy of the network here
print(json.dumps({"engine": engine, "n_edges": net.n_edges, "peak_above_base_kb": peak_kb() - base,
                  "nest_kb": nest_kb, "spikes": int(rec.n_spikes)}))
"""


def measure(engine: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, engine, str(n)], capture_output=True, text=True, check=True
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["bytes_per_synapse"] = r["peak_above_base_kb"] * 1024 / r["n_edges"]
    if r["nest_kb"] is not None:
        r["nest_bytes_per_synapse"] = r["nest_kb"] * 1024 / r["n_edges"]
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000")
    parser.add_argument("--engines", default="event,nest")
    args = parser.parse_args()
    for n in [int(s) for s in args.sizes.split(",")]:
        for engine in args.engines.split(","):
            print(json.dumps(measure(engine, n)))


if __name__ == "__main__":
    main()
