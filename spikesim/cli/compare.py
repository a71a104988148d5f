"""``spikesim compare EXPERIMENT.toml --out DIR``: several learners on one task, side by side."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help='run a comparison experiment (kind = "compare") and print its table',
        description=(
            "Run every learner of a comparison file on the same task; writes comparison.md, "
            "comparison.json and curves.png (learning curves against samples seen and wall "
            "time) to --out, and each learner's own outputs to --out/<label>/."
        ),
    )
    p.add_argument("experiment", help='comparison file (TOML, kind = "compare")')
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--resume", action="store_true", help="skip learners already finished")
    p.add_argument("--seed", type=int, default=None, help="override experiment.seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikesim.errors import ConfigError
    from spikesim.experiments import load, run_experiment
    from spikesim.experiments.runinfo import write_run_info

    config = load(args.experiment)
    if config["experiment"]["kind"] != "compare":
        raise ConfigError(
            f"{args.experiment} has kind {config['experiment']['kind']!r}; `spikesim compare` "
            'needs kind = "compare" (use `spikesim train` for single runs)'
        )
    if args.seed is not None:
        config["experiment"]["seed"] = args.seed
    write_run_info(args.out, config)
    results = run_experiment(config, args.out, resume=args.resume)
    sys.stdout.write(results["table_markdown"])
    return 0
