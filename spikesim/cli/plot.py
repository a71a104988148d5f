"""``spikesim plot RUN [--out DIR]``: redraw a finished run's figures from its folder."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="redraw a finished run's figures from its folder (no retraining)",
        description=(
            "Read RUN (the --out folder of `spikesim train`: run.json, results.json and the "
            "kind's saved arrays) and draw its figures again, into --out (default: RUN)."
        ),
    )
    p.add_argument("run", help="run folder")
    p.add_argument("--out", default=None, help="folder for the figures (default: the run's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikesim.experiments.runs import plot_run

    for path in plot_run(args.run, args.out):
        print(path, file=sys.stdout)
    return 0
