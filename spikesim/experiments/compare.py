"""Side-by-side comparison of learners on one task: run several experiments, tabulate.

A comparison is a list of runs, each an experiment file of any kind (spiking training,
abstract zero-order dynamics, a rate learner) with optional key overrides, so every learner
sees the same task and a matched architecture. Each run's ``results.json`` follows the
convention ``final`` (scalars: ``test_accuracy``, ``test_loss``, ``samples_seen``, ``wall_s``,
``n_parameters``) and ``curve`` (one dict per evaluation with ``samples_seen``, ``wall_s``
and ``test_accuracy`` and/or ``test_loss``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spikesim.errors import ConfigError

__all__ = [
    "run_folder",
    "COLUMNS",
    "curve_table",
    "flat_final",
    "markdown_table",
    "curves_figure",
    "plot_curves",
    "plot_mean_curves",
    "resolve_run",
    "sweep_curves",
    "sweep_tables",
    "table_rows",
]

COLUMNS = ("test_accuracy", "test_loss", "samples_seen", "wall_s", "n_parameters")


def resolve_run(
    run: Mapping[str, Any],
    index: int,
    base_dir: Path | None,
    common: Mapping[str, Any] | None = None,
) -> dict:
    """Validate one ``[[compare.runs]]`` entry and resolve its experiment file.

    Parameters
    ----------
    run : mapping
        ``label`` (str), ``file`` (experiment file, relative to the comparison file or the
        repository root), optional ``set`` (a table of ``"table.key" = value``
        overrides) and optional ``note`` (str, shown in the table).
    index : int
        Position in the list, for error messages.
    base_dir : Path, optional
        Directory of the comparison file.
    common : mapping, optional
        ``"table.key" = value`` overrides applied to every run before the run's own
        ``set`` (``compare.set``).

    Returns
    -------
    dict
        ``{"label": str, "note": str, "config": resolved config}``.
    """
    from spikesim.experiments.config import apply_overrides, locate, read_toml, resolve

    where = f"compare.runs[{index}]"
    if not isinstance(run, Mapping):
        raise ConfigError(f"{where} must be a table with label and file")
    unknown = sorted(set(run) - {"label", "file", "set", "note"})
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]} (known keys: file, label, note, set)")
    if not isinstance(run.get("note", ""), str):
        raise ConfigError(f"{where}.note must be a string, got {run.get('note')!r}")
    for key in ("label", "file"):
        if not isinstance(run.get(key), str):
            raise ConfigError(f"{where}.{key} must be a string, got {run.get(key)!r}")
    overrides = run.get("set", {})
    if not isinstance(overrides, Mapping):
        raise ConfigError(f'{where}.set must be a table of "table.key" = value')
    path = locate(run["file"], base_dir, f"{where}.file")
    raw = read_toml(path, what=f"{where}.file")
    apply_overrides(raw, common or {}, "compare.set")
    apply_overrides(raw, overrides, f"{where}.set")
    if raw.get("experiment", {}).get("kind") == "compare":
        raise ConfigError(f"{where}.file is itself a comparison")
    try:
        config = resolve(raw, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{where} ({run['label']!r}, {path}): {exc}") from None
    return {"label": run["label"], "note": run.get("note", ""), "config": config}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def flat_final(results: Mapping[str, Mapping[str, Any]]) -> dict:
    """``{"<label>/<metric>": value}`` for every numeric scalar of every run's ``final``.

    The comparison's own ``final`` holds these, so a sweep over a comparison file
    (``spikesim sweep compare.toml --seeds N``) tabulates every learner's metrics.
    """
    flat = {}
    for label, res in results.items():
        for key, value in res.get("final", {}).items():
            if _number(value):
                flat[f"{label}/{key}"] = value
    return flat


def run_folder(label: str) -> str:
    """The folder name of a run: its label with every run of characters other than
    letters, digits, ``.``, ``_`` and ``-`` replaced by one ``-`` (no spaces, brackets or
    slashes): ``"zero-order (SH eq. 4.5)"`` -> ``"zero-order-SH-eq.-4.5"``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")
    return name or "run"


def run_all(runs: Sequence[dict], out_dir: Path, *, seed: int, resume: bool) -> dict:
    """Run every resolved run into ``out_dir/<run_folder(label)>``; return
    ``{label: results}``.

    With ``resume``, each run follows :func:`spikesim.experiments.runs.run_or_skip`: a
    finished run of the same config is read back, an interrupted one is resumed, any
    other folder is emptied and run again. Without ``resume`` every run starts afresh.
    """
    from spikesim.experiments.runs import run_experiment, run_or_skip

    folders = [run_folder(run["label"]) for run in runs]
    for k, f in enumerate(folders):
        if f in folders[:k]:
            other = runs[folders.index(f)]["label"]
            raise ConfigError(
                f"compare.runs labels {other!r} and {runs[k]['label']!r} both map to the "
                f"folder {f!r}; make them differ in letters or digits"
            )
    results = {}
    for run, folder in zip(runs, folders, strict=True):
        cfg = json.loads(json.dumps(run["config"]))
        cfg["experiment"]["seed"] = seed
        sub = out_dir / folder
        if resume:
            results[run["label"]], _ = run_or_skip(cfg, sub)
        else:
            results[run["label"]] = run_experiment(cfg, sub, force=True)
    return results


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table_rows(
    results: Mapping[str, Mapping[str, Any]], notes: Mapping[str, str] | None = None
) -> list[dict]:
    """One row per learner: ``learner``, the :data:`COLUMNS` of its ``final`` (None when
    the learner does not report one) and ``note`` (from ``notes``, "" if none)."""
    rows = []
    for label, res in results.items():
        final = res.get("final", {})
        rows.append(
            {
                "learner": label,
                **{c: final.get(c) for c in COLUMNS},
                "note": (notes or {}).get(label, ""),
            }
        )
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The comparison table in markdown (a ``note`` column when any row has a note)."""
    head = ("learner", *COLUMNS)
    if any(row.get("note") for row in rows):
        head = (*head, "note")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in head) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(results: Mapping[str, Mapping[str, Any]], path: Path, *, chance=None) -> Path:
    """Save :func:`curves_figure` to ``path``; returns the path."""
    from spikesim.io import save_figure

    return save_figure(curves_figure(results, chance=chance), path)


def curves_figure(results: Mapping[str, Mapping[str, Any]], *, chance=None):
    """Learning curves of every learner against samples seen and against wall time.

    One colour per learner in both panels (x axes logarithmic above the first positive
    point, linear below it, so that step 0 is drawn; ticks as plain numbers), one legend
    under the panels; a learner whose wall times are estimated (``wall_s_estimated``) says
    so in the legend. Test accuracy when any learner reports it, else test loss. Returns
    the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    metric = "test_accuracy"
    if not any(metric in point for res in results.values() for point in res.get("curve", [])):
        metric = "test_loss"
    from spikesim.plots import distinct_colors

    colours = distinct_colors(len(results))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.0), constrained_layout=True)
    handles, names = [], []
    for k, (label, res) in enumerate(results.items()):
        curve = [p for p in res.get("curve", []) if _number(p.get(metric))]
        est = any(p.get("wall_s_estimated") for p in curve)
        name = f"{label} (wall time estimated)" if est else label
        line = None
        for ax, xkey in ((axes[0], "samples_seen"), (axes[1], "wall_s")):
            pts = [p for p in curve if _number(p.get(xkey)) and p[xkey] >= 0]
            if pts:
                (line,) = ax.plot(
                    [p[xkey] for p in pts],
                    [p[metric] for p in pts],
                    marker="o",
                    ms=3,
                    lw=1.2,
                    color=colours[k],
                )
        if line is not None:
            handles.append(line)
            names.append(name)
    panels = ((axes[0], "symlog", "samples seen"), (axes[1], "symlog", "wall time (s)"))
    return _finish_panels(fig, panels, metric, chance, handles, names)


def _finish_panels(fig, panels, metric: str, chance, handles: list, names: list):
    """Axis scales and labels of ``panels`` (``(ax, xscale, xlabel)``), a dotted chance line
    for accuracy, one legend under the panels; returns ``fig``."""
    show_chance = chance is not None and metric == "test_accuracy"
    for ax, scale, xlabel in panels:
        if show_chance:
            chance_line = ax.axhline(chance, color="0.5", ls=":", lw=1.0)
        _set_xscale(ax, scale)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    if show_chance:
        handles.append(chance_line)
        names.append("chance")
    fig.legend(handles, names, loc="outside lower center", ncol=min(4, max(1, len(names))))
    return fig


def _set_xscale(ax, scale: str) -> None:
    """``symlog``: logarithmic above the smallest positive x of the data, linear below it,
    so that step 0 is drawn; ticks at powers of ten written as plain numbers (1, 10, 100,
    1,000, 10^4 ...). Other scales as matplotlib's."""
    from matplotlib import ticker

    if scale != "symlog":
        ax.set_xscale(scale)
        if scale == "linear":
            ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=6, integer=True))
        return
    xs = [x for line in ax.get_lines() for x in line.get_xdata() if float(x) > 0]
    lin = float(min(xs)) if xs else 1.0
    lin = 10.0 ** math.floor(math.log10(lin))
    ax.set_xscale("symlog", linthresh=lin, linscale=0.5)
    ax.xaxis.set_major_locator(ticker.SymmetricalLogLocator(base=10, linthresh=lin))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_plain_tick))
    ax.set_xlim(left=0.0)


def _plain_tick(x: float, _pos=None) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-2:
        return f"$10^{{{math.log10(abs(x)):.0f}}}$"
    return f"{x:,.0f}" if abs(x) >= 1 else f"{x:g}"


def _mean_std(stat: Mapping[str, Any] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    text = _fmt(stat["mean"])
    if stat.get("n", 1) > 1 and stat.get("std") is not None:
        text += f" ± {_fmt(stat['std'])}"
    return text


def sweep_tables(summary: Mapping[str, Any], labels: Sequence[str]) -> tuple[str, list[dict]]:
    """Per-learner tables of a sweep over a comparison file.

    ``spikesim sweep COMPARISON.toml`` aggregates the comparison's ``final``, whose keys are
    ``"<label>/<metric>"`` (:func:`flat_final`), into one wide row per parameter
    combination. This turns each row back into a table with one line per learner and the
    :data:`COLUMNS`, as mean ± standard deviation over the seeds.

    Parameters
    ----------
    summary : mapping
        The sweep's ``sweep.json``.
    labels : sequence of str
        The comparison's run labels, in table order.

    Returns
    -------
    (str, list of dict)
        The markdown (one table per parameter combination, headed by its values) and, per
        combination, ``{"params", "seeds_ok", "rows": [{"learner", metric: {mean, std, n}}]}``.
    """
    parts, data = [], []
    head = ("learner", *COLUMNS)
    for row in summary.get("rows", []):
        metrics = row.get("metrics", {})
        params = row.get("params", {})
        title = ", ".join(f"{k} = {json.dumps(v)}" for k, v in params.items()) or "all cells"
        n_ok = row.get("n", 0)
        failed = row.get("failed", 0)
        n_all = n_ok + (failed if isinstance(failed, int) else len(failed or []))
        lines = [
            f"**{title}** (seeds ok: {n_ok}/{n_all})",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        learners = []
        for label in labels:
            stats = {c: metrics.get(f"{label}/{c}") for c in COLUMNS}
            learners.append({"learner": label, **stats})
            lines.append("| " + " | ".join([label, *(_mean_std(stats[c]) for c in COLUMNS)]) + " |")
        parts.append("\n".join(lines) + "\n")
        data.append({"params": params, "seeds_ok": n_ok, "rows": learners})
    return "\n".join(parts), data


def sweep_curves(
    summary: Mapping[str, Any],
    sweep_dir: str | Path,
    labels: Sequence[str],
    *,
    metric: str = "test_accuracy",
) -> list[dict]:
    """Seed-mean learning curves of a sweep over a comparison file.

    For every parameter combination of ``sweep.json`` and every learner, the curves of the
    finished cells (``SWEEP_DIR/<cell dir>/<label>/results.json``) are aligned on
    ``samples_seen``. At every sample count that all of those seeds evaluated: the mean and
    the sample standard deviation (``ddof=1``; 0 with one seed) of ``metric``.

    Parameters
    ----------
    summary : mapping
        The sweep's ``sweep.json``.
    sweep_dir : path
        The sweep's folder (cell folders are relative to it).
    labels : sequence of str
        The comparison's run labels.
    metric : str
        Curve key to average.

    Returns
    -------
    list of dict
        Per combination (in the order of ``summary["rows"]``): ``{"params", "curves":
        {label: {"samples_seen", "mean", "std", "n_seeds", "seeds", "per_seed"}}}``;
        ``per_seed`` holds one list per seed (in the order of ``seeds``), all lists as long
        as ``samples_seen``.
    """
    import numpy as np

    sweep_dir = Path(sweep_dir)
    out = []
    for row in summary.get("rows", []):
        params = row.get("params", {})
        cells = [
            c
            for c in summary.get("cells", [])
            if c.get("status") == "ok" and c.get("params", {}) == params
        ]
        curves = {}
        for label in labels:
            per_seed = []
            for cell in cells:
                path = sweep_dir / cell["dir"] / run_folder(label) / "results.json"
                try:
                    res = json.loads(path.read_text())
                except (OSError, ValueError) as exc:
                    raise ConfigError(f"--from-sweep: cannot read {path}: {exc}") from None
                per_seed.append(
                    {
                        p["samples_seen"]: p[metric]
                        for p in res["curve"]
                        if _number(p.get("samples_seen")) and _number(p.get(metric))
                    }
                )
            common = sorted(set.intersection(*(set(c) for c in per_seed))) if per_seed else []
            vals = np.array([[c[n] for n in common] for c in per_seed], dtype=float)
            vals = vals.reshape(len(per_seed), len(common))
            std = vals.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(len(common))
            curves[label] = {
                "samples_seen": common,
                "mean": vals.mean(axis=0).tolist() if per_seed else [],
                "std": std.tolist(),
                "n_seeds": len(per_seed),
                "seeds": [c["seed"] for c in cells],
                "per_seed": vals.tolist(),
            }
        out.append({"params": params, "curves": curves})
    return out


def curve_table(curves: Mapping[str, Mapping[str, Any]], at: Sequence[int], metric: str) -> str:
    """Markdown: per learner the seed mean ± std of ``metric`` at the sample counts ``at``
    (``–`` where the curve has no point exactly there) and, with two or more counts, the
    column ``mean of these``: every seed's average over the counts ``at``, then the mean ±
    std of those averages over the seeds (``–`` unless the curve has every count).
    ``curves`` as from :func:`sweep_curves`."""
    import numpy as np

    head = ["learner", *(f"{n:,}" for n in at)]
    if len(at) > 1:
        head.append("mean of these")
    lines = [
        f"{metric.replace('_', ' ')} at samples seen (mean ± std over seeds)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for label, c in curves.items():
        cells = []
        for n in at:
            if n in c["samples_seen"]:
                i = c["samples_seen"].index(n)
                stat = {"mean": c["mean"][i], "std": c["std"][i], "n": c["n_seeds"]}
                cells.append(_mean_std(stat))
            else:
                cells.append("–")
        if len(at) > 1:
            if all(n in c["samples_seen"] for n in at) and c["n_seeds"]:
                idx = [c["samples_seen"].index(n) for n in at]
                avg = np.asarray(c["per_seed"], dtype=float)[:, idx].mean(axis=1)
                std = float(avg.std(ddof=1)) if len(avg) > 1 else 0.0
                cells.append(_mean_std({"mean": float(avg.mean()), "std": std, "n": len(avg)}))
            else:
                cells.append("–")
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines) + "\n"


def plot_mean_curves(
    curves: Mapping[str, Mapping[str, Any]],
    path: Path,
    *,
    metric: str = "test_accuracy",
    chance=None,
) -> Path:
    """Seed-mean learning curves (line) ± one standard deviation (band) against samples seen,
    log x axis (left) and linear x axis (right); ``curves`` as from :func:`sweep_curves`."""
    import matplotlib.pyplot as plt
    import numpy as np

    from spikesim.plots import distinct_colors

    colours = distinct_colors(len(curves))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.0), constrained_layout=True)
    handles, names = [], []
    for k, (label, c) in enumerate(curves.items()):
        n = np.asarray(c["samples_seen"], dtype=float)
        mean, std = np.asarray(c["mean"]), np.asarray(c["std"])
        colour = colours[k]
        line = None
        for ax, keep in ((axes[0], n >= 0), (axes[1], n >= 0)):
            (line,) = ax.plot(n[keep], mean[keep], marker="o", ms=2.5, lw=1.2, color=colour)
            ax.fill_between(
                n[keep], (mean - std)[keep], (mean + std)[keep], color=colour, alpha=0.2, lw=0
            )
        if line is not None:
            handles.append(line)
            names.append(f"{label} (mean of {c['n_seeds']} seeds ± std)")
    panels = ((axes[0], "symlog", "samples seen"), (axes[1], "linear", "samples seen"))
    from spikesim.io import save_figure

    return save_figure(_finish_panels(fig, panels, metric, chance, handles, names), path)
