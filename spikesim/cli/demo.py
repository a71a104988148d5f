"""``spikesim demo --out DIR [--seed N]``: the main job on its built-in default.

Builds a layered spiking network 64 -> 100 -> 10 on scikit-learn's digits (each image a
100 ms Poisson spike train), simulates it with the exact event engine, and writes
``raster.png``, ``voltage.png`` and ``summary.json`` into DIR.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="simulate a spiking network on digits and plot it")
    p.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    p.add_argument("--seed", type=int, default=0, help="seed of network and spike trains")
    p.add_argument("--engine", default="event", help="simulation engine (default event)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import spikesim
    from spikesim import data, encoding, plots
    from spikesim.io import save_figure, write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ds = data.load("digits", seed=args.seed)
    x_train, y_train = ds.x_train, ds.y_train
    sizes = [64, 100, 10]
    net = spikesim.layered(
        sizes,
        weight_mean=[0.08, 0.12],
        inhibitory_fraction=0.2,
        tau_syn=0.01,
        threshold=1.0,
        t_ref=0.002,
        seed=args.seed,
    )
    duration = 0.1
    x = x_train[0]
    inp = encoding.poisson(x, duration=duration, max_rate=200.0, neurons=net.inputs, seed=args.seed)
    hidden, output = net.layers[1], net.layers[2]
    watch = [int(hidden[0]), int(hidden[1]), int(output[0])]
    t_sim = time.perf_counter()
    rec = spikesim.simulate(
        net,
        inp,
        duration,
        engine=args.engine,
        voltage_neurons=watch,
        voltage_times=np.arange(0.0, duration, 5e-5),
    )
    t_sim = time.perf_counter() - t_sim

    ax = plots.raster(
        rec,
        net.groups(),
        group_names=["input", "hidden", "output"],
        title=f"digit {int(y_train[0])}: 64-100-10 spiking network, 100 ms",
    )
    save_figure(ax.figure, out / "raster.png")
    ax = plots.voltage(
        rec,
        net.threshold,
        neurons=watch,
        title="potentials of two hidden neurons and one output neuron",
    )
    save_figure(ax.figure, out / "voltage.png")
    counts = rec.counts()
    summary = {
        "network": {"sizes": sizes, "n_neurons": net.n_neurons, "n_edges": net.n_edges},
        "engine": args.engine,
        "seed": args.seed,
        "label": int(y_train[0]),
        "duration_s": duration,
        "spike_counts_per_layer": {
            name: int(counts[g].sum())
            for name, g in zip(["input", "hidden", "output"], net.groups(), strict=True)
        },
        "output_counts": counts[output].tolist(),
        "simulation_wall_time_s": t_sim,
        "wall_time_s": time.perf_counter() - t0,
    }
    write_json(out / "summary.json", summary)
    print(f"wrote {out / 'raster.png'}, {out / 'voltage.png'}, {out / 'summary.json'}")
    return 0
