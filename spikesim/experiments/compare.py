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
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spikesim.errors import ConfigError

__all__ = ["COLUMNS", "table_rows", "markdown_table", "plot_curves", "resolve_run"]

COLUMNS = ("test_accuracy", "test_loss", "samples_seen", "wall_s", "n_parameters")


def resolve_run(run: Mapping[str, Any], index: int, base_dir: Path | None) -> dict:
    """Validate one ``[[compare.runs]]`` entry and resolve its experiment file.

    Parameters
    ----------
    run : mapping
        ``label`` (str), ``file`` (experiment file, relative to the comparison file or the
        repository root) and optional ``set`` (a table of ``"table.key" = value``
        overrides).
    index : int
        Position in the list, for error messages.

    Returns
    -------
    dict
        ``{"label": str, "config": resolved config}``.
    """
    import tomllib

    from spikesim.experiments.config import resolve

    where = f"compare.runs[{index}]"
    if not isinstance(run, Mapping):
        raise ConfigError(f"{where} must be a table with label and file")
    unknown = sorted(set(run) - {"label", "file", "set"})
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]} (known keys: file, label, set)")
    for key in ("label", "file"):
        if not isinstance(run.get(key), str):
            raise ConfigError(f"{where}.{key} must be a string, got {run.get(key)!r}")
    overrides = run.get("set", {})
    if not isinstance(overrides, Mapping):
        raise ConfigError(f'{where}.set must be a table of "table.key" = value')
    candidates = [Path(run["file"])]
    if base_dir is not None:
        candidates = [base_dir / run["file"], base_dir.parent / run["file"], *candidates]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise ConfigError(f"{where}.file = {run['file']!r} not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}.file {path}: not valid TOML: {exc}") from None
    for dotted, value in overrides.items():
        table, dot, key = dotted.partition(".")
        if not dot:
            raise ConfigError(f"{where}.set key {dotted!r} must be TABLE.KEY")
        raw.setdefault(table, {})[key] = value
    if raw.get("experiment", {}).get("kind") == "compare":
        raise ConfigError(f"{where}.file is itself a comparison")
    return {"label": run["label"], "config": resolve(raw, base_dir=path.parent)}


def run_all(runs: Sequence[dict], out_dir: Path, *, seed: int, resume: bool) -> dict:
    """Run every resolved run into ``out_dir/<label>``; return ``{label: results}``."""
    from spikesim.experiments.config import run_experiment
    from spikesim.experiments.runinfo import write_run_info

    results = {}
    for run in runs:
        cfg = json.loads(json.dumps(run["config"]))
        cfg["experiment"]["seed"] = seed
        sub = out_dir / run["label"]
        done = sub / "results.json"
        if resume and done.is_file() and (sub / "run.json").is_file():
            if json.loads((sub / "run.json").read_text())["config"] == cfg:
                results[run["label"]] = json.loads(done.read_text())
                continue
        write_run_info(sub, cfg)
        t0 = time.perf_counter()
        res = run_experiment(cfg, sub, resume=resume)
        res.setdefault("final", {}).setdefault("wall_s", time.perf_counter() - t0)
        results[run["label"]] = res
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


def table_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict]:
    """One row per learner: ``learner`` and the :data:`COLUMNS` of its ``final`` (None when
    the learner does not report one)."""
    rows = []
    for label, res in results.items():
        final = res.get("final", {})
        rows.append({"learner": label, **{c: final.get(c) for c in COLUMNS}})
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The comparison table in markdown."""
    head = ("learner", *COLUMNS)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in head) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(results: Mapping[str, Mapping[str, Any]], path: Path, *, chance=None) -> Path:
    """Learning curves of every learner against samples seen and against wall time."""
    import matplotlib.pyplot as plt

    from spikesim.io import save_figure
    from spikesim.plots import learning_curves

    metric = "test_accuracy"
    if not any(metric in point for res in results.values() for point in res.get("curve", [])):
        metric = "test_loss"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    for ax, xkey, xlabel in (
        (axes[0], "samples_seen", "samples seen"),
        (axes[1], "wall_s", "wall time (s)"),
    ):
        curves = {}
        for label, res in results.items():
            pts = [p for p in res.get("curve", []) if metric in p and p.get(xkey, 0) > 0]
            if pts:
                curves[label] = ([p[xkey] for p in pts], [p[metric] for p in pts])
        learning_curves(
            curves,
            xlabel=xlabel,
            ylabel=metric.replace("_", " "),
            ax=ax,
            chance=chance if metric == "test_accuracy" else None,
            logx=True,
        )
    return save_figure(fig, path)
