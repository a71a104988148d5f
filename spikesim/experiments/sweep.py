"""Sweeps: one experiment file run over a grid of parameter values x seeds, on Dask.

A sweep is the Cartesian product of some ``table.key`` values and a range of seeds. Each
*cell* of the grid is one ordinary run of the experiment file with those keys overridden
and ``experiment.seed`` set; its resolved config is validated for every cell before
anything runs. Cells run in their own folders ``OUT/cells/<cell id>/`` (``run.json``,
``results.json``, the kind's own outputs, ``error.txt`` when the run raised), serially
in-process or as tasks on Dask distributed (a local cluster of single-threaded worker
processes, or an existing scheduler). The scalar metrics of ``final`` are then aggregated
per parameter combination (mean, standard deviation over seeds) into ``OUT/sweep.json`` and
``OUT/sweep.md``.

Restart: a cell whose ``results.json`` exists and whose recorded config (``run.json``)
equals the cell's config is finished and is skipped; a cell that started with the same
config but has no ``results.json`` is re-run with ``resume=True`` (so a kind with
checkpoints continues from its last one); a cell whose folder holds another config is run
from scratch.

Determinism: a cell's result depends only on its config (which includes its seed), and
the table is built in grid order, never in completion order, so serial and Dask runs of
the same grid give identical numbers (timings such as ``wall_s`` aside).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikesim.errors import ConfigError
from spikesim.experiments.config import parse_value, read_experiment, resolve, set_key

__all__ = [
    "Cell",
    "WORKER_ENV",
    "parse_param",
    "read_experiment",
    "build_grid",
    "cell_id",
    "finished_results",
    "run_cell",
    "run_sweep",
    "start_local_cluster",
    "aggregate",
    "markdown_table",
    "plot_table",
    "table_figure",
]

# Environment of Dask worker processes: one thread per worker for every numerical library,
# so K workers use K cores and results do not depend on threading.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "SPIKESIM_NO_PROGRESS": "1",
}

# Metrics shown first in the table (the results.json convention), then the rest by name.
_PREFERRED = (
    "test_accuracy",
    "test_loss",
    "train_loss",
    "train_error",
    "samples_seen",
    "wall_s",
    "n_parameters",
)


@dataclass(frozen=True)
class Cell:
    """One cell of a sweep grid.

    Attributes
    ----------
    id : str
        Folder name under ``OUT/cells/`` (see :func:`cell_id`).
    params : dict
        ``{"table.key": value}``: the swept values of this cell.
    seed : int
        Its ``experiment.seed``.
    config : dict
        The resolved, validated config of the run.
    """

    id: str
    params: dict
    seed: int
    config: dict


# -- the grid --------------------------------------------------------------------------


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets, braces and quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def parse_param(spec: str) -> tuple[str, list]:
    """Parse ``"table.key=v1,v2,..."`` into ``("table.key", [v1, v2, ...])``.

    Each value is parsed as TOML (``0.1``, ``true``, ``"bp"``, ``[64, 100]``; commas inside
    brackets or quotes do not split), a bare word as a string, exactly as ``spikesim train
    --set`` does.

    Raises
    ------
    ConfigError
        If ``spec`` is not ``TABLE.KEY=VALUES``, a value is empty or repeated, or the key
        is ``experiment.seed`` (use the seeds of the sweep).
    """
    key, sep, text = spec.partition("=")
    key = key.strip()
    table, dot, name = key.partition(".")
    if not sep or not dot or not table or not name or "." in name:
        raise ConfigError(f"--param expects TABLE.KEY=V1,V2,..., got {spec!r}")
    if key == "experiment.seed":
        raise ConfigError("--param experiment.seed: sweep seeds with --seeds / --seed-start")
    values = []
    for item in _split_top_level(text):
        if not item:
            raise ConfigError(f"--param {spec!r}: empty value")
        values.append(parse_value(item))
    canon = [_canonical(v) for v in values]
    if len(set(canon)) != len(canon):
        raise ConfigError(f"--param {spec!r}: a value is repeated")
    return key, values


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _readable(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return _canonical(value)


_SAFE = re.compile(r"[^A-Za-z0-9._=+-]")
_MAX_ID = 96


def cell_id(params: Mapping[str, Any], seed: int) -> str:
    """A stable, readable folder name for a cell.

    ``table.key=value`` for each swept key (in the given order) then ``seed=N``, joined by
    ``_``; when a value holds characters unsafe in a file name (replaced by ``-``) or the
    name is longer than 96 characters, an 8-hex-digit hash of the exact values is appended
    so distinct cells never share a folder. Depends only on the values, so a restarted
    sweep finds its cells again.
    """
    readable = "_".join([*(f"{k}={_readable(v)}" for k, v in params.items()), f"seed={seed}"])
    safe = _SAFE.sub("-", readable)
    if safe == readable and len(safe) <= _MAX_ID:
        return safe
    digest = hashlib.sha1(_canonical({"params": dict(params), "seed": seed}).encode()).hexdigest()[
        :8
    ]
    return f"{safe[: _MAX_ID - 9]}-{digest}"


def build_grid(
    raw: Mapping[str, Any],
    params: Sequence[tuple[str, Sequence[Any]]],
    seeds: Sequence[int],
    *,
    base_dir: str | Path | None = None,
) -> list[Cell]:
    """Resolve and validate every cell of the grid ``params x seeds``.

    Parameters
    ----------
    raw : mapping
        The parsed experiment file (:func:`read_experiment`).
    params : sequence of (key, values)
        ``("table.key", [v1, v2, ...])`` pairs (:func:`parse_param`); the grid is their
        Cartesian product, the first key varying slowest.
    seeds : sequence of int
        Values of ``experiment.seed``; the innermost loop of the grid.
    base_dir : path, optional
        Directory of the experiment file (relative paths in it resolve against it).

    Returns
    -------
    list of Cell
        In grid order.

    Raises
    ------
    ConfigError
        Naming the cell and the bad key when any cell's config is invalid, a key is swept
        twice, or there are no seeds.
    """
    keys = [k for k, _ in params]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"a key is swept twice: {', '.join(keys)}")
    if not seeds:
        raise ConfigError("a sweep needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"repeated seed in {list(seeds)}")
    base = Path(base_dir) if base_dir is not None else None
    cells, ids = [], {}
    for combo in itertools.product(*(list(v) for _, v in params)):
        values = dict(zip(keys, combo, strict=True))
        for seed in seeds:
            cell_raw = copy.deepcopy(dict(raw))
            for key, value in values.items():
                set_key(cell_raw, key, value, source="--param")
            exp = cell_raw.setdefault("experiment", {})
            if not isinstance(exp, dict):
                raise ConfigError("[experiment] must be a table")
            exp["seed"] = int(seed)
            cid = cell_id(values, int(seed))
            if cid in ids:  # pragma: no cover - distinct values give distinct ids
                raise ConfigError(f"two cells share the id {cid!r}: {ids[cid]} and {values}")
            ids[cid] = values
            try:
                config = resolve(cell_raw, base_dir=base)
            except ConfigError as exc:
                raise ConfigError(f"sweep cell {cid}: {exc}") from None
            cells.append(Cell(id=cid, params=values, seed=int(seed), config=config))
    return cells


# -- one cell --------------------------------------------------------------------------


def _scalars(final: Any) -> dict:
    if not isinstance(final, Mapping):
        return {}
    return {
        str(k): v
        for k, v in final.items()
        if v is None or isinstance(v, bool | int | float | str | np.number)
    }


def finished_results(cell_dir: str | Path, config: Mapping[str, Any]) -> dict | None:
    """The results of a finished cell, or None (:func:`spikesim.experiments.runs.finished_results`:
    ``results.json`` parses and ``run.json`` records the same config,
    :func:`spikesim.experiments.runs.same_config`)."""
    from spikesim.experiments.runs import finished_results as finished

    return finished(cell_dir, config)


def run_cell(config: dict, cell_dir: str) -> dict:
    """Run one cell into ``cell_dir``; never raises for a failure of the run itself.

    This is the task sent to Dask workers (a module-level function, importable there).
    The restart rule is :func:`spikesim.experiments.runs.run_or_skip`: a finished cell of
    the same config is skipped, an interrupted one resumed, any other folder emptied and
    run from scratch.

    Returns
    -------
    dict
        ``status`` (``"ok"`` or ``"failed"``), ``final`` (the scalars of the run's
        ``final``) or ``error`` (``"ExceptionType: message"``, also written with the
        traceback to ``cell_dir/error.txt``), ``resumed``, ``skipped`` and ``wall_s``.
    """
    from spikesim.experiments.runs import (
        finished_results,
        recorded_config,
        run_or_skip,
        same_config,
    )
    from spikesim.io import write_text

    out = Path(cell_dir)
    t0 = time.perf_counter()
    resume = same_config(recorded_config(out), config)
    if finished_results(out, config) is None:
        (out / "error.txt").unlink(missing_ok=True)
    try:
        results, what = run_or_skip(config, out)
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}"
        write_text(out / "error.txt", msg + "\n\n" + traceback.format_exc())
        return {
            "status": "failed",
            "error": msg,
            "resumed": resume,
            "wall_s": time.perf_counter() - t0,
        }
    done = {
        "status": "ok",
        "final": _scalars(results.get("final") if isinstance(results, dict) else None),
        "resumed": what == "resumed",
        "wall_s": 0.0 if what == "skipped" else time.perf_counter() - t0,
    }
    if what == "skipped":
        done["skipped"] = True
    return done


# -- running the grid ------------------------------------------------------------------


class _Progress:
    """Cells done / total on stderr (tqdm; silent with SPIKESIM_NO_PROGRESS=1)."""

    def __init__(self, total: int, initial: int, enabled: bool):
        self.bar = None
        self.enabled = enabled and os.environ.get("SPIKESIM_NO_PROGRESS", "") != "1"
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=initial, desc="sweep", unit="cell", file=sys.stderr
            )

    def done(self, cell: Cell, outcome: dict) -> None:
        if outcome["status"] != "ok":
            msg = f"sweep: cell {cell.id} failed: {outcome['error']}"
            if self.bar is not None:
                self.bar.write(msg, file=sys.stderr)
            else:
                print(msg, file=sys.stderr)
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_serial(todo: Sequence[Cell], cells_dir: Path, on_done: Callable) -> None:
    for cell in todo:
        on_done(cell, run_cell(cell.config, str(cells_dir / cell.id)))


def _local_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def start_local_cluster(workers: int | None = None):
    """A Dask LocalCluster of ``workers`` single-threaded worker processes.

    Workers get :data:`WORKER_ENV` (one thread for OpenMP, OpenBLAS, MKL and Numba; no
    progress bars), no dashboard, and quiet logs. Default: one worker per available core.
    """
    import logging

    from distributed import LocalCluster

    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    return LocalCluster(
        n_workers=workers or _local_workers(),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env=WORKER_ENV,
    )


def _run_dask(
    todo: Sequence[Cell],
    cells_dir: Path,
    on_done: Callable,
    *,
    workers: int | None,
    scheduler: str | None,
    client: Any,
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - depends on the installation
        from spikesim.errors import EngineError

        raise EngineError(
            "sweeps on Dask need dask[distributed]: pip install 'spikesim[dask]' "
            "(or run with --serial)"
        ) from None
    owned: list = []
    try:
        if client is None:
            if scheduler is not None:
                try:
                    client = Client(scheduler, timeout="20s")
                except OSError as exc:
                    from spikesim.errors import EngineError

                    raise EngineError(
                        f"cannot reach the Dask scheduler {scheduler!r}: {exc}"
                    ) from None
                owned.append(client)
            else:
                try:
                    cluster = start_local_cluster(workers)
                except (RuntimeError, OSError) as exc:
                    from spikesim.errors import EngineError

                    raise EngineError(
                        f"could not start a local Dask cluster: {exc} (from Python, call "
                        "run_sweep under `if __name__ == '__main__':`; or run serially)"
                    ) from exc
                owned.append(cluster)
                client = Client(cluster)
                owned.append(client)
        futures = {
            client.submit(run_cell, cell.config, str(cells_dir / cell.id), pure=False): cell
            for cell in todo
        }
        for fut in as_completed(futures):
            cell = futures[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # the worker died, the task was lost, ...
                msg = f"{type(exc).__name__}: {exc}"
                from spikesim.io import write_text

                write_text(cells_dir / cell.id / "error.txt", msg + " (raised by Dask)\n")
                outcome = {"status": "failed", "error": msg, "resumed": False, "wall_s": 0.0}
            on_done(cell, outcome)
    finally:
        for obj in reversed(owned):
            obj.close()


def run_sweep(
    cells: Sequence[Cell],
    out_dir: str | Path,
    *,
    serial: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> dict:
    """Run the cells not yet finished, then aggregate every cell into one table.

    Parameters
    ----------
    cells : sequence of Cell
        From :func:`build_grid` (already validated).
    out_dir : path
        Sweep folder: cells run in ``out_dir/cells/<id>/``; ``sweep.json`` and ``sweep.md``
        are written here atomically. With a remote scheduler it must be a path the workers
        see (a shared file system).
    serial : bool
        Run in this process, one cell after another, without Dask.
    workers : int, optional
        Worker processes of the local Dask cluster (1 thread each; default: one per
        available core). Ignored with ``scheduler`` or ``client``.
    scheduler : str, optional
        Address of an existing Dask scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    client : distributed.Client, optional
        An existing client to submit to (e.g. a test's shared cluster); not closed here.
    progress : bool
        Show cells done / total on stderr (unless ``SPIKESIM_NO_PROGRESS=1``).
    meta : mapping, optional
        Extra entries recorded in ``sweep.json`` (e.g. the experiment file, the command).

    Returns
    -------
    dict
        What ``sweep.json`` holds: ``cells`` (per cell: ``id``, ``params``, ``seed``,
        ``status``, ``final`` or ``error``, ``dir``), ``rows`` (:func:`aggregate`),
        ``counts`` (``total``, ``skipped`` finished before, ``ran``, ``resumed`` of those
        run, ``failed``), ``meta``;
        plus ``markdown`` (the table of ``sweep.md``).
    """
    from spikesim.io import write_json, write_text

    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    out = Path(out_dir).resolve()
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, dict] = {}
    todo = []
    for cell in cells:
        done = finished_results(cells_dir / cell.id, cell.config)
        if done is None:
            todo.append(cell)
        else:
            outcomes[cell.id] = {
                "status": "ok",
                "final": _scalars(done.get("final")),
                "skipped": True,
            }
    bar = _Progress(len(cells), len(cells) - len(todo), progress)

    def on_done(cell: Cell, outcome: dict) -> None:
        outcomes[cell.id] = outcome
        bar.done(cell, outcome)

    try:
        if todo and serial:
            _run_serial(todo, cells_dir, on_done)
        elif todo:
            _run_dask(todo, cells_dir, on_done, workers=workers, scheduler=scheduler, client=client)
    finally:
        bar.close()
    records = []
    for cell in cells:
        oc = outcomes[cell.id]
        rec = {"id": cell.id, "params": cell.params, "seed": cell.seed, "status": oc["status"]}
        rec.update({"final": oc["final"]} if oc["status"] == "ok" else {"error": oc["error"]})
        rec["dir"] = str(Path("cells") / cell.id)
        records.append(rec)
    rows = aggregate(records)
    failed = sum(r["status"] != "ok" for r in records)
    skipped = sum(bool(outcomes[c.id].get("skipped")) for c in cells)
    summary = {
        "meta": dict(meta or {}),
        "params": list(cells[0].params) if cells else [],
        "counts": {
            "total": len(cells),
            "skipped": skipped,
            "ran": len(cells) - skipped,
            "resumed": sum(bool(outcomes[c.id].get("resumed")) for c in cells),
            "failed": failed,
        },
        "rows": rows,
        "cells": records,
    }
    md = markdown_table(rows, records)
    write_json(out / "sweep.json", summary)
    write_text(out / "sweep.md", md)
    if any(row["metrics"] for row in rows):
        plot_table(rows, out / "sweep.png")
    return {**summary, "markdown": md}


# -- the table -------------------------------------------------------------------------


def aggregate(records: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Mean and standard deviation over seeds of every numeric scalar of ``final``.

    Parameters
    ----------
    records : sequence of mapping
        One per cell: ``params`` (dict), ``status`` (``"ok"`` or not) and, when ok,
        ``final`` (dict of scalars), as in ``sweep.json``'s ``cells``.

    Returns
    -------
    list of dict
        One row per parameter combination, in first-seen order: ``params``; ``n`` (cells
        that finished), ``failed`` (cells that did not); ``metrics``:
        ``{name: {"mean", "std", "n"}}`` over the finished cells reporting that numeric,
        non-boolean metric, ``std`` the sample standard deviation (``ddof=1``; None for
        one value), ordered with the results.json convention's names first.
    """
    groups: dict[str, dict] = {}
    for rec in records:
        key = _canonical(rec["params"])
        g = groups.setdefault(key, {"params": dict(rec["params"]), "ok": [], "failed": 0})
        if rec["status"] == "ok":
            g["ok"].append(rec.get("final") or {})
        else:
            g["failed"] += 1
    rows = []
    for g in groups.values():
        values: dict[str, list[float]] = {}
        for final in g["ok"]:
            for name, v in final.items():
                if isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_):
                    values.setdefault(name, []).append(float(v))
        names = [n for n in _PREFERRED if n in values] + sorted(set(values) - set(_PREFERRED))
        metrics = {}
        for name in names:
            arr = np.asarray(values[name], dtype=float)
            std = float(np.std(arr, ddof=1)) if arr.size > 1 else None
            metrics[name] = {"mean": float(np.mean(arr)), "std": std, "n": int(arr.size)}
        rows.append(
            {"params": g["params"], "n": len(g["ok"]), "failed": g["failed"], "metrics": metrics}
        )
    return rows


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    if math.isnan(x):
        return "nan"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.3e}"
    return f"{x:.4g}"


def plot_table(rows: Sequence[Mapping[str, Any]], path: Path, *, metric: str | None = None):
    """Save :func:`table_figure` to ``path`` (``sweep.png``); returns the path."""
    from spikesim.io import save_figure

    return save_figure(table_figure(rows, metric=metric), Path(path))


def table_figure(rows: Sequence[Mapping[str, Any]], *, metric: str | None = None):
    """The aggregated table as a figure: ``metric`` (default the first one of the
    results.json convention present, e.g. ``test_accuracy``) as mean ± std over seeds
    (error bars) against the first swept key, one line per combination of the other swept
    keys, each labelled ``key=value``. Returns the matplotlib Figure.
    """
    from spikesim import plots

    params = list(rows[0]["params"]) if rows else []
    names: list[str] = []
    for row in rows:
        names += [n for n in row["metrics"] if n not in names]
    names = [n for n in _PREFERRED if n in names] + [n for n in names if n not in _PREFERRED]
    if not names:
        raise ValueError("no metric to plot: no cell finished")
    metric = metric or names[0]
    x_key = params[0] if params else None
    xs = list(dict.fromkeys(_readable(r["params"][x_key]) for r in rows)) if x_key else ["-"]
    numeric = x_key is not None and all(
        isinstance(r["params"][x_key], int | float) and not isinstance(r["params"][x_key], bool)
        for r in rows
    )
    series: dict[str, list] = {}
    for row in rows:
        rest = ", ".join(f"{k}={_readable(row['params'][k])}" for k in params[1:]) or metric
        series.setdefault(rest, []).append(row)
    ax = plots.new_axes()
    colors = plots.distinct_colors(len(series))
    for k, (label, srows) in enumerate(series.items()):
        xv, mean, err = [], [], []
        for r in srows:
            m = r["metrics"].get(metric)
            if m is None:
                continue
            if x_key is None:
                xv.append(0)
            elif numeric:
                xv.append(r["params"][x_key])
            else:
                xv.append(xs.index(_readable(r["params"][x_key])))
            mean.append(m["mean"])
            err.append(m["std"] or 0.0)
        ax.errorbar(xv, mean, yerr=err, marker="o", ms=4, capsize=3, color=colors[k], label=label)
    if not numeric:
        ax.set_xticks(range(len(xs)), xs)
    ax.set_xlabel(x_key or "")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"sweep: {metric.replace('_', ' ')} by {', '.join(params) or 'seed'}")
    return ax.figure


def markdown_table(rows: Sequence[Mapping[str, Any]], records: Sequence[Mapping] = ()) -> str:
    """The aggregated table in markdown: one row per parameter combination, each metric
    as ``mean ± std``, then the failed cells with their errors."""
    params = list(rows[0]["params"]) if rows else []
    names: list[str] = []
    for row in rows:
        names += [n for n in row["metrics"] if n not in names]
    names = [n for n in _PREFERRED if n in names] + [n for n in names if n not in _PREFERRED]
    head = [*params, "seeds ok", *names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [_readable(row["params"][p]) for p in params]
        total = row["n"] + row["failed"]
        cells.append(f"{row['n']}/{total}")
        for n in names:
            m = row["metrics"].get(n)
            if m is None:
                cells.append("–")
            elif m["std"] is None:
                cells.append(_fmt(m["mean"]))
            else:
                cells.append(f"{_fmt(m['mean'])} ± {_fmt(m['std'])}")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    text = "\n".join(lines) + "\n"
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        text += "\nFailed cells (details in cells/<id>/error.txt):\n\n"
        text += "".join(f"- `{r['id']}`: {r['error'].splitlines()[0]}\n" for r in failed)
    return text
