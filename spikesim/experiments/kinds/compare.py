"""Kind ``compare``: several learners on one task, one table and one figure.

Example::

    [experiment]
    kind = "compare"
    name = "digits"
    seed = 0

    [compare]
    chance = 0.1
    [[compare.runs]]
    label = "spiking (SH rule)"
    file = "experiments/digits-spiking.toml"
    [[compare.runs]]
    label = "bp"
    file = "experiments/digits-bp.toml"
    set = { "train.epochs" = 20 }

Every run gets the comparison's seed. Outputs: ``<label>/`` (each run's own outputs),
``comparison.md`` and ``comparison.json`` (the table), ``curves.png``.
"""

from __future__ import annotations

from pathlib import Path

from spikesim.experiments.compare import (
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
}


def _runs(config: dict) -> list[dict]:
    base = config["experiment"]["base_dir"]
    base = Path(base) if base else None
    return [resolve_run(r, k, base) for k, r in enumerate(config["compare"]["runs"])]


def run(config: dict, out_dir: Path, resume: bool) -> dict:
    cmp = config["compare"]
    runs = _runs(config)
    results = run_all(runs, out_dir, seed=config["experiment"]["seed"], resume=resume)
    rows = table_rows(results)
    md = markdown_table(rows)
    write_text(out_dir / "comparison.md", md)
    write_json(out_dir / "comparison.json", {"rows": rows})
    chance = cmp["chance"] if cmp["chance"] >= 0 else None
    plot_curves(results, out_dir / "curves.png", chance=chance)
    best = max(rows, key=lambda r: r["test_accuracy"] or -1.0)
    return {
        "final": {"best_learner": best["learner"], "best_test_accuracy": best["test_accuracy"]},
        "rows": rows,
        "table_markdown": md,
    }


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
