"""``spikesim demo --out DIR [--seed N]``: the main job on its built-in default.

Builds a layered spiking network 64 -> 100 -> 10 on scikit-learn's digits (each image a
100 ms Poisson spike train), simulates it with the exact event engine, and writes
``raster.png``, ``voltage.png`` and ``summary.json`` into DIR. Then it trains a small
network (20 inputs + bias -> 2 outputs, excitatory/inhibitory pairs) on the two-class
spike-pattern task with reward-modulated STDP (Schmidt-Hieber eq. 4.1) for 16,000 trials
and writes ``learning_curve.png``, ``weights.png`` (trajectories of five sampled
excitatory/inhibitory pairs) and ``trained_raster.png`` (the trained network on one
example of each class).

The random network's weight means (0.04 hidden, 0.06 output) keep it out of saturation:
over the first 20 digits the hidden layer fires 32.7 Hz and the outputs 1-16 spikes per
trial (mean 5.9); the earlier 0.08/0.12 gave 101.3 Hz and 19-32 spikes, every output
alike (``PYTHONPATH=. python docs/scripts/demo_rates.py "[[0.08, 0.12], [0.04, 0.06]]"``).
``summary.json`` records the trained network's mean output counts per class.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> None:
    from spikesim.cli._common import add_seed
    from spikesim.engines import available

    p = sub.add_parser(
        "demo",
        help="simulate a spiking network on digits and plot it",
        description=(
            "Simulate a 64 -> 100 -> 10 spiking network on one digit image (raster.png, "
            "voltage.png, summary.json), then train a small network with reward-modulated "
            "STDP on a two-class spike-pattern task (learning_curve.png, weights.png), all "
            "in --out."
        ),
    )
    p.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    add_seed(p, default=0, what="network and spike trains")
    p.add_argument(
        "--engine",
        default="event",
        choices=available(),
        help="simulation engine (default event; `spikesim info` says which run here)",
    )
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
        weight_mean=[0.04, 0.06],  # hidden ~30 Hz, outputs 1-16 spikes: not saturated
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
        groups=net.groups(),
        group_names=["input", "hidden", "output"],
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
        "hidden_rate_hz": float(counts[hidden].mean() / duration),
        "output_counts": counts[output].tolist(),
        "simulation_wall_time_s": t_sim,
        "wall_time_s": time.perf_counter() - t0,
    }
    summary["learning"] = _learn(out, args.seed)
    summary["wall_time_s"] = time.perf_counter() - t0
    write_json(out / "summary.json", summary)
    print(
        f"wrote {out / 'raster.png'}, {out / 'voltage.png'}, {out / 'learning_curve.png'}, "
        f"{out / 'weights.png'}, {out / 'trained_raster.png'}, {out / 'summary.json'}"
    )
    return 0


def _learn(out: Path, seed: int) -> dict:
    """Train the spike-pattern task briefly; write learning_curve.png and weights.png."""
    from spikesim import plots
    from spikesim.io import save_figure
    from spikesim.plasticity.loss import one_hot_rates
    from spikesim.plasticity.tasks import ei_network, spike_pattern_task, with_bias
    from spikesim.plasticity.trainer import Trainer

    ds = spike_pattern_task(n_inputs=20, n_train=400, n_test=200, seed=seed)
    net = ei_network([21, 2], w_exc=0.2, w_inh=0.1, seed=seed)
    trainer = Trainer(
        net,
        with_bias(ds.x_train, 1),
        one_hot_rates(ds.y_train, 2, 60.0, 10.0),
        ds.y_train,
        duration=0.1,
        max_rate=100.0,
        c=100.0,
        learning_rate=0.02,
        baseline="per-sample",
        beta=0.3,
        rate_scale=50.0,
        chunk=1000,
        seed=seed,
    )
    test = (with_bias(ds.x_test, 1), one_hot_rates(ds.y_test, 2, 60.0, 10.0), ds.y_test)
    rng = np.random.default_rng(seed)
    # five excitatory/inhibitory pairs (both edges of each pair, so they can be drawn paired)
    first = np.flatnonzero(net.sign > 0)
    pairs = np.sort(rng.choice(first, size=5, replace=False))
    key = net.pre.astype(np.int64) * net.n_neurons + net.post  # int64: no overflow
    syn = np.flatnonzero(np.isin(key, key[pairs]))
    steps, acc, snaps = [0], [trainer.evaluate(*test)["accuracy"]], [trainer.w[syn].copy()]
    t_train = time.perf_counter()
    for _ in range(16):
        trainer.train_chunk()
        steps.append(trainer.step)
        acc.append(trainer.evaluate(*test)["accuracy"])
        snaps.append(trainer.w[syn].copy())
    t_train = time.perf_counter() - t_train
    ax = plots.learning_curves(
        {"test accuracy": (np.asarray(steps), np.asarray(acc))},
        xlabel="trials",
        chance=0.5,
        title="two spike patterns, 21-2 network: reward-modulated STDP",
    )
    save_figure(ax.figure, out / "learning_curve.png")
    ax = plots.weight_trajectories(
        np.asarray(steps),
        np.asarray(snaps),
        network=net,
        edges=syn,
        title="weights of 5 excitatory/inhibitory pairs (solid exc, dashed inh)",
    )
    save_figure(ax.figure, out / "weights.png")
    by_class = _trained_raster(out, net, trainer.w, ds, seed)
    return {
        "task": "spike-pattern (2 classes, 20 inputs)",
        "trials": trainer.step,
        "test_accuracy_before": acc[0],
        "test_accuracy_after": acc[-1],
        "training_wall_time_s": t_train,
        "output_counts_by_class_after": by_class,
    }


def _trained_raster(out: Path, net, w, ds, seed: int) -> dict:
    """Raster of the trained 21-2 network on one test example of each class
    (``trained_raster.png``); returns the mean output counts per class over the test set."""
    import spikesim
    from spikesim import encoding, plots
    from spikesim.io import save_figure
    from spikesim.plasticity.tasks import with_bias

    trained = net.with_weights(w)
    x = with_bias(ds.x_test, 1)
    counts = np.zeros((x.shape[0], net.outputs.size))
    for i in range(x.shape[0]):
        inp = encoding.poisson(
            x[i], duration=0.1, max_rate=100.0, neurons=net.inputs, seed=seed + i
        )
        counts[i] = spikesim.simulate(trained, inp, 0.1).counts()[net.outputs]
    fig, axes = _column_axes(2)
    for ax, c in zip(axes, (0, 1), strict=True):
        i = int(np.flatnonzero(ds.y_test == c)[0])
        inp = encoding.poisson(
            x[i], duration=0.1, max_rate=100.0, neurons=net.inputs, seed=seed + i
        )
        rec = spikesim.simulate(trained, inp, 0.1)
        pred = int(np.argmax(rec.counts()[net.outputs]))
        plots.raster(
            rec,
            [net.inputs, net.outputs[:1], net.outputs[1:]],
            group_names=["input", "output 0 (class 0)", "output 1 (class 1)"],
            ax=ax,
            title=f"after training: true class {c}, predicted {pred}",
        )
    save_figure(fig, out / "trained_raster.png")
    return {f"class {c}": counts[ds.y_test == c].mean(axis=0).round(2).tolist() for c in (0, 1)}


def _column_axes(n: int):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n, 1, figsize=(8.0, 3.2 * n), constrained_layout=True)
    return fig, list(axes)
