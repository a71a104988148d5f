"""``spikesim sweep EXPERIMENT.toml --param TABLE.KEY=V1,V2 --seeds N --out DIR``."""

from __future__ import annotations

import argparse
import os
import sys

from spikesim.cli._common import add_set


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run an experiment over a grid of parameter values x seeds (Dask), tabulate",
        description=(
            "Run the experiment file once per cell of the grid (the Cartesian product of the "
            "--param values and the seeds), each cell in DIR/cells/<id>/, on a local Dask "
            "cluster (default), an existing scheduler (--scheduler) or in-process (--serial). "
            "Writes DIR/sweep.json and DIR/sweep.md (mean ± std over seeds of every scalar "
            "of each run's final results) and prints the table. Rerunning skips finished "
            "cells. Exit code 1 if any cell failed (see DIR/cells/<id>/error.txt)."
        ),
        epilog=(
            "example:\n  spikesim sweep experiments/fmnist-bp.toml "
            "--param learner.learning_rate=0.01,0.1 --seeds 3 --out sweep-lr"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("experiment", help="experiment file (TOML)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="TABLE.KEY=V1,V2,...",
        help="swept key and its values (each parsed as TOML), e.g. "
        "--param learner.learning_rate=0.01,0.1 (kind rate); repeat for a grid",
    )
    add_set(p)
    p.add_argument("--seeds", type=int, default=1, help="seeds per combination (default 1)")
    p.add_argument(
        "--seed-start", type=int, default=0, help="first seed (seeds are START..START+N-1)"
    )
    p.add_argument("--out", required=True, help="sweep folder")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the local Dask cluster (default: one per core)",
    )
    how.add_argument(
        "--scheduler", default=None, metavar="tcp://HOST:PORT", help="existing Dask scheduler"
    )
    how.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spikesim.errors import ConfigError
    from spikesim.experiments.config import read_experiment
    from spikesim.experiments.sweep import build_grid, parse_param, run_sweep

    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    path = Path(args.experiment)
    raw = read_experiment(path, overrides=args.set)
    params = [parse_param(spec) for spec in args.param]
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    cells = build_grid(raw, params, seeds, base_dir=path.parent)
    summary = run_sweep(
        cells,
        args.out,
        serial=args.serial,
        workers=args.workers,
        scheduler=args.scheduler,
        meta={
            "experiment": str(path.resolve()),
            "param": list(args.param),
            "set": list(args.set),
            "seeds": seeds,
        },
    )
    sys.stdout.write(summary["markdown"])
    counts = summary["counts"]
    quiet = os.environ.get("SPIKESIM_NO_PROGRESS", "") == "1"
    print(
        f"sweep: {counts['total']} cells ({counts['skipped']} already finished, "
        f"{counts['ran']} run, {counts['failed']} failed); table in {Path(args.out) / 'sweep.md'}",
        file=sys.stderr,
    ) if not quiet or counts["failed"] else None
    return 1 if counts["failed"] else 0
