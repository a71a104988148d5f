"""Plots: spike rasters, voltage traces, weight trajectories, learning curves.

Every function draws on a matplotlib ``Axes`` (a new figure when ``ax`` is None) and returns
the ``Axes``; save with :func:`spikesim.io.save_figure` (atomic). Times are shown in ms.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from spikesim.record import SpikeRecord  # noqa: E402

__all__ = ["raster", "voltage", "weight_trajectories", "learning_curves", "new_axes"]

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def new_axes(width: float = 7.0, height: float = 4.0):
    """A new figure with one axes; returns the axes."""
    fig, ax = plt.subplots(figsize=(width, height), constrained_layout=True)
    return ax


def raster(
    record: SpikeRecord,
    groups: Sequence[np.ndarray] | None = None,
    *,
    group_names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """Spike raster, neurons grouped (e.g. by layer), one colour per group.

    Parameters
    ----------
    record : SpikeRecord
    groups : sequence of int arrays, optional
        Neuron groups, drawn bottom (first) to top (last) with separators; default one group.
    group_names : sequence of str, optional
        Labels of the groups (default "layer 0", "layer 1", ...).
    """
    ax = ax or new_axes()
    if groups is None:
        groups = [np.arange(record.n_neurons)]
    names = (
        list(group_names) if group_names is not None else [f"layer {k}" for k in range(len(groups))]
    )
    row = np.full(record.n_neurons, -1, np.int64)
    offset = 0
    ticks = []
    for g in groups:
        g = np.asarray(g, dtype=np.int64)
        row[g] = offset + np.arange(g.size)
        ticks.append(offset + g.size / 2)
        offset += g.size
    member = np.full(record.n_neurons, -1, np.int64)
    for k, g in enumerate(groups):
        member[np.asarray(g, dtype=np.int64)] = k
    for k in range(len(groups)):
        sel = member[record.neurons] == k
        ax.scatter(
            record.times[sel] * 1e3,
            row[record.neurons[sel]],
            s=2 if offset > 200 else 6,
            marker="|" if offset <= 200 else ".",
            color=_COLORS[k % len(_COLORS)],
            label=f"{names[k]} ({int(sel.sum())} spikes)",
            linewidths=1.0,
        )
    bounds = np.cumsum([len(g) for g in groups])[:-1]
    for b in bounds:
        ax.axhline(b - 0.5, color="0.7", lw=0.6)
    ax.set_yticks(ticks, names)
    ax.set_xlim(0, record.duration * 1e3)
    ax.set_ylim(-0.5, offset - 0.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", markerscale=3)
    if title:
        ax.set_title(title)
    return ax


def voltage(
    record: SpikeRecord,
    threshold: float | np.ndarray,
    *,
    neurons: Sequence[int] | None = None,
    ax=None,
    title: str | None = None,
):
    """Voltage traces of recorded neurons, the threshold dashed and spikes marked.

    Parameters
    ----------
    record : SpikeRecord
        Must carry voltages (``voltage_neurons`` given to the simulation).
    threshold : float or ndarray, shape (n_neurons,)
        Firing threshold(s), drawn as dashed lines.
    neurons : sequence of int, optional
        Subset of the recorded neurons to draw (default all).
    """
    if record.voltage is None:
        raise ValueError("the record has no voltages; simulate with voltage_neurons=[...]")
    ax = ax or new_axes()
    rec_neurons = list(record.voltage_neurons)
    neurons = rec_neurons if neurons is None else list(neurons)
    thr = np.broadcast_to(np.asarray(threshold, float), (record.n_neurons,))
    t_ms = record.voltage_times * 1e3
    for k, j in enumerate(neurons):
        color = _COLORS[k % len(_COLORS)]
        v = record.voltage[rec_neurons.index(j)]
        ax.plot(t_ms, v, color=color, lw=1.0, label=f"neuron {j}")
        spikes = record.spikes_of(j)
        ax.plot(spikes * 1e3, np.full(spikes.size, thr[j]), "v", color=color, ms=5)
    for s in np.unique(thr[neurons]):
        ax.axhline(s, color="k", ls="--", lw=0.8)
    ax.text(
        0.005,
        float(thr[neurons].max()),
        " threshold",
        va="bottom",
        fontsize="small",
        transform=ax.get_yaxis_transform(),
    )
    ax.set_xlim(0, record.duration * 1e3)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("potential V (threshold units)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def weight_trajectories(
    steps: np.ndarray,
    weights: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """Weights of sampled synapses over training.

    Parameters
    ----------
    steps : ndarray, shape (n_snapshots,)
        Trial (or step) index of each snapshot.
    weights : ndarray, shape (n_snapshots, n_synapses)
        The sampled synapses' weights at each snapshot.
    """
    ax = ax or new_axes()
    weights = np.asarray(weights)
    for k in range(weights.shape[1]):
        ax.plot(steps, weights[:, k], lw=1.0, label=None if labels is None else labels[k])
    ax.set_xlabel("trial")
    ax.set_ylabel("weight")
    if labels is not None:
        ax.legend(fontsize="x-small", ncol=2)
    if title:
        ax.set_title(title)
    return ax


def learning_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    xlabel: str = "samples seen",
    ylabel: str = "test accuracy",
    ax=None,
    title: str | None = None,
    chance: float | None = None,
    logx: bool = False,
):
    """Several learning curves in one axes: ``{label: (x, y)}``."""
    ax = ax or new_axes()
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", ms=3, lw=1.2, label=label)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", lw=1.0, label="chance")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax
