"""Kind ``compare``: several learners on one task, one table and one figure.

Example::

    [experiment]
    kind = "compare"
    name = "digits"
    seed = 0

    [compare]
    chance = 0.1
    set = { "train.epochs" = 2 }      # optional: applied to every run (before its own set)
    [[compare.runs]]
    label = "spiking (SH rule)"
    file = "experiments/digits-spiking.toml"
    note = "E/I edge pairs"           # optional, shown in the table
    [[compare.runs]]
    label = "bp"
    file = "experiments/digits-bp.toml"
    set = { "train.epochs" = 20 }

Every run gets the comparison's seed. Outputs: ``<label>/`` (each run's own outputs),
``comparison.md`` and ``comparison.json`` (the table), ``curves.png``. The results'
``final`` holds ``best_learner``, ``best_test_accuracy`` and every learner's numeric
scalars as ``"<label>/<metric>"``, so ``spikesim sweep COMPARISON.toml --seeds N``
tabulates each learner's mean and spread over seeds; ``--param compare.set={...}``
changes the budget of every run at once.
"""

from __future__ import annotations

from pathlib import Path

from spikesim.experiments.compare import (
    flat_final,
    markdown_table,
    plot_curves,
    resolve_run,
    run_all,
    table_rows,
)
from spikesim.experiments.config import Field, Kind, register_kind
from spikesim.io import write_json, write_text


def _check_runs(runs) -> str | None:
    if not runs:
        return "list at least one run"
    labels = [r.get("label") for r in runs if isinstance(r, dict)]
    if len(set(labels)) != len(labels):
        return "labels must be unique"
    return None


COMPARE = {
    "runs": Field(list, check=_check_runs, doc="[[compare.runs]] tables: label, file, set"),
    "chance": Field(float, -1.0, doc="chance accuracy drawn in the figure (< 0: none)"),
    "set": Field(dict, {}, doc='"table.key" = value overrides applied to every run'),
}


def _runs(config: dict) -> list[dict]:
    base = config["experiment"]["base_dir"]
    base = Path(base) if base else None
    common = config["compare"]["set"]
    return [resolve_run(r, k, base, common=common) for k, r in enumerate(config["compare"]["runs"])]


def run(config: dict, out_dir: Path, resume: bool) -> dict:
    cmp = config["compare"]
    runs = _runs(config)
    results = run_all(runs, out_dir, seed=config["experiment"]["seed"], resume=resume)
    rows = table_rows(results, {r["label"]: r["note"] for r in runs})
    md = markdown_table(rows)
    write_text(out_dir / "comparison.md", md)
    write_json(out_dir / "comparison.json", {"rows": rows})
    chance = cmp["chance"] if cmp["chance"] >= 0 else None
    plot_curves(results, out_dir / "curves.png", chance=chance)
    best = max(rows, key=lambda r: r["test_accuracy"] or -1.0)
    results_out = {
        "final": {
            "best_learner": best["learner"],
            "best_test_accuracy": best["test_accuracy"],
            **flat_final(results),
        },
        "rows": rows,
        "table_markdown": md,
    }
    write_json(out_dir / "results.json", results_out)
    return results_out


KIND = register_kind(
    Kind(
        name="compare",
        tables={"compare": COMPARE},
        run=run,
        doc=__doc__ or "",
        validate=_runs,  # every run's file and keys are checked when the file is loaded
    )
)
__all__ = ["KIND", "run"]
