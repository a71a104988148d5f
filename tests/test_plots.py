"""Image tests of spikesim.plots: what can be checked on the matplotlib Figure objects."""

from __future__ import annotations

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim import encoding, plots
from spikesim.plasticity.tasks import ei_network


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _trial(threshold=1.0, seed=0):
    net = spikesim.layered(
        [20, 10, 4],
        weight_mean=[0.15, 0.2],
        threshold=threshold,
        inhibitory_fraction=0.2,
        seed=seed,
    )
    x = np.random.default_rng(seed).random(20)
    inp = encoding.poisson(x, duration=0.1, max_rate=200.0, neurons=net.inputs, seed=seed)
    watch = [int(net.layers[1][0]), int(net.layers[2][0])]
    rec = spikesim.simulate(
        net, inp, 0.1, voltage_neurons=watch, voltage_times=np.arange(0.0, 0.1, 1e-4)
    )
    return net, rec, watch


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_voltage_threshold_line_at_network_threshold(threshold):
    net, rec, watch = _trial(threshold=threshold)
    ax = plots.voltage(rec, net.threshold, groups=net.groups(), group_names=["in", "hid", "out"])
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1
    assert np.allclose(dashed[0].get_ydata(), threshold)
    assert "threshold units" not in ax.get_ylabel()
    assert "weight units" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        f"neuron {watch[0]} (hid)",
        f"neuron {watch[1]} (out)",
        f"threshold S = {threshold:g}",
    ]
    # no text drawn over the data (the threshold is named in the legend)
    assert len(ax.texts) == 0


def test_voltage_spike_markers_sit_above_threshold_and_match_spikes():
    net, rec, watch = _trial(threshold=1.0)
    ax = plots.voltage(rec, net.threshold)
    markers = [ln for ln in ax.get_lines() if ln.get_marker() == "v"]
    assert len(markers) == len(watch)
    for ln, j in zip(markers, watch, strict=True):
        assert np.allclose(ln.get_xdata(), rec.spikes_of(j) * 1e3)
        assert np.all(np.asarray(ln.get_ydata()) > 1.0)
    assert ax.get_ylim()[1] > max(np.max(ln.get_ydata(), initial=1.0) for ln in markers)


def _colors(lines):
    return {mcolors.to_hex(ln.get_color()) for ln in lines}


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 40))
def test_distinct_colors_never_repeat(n):
    assert len({mcolors.to_hex(c) for c in plots.distinct_colors(n)}) == n


def test_weight_trajectories_pairs_share_colour_solid_and_dashed():
    net = ei_network([6, 3], w_exc=0.2, w_inh=0.1, seed=0)
    edges = np.arange(net.n_edges)  # 18 pairs, more than the 10 of the default cycle
    steps = np.arange(5)
    w = np.random.default_rng(0).random((5, edges.size))
    ax = plots.weight_trajectories(steps, w, network=net, edges=edges)
    lines = ax.get_lines()
    assert len(_colors(lines)) == edges.size // 2
    for ln, e in zip(lines, edges, strict=True):
        assert ln.get_linestyle() == ("-" if net.sign[e] > 0 else "--")
        partner = np.flatnonzero((net.pre == net.pre[e]) & (net.post == net.post[e]))
        assert len(partner) == 2
        assert len(_colors([lines[p] for p in partner])) == 1
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == plots.synapse_labels(net, edges)
    assert legend[0] == f"{net.pre[0]} → {net.post[0]} {'exc' if net.sign[0] > 0 else 'inh'}"


def test_weight_trajectories_without_network_all_colours_distinct():
    w = np.random.default_rng(1).random((4, 15))
    ax = plots.weight_trajectories(np.arange(4), w)
    assert len(_colors(ax.get_lines())) == 15


def test_weight_histogram_separates_signs():
    rng = np.random.default_rng(0)
    sign = np.where(rng.random(200) < 0.3, -1, 1)
    before, after = rng.random(200), rng.random(200) * 2
    axes = plots.weight_histogram(before, after, sign)
    assert [ax.get_xlabel() for ax in axes] == [
        "excitatory weight (weight units)",
        "inhibitory weight (weight units)",
    ]
    for ax, s in zip(axes, (1, -1), strict=True):
        assert ax.get_yscale() == "log"
        heights = [p.get_height() for p in ax.patches]
        # the two histograms (before, after) of this sign only
        assert sum(heights) == 2 * int(np.sum(sign == s))
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert labels and all(lbl.replace(".", "").isdigit() for lbl in labels)
    only_exc = plots.weight_histogram(before, after, np.ones(200))
    assert len(only_exc) == 1


def test_raster_groups_rows_and_labels():
    net, rec, _ = _trial()
    outs = net.outputs
    groups = [net.inputs, net.layers[1], outs[:2], outs[2:]]
    names = ["input", "hidden", "output class 0", "output class 1"]
    ax = plots.raster(rec, groups, group_names=names)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    ticks = ax.get_yticks()
    assert np.all(np.diff(ticks) > 0)
    sc = ax.collections
    assert len(sc) == 4
    for k, (coll, g) in enumerate(zip(sc, groups, strict=True)):
        rows = coll.get_offsets()[:, 1]
        n_sp = int(np.isin(rec.neurons, g).sum())
        assert rows.size == n_sp
        assert coll.get_label().startswith(f"{names[k]} ({n_sp} spikes)")
        if rows.size:  # rows of a group lie between its neighbours' separators
            lo = -0.5 if k == 0 else ax.get_lines()[k - 1].get_ydata()[0]
            hi = ax.get_ylim()[1] if k == len(groups) - 1 else ax.get_lines()[k].get_ydata()[0]
            assert lo < rows.min() and rows.max() < hi
    assert len(_colors_of_collections(sc)) == 4


def _colors_of_collections(colls):
    return {mcolors.to_hex(c.get_facecolor()[0]) for c in colls if len(c.get_offsets())}


def test_raster_rejects_mismatched_names():
    net, rec, _ = _trial()
    with pytest.raises(ValueError, match="group_names"):
        plots.raster(rec, net.groups(), group_names=["a"])


def test_learning_curves_distinct_colours_and_step_zero():
    curves = {
        f"learner {k}": (np.array([0, 10, 100]), np.array([0.1, 0.5, 0.9])) for k in range(12)
    }
    ax = plots.learning_curves(curves, logx=True)
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("learner")]
    assert len(_colors(lines)) == 12
    lo, hi = ax.get_xlim()
    assert lo <= 0 < 100 <= hi  # step 0 visible on the log axis


def _fake_results(n_learners):
    res = {}
    for k in range(n_learners):
        steps = [0, 10, 100, 1000]
        res[f"learner ({k})"] = {
            "curve": [
                {
                    "samples_seen": s,
                    "wall_s": 0.01 * s,
                    "test_accuracy": 0.1 + 0.0005 * s * (k + 1) / n_learners,
                }
                for s in steps
            ]
        }
    return res


def test_compare_curves_start_at_step_zero_with_plain_ticks(tmp_path):
    from spikesim.experiments.compare import curves_figure, plot_curves

    results = _fake_results(12)
    plot_curves(results, tmp_path / "curves.png", chance=0.1)
    assert (tmp_path / "curves.png").stat().st_size > 1000
    fig = curves_figure(results, chance=0.1)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
        assert len(lines) == 12
        assert all(np.asarray(ln.get_xdata())[0] == 0 for ln in lines)  # step 0 drawn
        assert len(_colors(lines)) == 12
        assert ax.get_xlim()[0] == 0
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert "0" in labels and labels != ["0"]


def test_run_folder_has_no_spaces_or_brackets(tmp_path):
    from spikesim.errors import ConfigError
    from spikesim.experiments.compare import run_all, run_folder

    for label in ["zero-order (SH eq. 4.5)", "bp [adam]", "a/b c", "spiking (SH rule)"]:
        name = run_folder(label)
        assert not set(name) & set(" ()[]{}/\\"), name
        assert name and name[0] not in "-."
    assert run_folder("zero-order (SH eq. 4.5)") == "zero-order-SH-eq.-4.5"
    runs = [{"label": "a b", "config": {}}, {"label": "a (b)", "config": {}}]
    with pytest.raises(ConfigError, match="both map to the folder 'a-b'"):
        run_all(runs, tmp_path, seed=0, resume=False)


def test_sweep_table_figure_matches_the_table(tmp_path):
    from spikesim.experiments.sweep import aggregate, plot_table, table_figure

    rng = np.random.default_rng(0)
    records = []
    for a in (1, 2, 4):
        for b in ("x", "y"):
            for seed in range(3):
                acc = float(rng.random())
                records.append(
                    {
                        "params": {"t.a": a, "t.b": b},
                        "status": "ok",
                        "final": {"test_accuracy": acc},
                    }
                )
    rows = aggregate(records)
    plot_table(rows, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    ax = table_figure(rows).axes[0]
    assert ax.get_xlabel() == "t.a"
    assert ax.get_ylabel().startswith("test accuracy")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["t.b=x", "t.b=y"]
    lines = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    for ln, b in zip(lines, ("x", "y"), strict=True):
        expect = [
            np.mean(
                [
                    r["final"]["test_accuracy"]
                    for r in records
                    if r["params"] == {"t.a": a, "t.b": b}
                ]
            )
            for a in (1, 2, 4)
        ]
        assert np.allclose(ln.get_xdata(), [1, 2, 4])
        assert np.allclose(ln.get_ydata(), expect)


def test_train_figures_group_outputs_by_class_and_pair_weights(tmp_path, monkeypatch):
    """The spiking kind's figures: rasters with one row group per class and the true and
    predicted class in the title; weight trajectories drawn as E/I pairs."""
    from pathlib import Path

    from spikesim.experiments import load, run_experiment
    from spikesim.experiments.runs import plot_run

    root = Path(__file__).resolve().parent.parent
    cfg = load(
        root / "experiments" / "spike-pattern.toml",
        {"train.trials": 1000, "train.eval_every": 1000, "train.plots": False},
    )
    run_experiment(cfg, tmp_path / "run")
    calls = {"raster": [], "weights": []}
    real_raster, real_traj = plots.raster, plots.weight_trajectories

    def raster(rec, groups=None, **kw):
        ax = real_raster(rec, groups, **kw)
        calls["raster"].append((groups, kw["group_names"], ax.get_title()))
        return ax

    def traj(steps, weights, **kw):
        ax = real_traj(steps, weights, **kw)
        calls["weights"].append((kw, ax.get_lines()))
        return ax

    monkeypatch.setattr(plots, "raster", raster)
    monkeypatch.setattr(plots, "weight_trajectories", traj)
    written = plot_run(tmp_path / "run", tmp_path / "fig")
    assert {p.name for p in written} >= {"raster_before.png", "raster_after.png", "weight_hist.png"}
    run = spikesim.load_run(tmp_path / "run")
    net = run.network
    for groups, names, title in calls["raster"]:
        assert names[-2:] == ["output class 0", "output class 1"]
        assert [list(g) for g in groups[-2:]] == [[int(net.outputs[0])], [int(net.outputs[1])]]
        assert "true class" in title and "predicted" in title
    ((kw, lines),) = calls["weights"]
    edges = kw["edges"]
    keys = [(int(net.pre[e]), int(net.post[e])) for e in edges]
    # sampled as whole pairs: every (pre, post) appears twice, once per sign
    assert all(keys.count(k) == 2 for k in keys)
    assert len(_colors(lines)) == len(set(keys))
