"""Plots: spike rasters, voltage traces, weight trajectories and histograms, learning curves.

Every function draws on a matplotlib ``Axes`` (a new figure when ``ax`` is None) and returns
the ``Axes`` (:func:`weight_histogram` returns its two ``Axes``); save with
:func:`spikesim.io.save_figure` (atomic). Times are shown in ms. Potentials and weights are
in the model's units (the unit of a weight, see :doc:`/model`): a threshold ``S = 2`` is
drawn at 2.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402

from spikesim.record import SpikeRecord  # noqa: E402

__all__ = [
    "raster",
    "voltage",
    "weight_trajectories",
    "weight_histogram",
    "synapse_labels",
    "learning_curves",
    "distinct_colors",
    "new_axes",
]

POTENTIAL_LABEL = "membrane potential V (weight units)"


def new_axes(width: float = 7.0, height: float = 4.0):
    """A new figure with one axes; returns the axes."""
    fig, ax = plt.subplots(figsize=(width, height), constrained_layout=True)
    return ax


def distinct_colors(n: int) -> list:
    """``n`` pairwise distinct colours: ``tab10`` up to 10, ``tab20`` up to 20, else ``n``
    evenly spaced samples of ``turbo``."""
    if n <= 10:
        cmap = plt.get_cmap("tab10")
        return [cmap(k) for k in range(n)]
    if n <= 20:
        cmap = plt.get_cmap("tab20")
        return [cmap(k) for k in range(n)]
    cmap = plt.get_cmap("turbo")
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def raster(
    record: SpikeRecord,
    groups: Sequence[np.ndarray] | None = None,
    *,
    group_names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """Spike raster, neurons grouped (e.g. by layer, or output neurons by class), one colour
    per group, each group labelled on the y axis.

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
    groups = [np.asarray(g, dtype=np.int64) for g in groups]
    names = (
        list(group_names) if group_names is not None else [f"layer {k}" for k in range(len(groups))]
    )
    if len(names) != len(groups):
        raise ValueError(f"group_names has {len(names)} names for {len(groups)} groups")
    # each group gets a band of at least 8% of the rows (so a one-neuron group is readable),
    # its neurons spread evenly inside the band
    total = sum(g.size for g in groups)
    min_band = max(1.0, 0.08 * total)
    row = np.full(record.n_neurons, -1.0)
    member = np.full(record.n_neurons, -1, np.int64)
    offset = 0.0
    ticks, bounds = [], []
    for k, g in enumerate(groups):
        band = max(float(g.size), min_band)
        row[g] = offset + (np.arange(g.size) + 0.5) * band / max(g.size, 1) - 0.5
        member[g] = k
        ticks.append(offset + band / 2 - 0.5)
        offset += band
        bounds.append(offset)
    colors = distinct_colors(len(groups))
    for k in range(len(groups)):
        sel = member[record.neurons] == k
        ax.scatter(
            record.times[sel] * 1e3,
            row[record.neurons[sel]],
            s=2 if total > 200 else 6,
            marker="|" if total <= 200 else ".",
            color=colors[k],
            label=f"{names[k]} ({int(sel.sum())} spikes)",
            linewidths=1.0,
        )
    for b in bounds[:-1]:
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
    groups: Sequence[np.ndarray] | None = None,
    group_names: Sequence[str] | None = None,
    ax=None,
    title: str | None = None,
):
    """Voltage traces of recorded neurons in the model's units, the threshold dashed and
    spikes marked.

    The y axis is the potential V of :doc:`/model` (the unit of a weight); each threshold
    is a dashed line at its value S, named in the legend (not written over the traces).
    Spikes are marked with a triangle just above the threshold line.

    Parameters
    ----------
    record : SpikeRecord
        Must carry voltages (``voltage_neurons`` given to the simulation).
    threshold : float or ndarray, shape (n_neurons,)
        Firing threshold(s) S, drawn as dashed lines at S.
    neurons : sequence of int, optional
        Subset of the recorded neurons to draw (default all).
    groups, group_names : optional
        Layers (as for :func:`raster`, e.g. ``net.groups()``); the legend then says which
        layer each neuron is in.
    """
    if record.voltage is None:
        raise ValueError("the record has no voltages; simulate with voltage_neurons=[...]")
    ax = ax or new_axes()
    rec_neurons = list(record.voltage_neurons)
    neurons = rec_neurons if neurons is None else list(neurons)
    layer = {}
    if groups is not None:
        names = (
            list(group_names)
            if group_names is not None
            else [f"layer {k}" for k in range(len(groups))]
        )
        for name, g in zip(names, groups, strict=True):
            for j in np.asarray(g, dtype=np.int64):
                layer[int(j)] = name
    thr = np.broadcast_to(np.asarray(threshold, float), (record.n_neurons,))
    t_ms = record.voltage_times * 1e3
    colors = distinct_colors(len(neurons))
    v_max = float(thr[neurons].max())
    for k, j in enumerate(neurons):
        v = record.voltage[rec_neurons.index(j)]
        v_max = max(v_max, float(np.max(v)) if v.size else v_max)
        label = f"neuron {j} ({layer[j]})" if j in layer else f"neuron {j}"
        ax.plot(t_ms, v, color=colors[k], lw=1.0, label=label)
    span = v_max - min(0.0, float(np.min(record.voltage)) if record.voltage.size else 0.0)
    lift = 0.04 * (span or 1.0)
    for k, j in enumerate(neurons):
        spikes = record.spikes_of(j)
        ax.plot(
            spikes * 1e3,
            np.full(spikes.size, thr[j] + lift * (1 + k)),
            "v",
            color=colors[k],
            ms=5,
            ls="none",
        )
    for s in np.unique(thr[neurons]):
        ax.axhline(s, color="k", ls="--", lw=0.8, label=f"threshold S = {s:g}")
    ax.set_ylim(top=v_max + lift * (len(neurons) + 2))
    ax.set_xlim(0, record.duration * 1e3)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(POTENTIAL_LABEL)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def synapse_labels(network, edges: Sequence[int]) -> list[str]:
    """Legend labels of edges, the same in ``demo``, ``train`` and the tutorials:
    ``"3 → 21 exc"`` (pre → post, excitatory or inhibitory)."""
    return [
        f"{int(network.pre[e])} → {int(network.post[e])} {'exc' if network.sign[e] > 0 else 'inh'}"
        for e in edges
    ]


def weight_trajectories(
    steps: np.ndarray,
    weights: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    network=None,
    edges: Sequence[int] | None = None,
    xlabel: str = "trial",
    ax=None,
    title: str | None = None,
):
    """Weights of sampled synapses over training.

    With ``network`` and ``edges`` the two edges of an excitatory/inhibitory pair (same pre
    and post neuron) share a colour, the excitatory one solid and the inhibitory one
    dashed, and labels default to :func:`synapse_labels`. Colours never repeat
    (:func:`distinct_colors`).

    Parameters
    ----------
    steps : ndarray, shape (n_snapshots,)
        Trial (or step) index of each snapshot.
    weights : ndarray, shape (n_snapshots, n_synapses)
        The sampled synapses' weights (magnitudes, weight units) at each snapshot.
    labels : sequence of str, optional
        One per synapse.
    network : Network, optional
    edges : sequence of int, optional
        Edge index of each synapse in ``network``.
    """
    ax = ax or new_axes()
    weights = np.asarray(weights)
    n = weights.shape[1]
    if network is not None and edges is not None:
        edges = np.asarray(edges, dtype=np.int64)
        if edges.size != n:
            raise ValueError(f"{edges.size} edges for {n} weight columns")
        keys = [(int(network.pre[e]), int(network.post[e])) for e in edges]
        pair_ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        color_of = [pair_ids[k] for k in keys]
        styles = ["-" if network.sign[e] > 0 else "--" for e in edges]
        if labels is None:
            labels = synapse_labels(network, edges)
        colors = distinct_colors(len(pair_ids))
    else:
        color_of, styles, colors = list(range(n)), ["-"] * n, distinct_colors(n)
    for k in range(n):
        ax.plot(
            steps,
            weights[:, k],
            lw=1.2,
            ls=styles[k],
            color=colors[color_of[k]],
            label=None if labels is None else labels[k],
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("weight (weight units)")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=6, integer=True))
    ax.grid(alpha=0.3)
    if labels is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small")
    if title:
        ax.set_title(title)
    return ax


def weight_histogram(
    before: np.ndarray,
    after: np.ndarray,
    sign: np.ndarray,
    *,
    bins: int = 50,
    title: str | None = None,
):
    """Histograms of all weights before and after training, excitatory and inhibitory edges
    in separate panels, counts on a log axis with plain-number ticks (1, 10, 100, ...).

    Parameters
    ----------
    before, after : ndarray, shape (n_edges,)
        Weight magnitudes (weight units).
    sign : ndarray, shape (n_edges,)
        +1 excitatory, -1 inhibitory.

    Returns
    -------
    list of Axes
        One per sign present (excitatory first).
    """
    before, after, sign = np.asarray(before), np.asarray(after), np.asarray(sign)
    kinds = [(name, s) for name, s in (("excitatory", 1), ("inhibitory", -1)) if np.any(sign == s)]
    fig, axes = plt.subplots(
        1, len(kinds), figsize=(5.0 * len(kinds), 3.8), constrained_layout=True, squeeze=False
    )
    axes = list(axes[0])
    for ax, (name, s) in zip(axes, kinds, strict=True):
        b, a = before[sign == s], after[sign == s]
        hi = max(float(b.max()), float(a.max()), 1e-12)
        edges = np.linspace(0.0, hi, bins + 1)
        ax.hist(b, bins=edges, alpha=0.6, label="before", color="tab:gray")
        ax.hist(a, bins=edges, alpha=0.6, label="after", color="tab:red" if s < 0 else "tab:blue")
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.7)
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}"))
        ax.set_xlabel(f"{name} weight (weight units)")
        ax.set_ylabel("edges")
        ax.set_title(f"{name} edges ({b.size})")
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return axes


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
    """Several learning curves in one axes: ``{label: (x, y)}``, distinct colours."""
    ax = ax or new_axes()
    colors = distinct_colors(len(curves))
    for k, (label, (x, y)) in enumerate(curves.items()):
        ax.plot(x, y, marker="o", ms=3, lw=1.2, label=label, color=colors[k])
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", lw=1.0, label="chance")
    if logx:
        ax.set_xscale("symlog", linthresh=1.0)
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=6, integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax
