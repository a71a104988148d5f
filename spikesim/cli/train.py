"""``spikesim train EXPERIMENT.toml --out DIR [--resume]``: run one experiment file."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="run an experiment file (spiking, rate or zero-order training)",
        description=(
            "Run the experiment described by a TOML file; results.json, plots, checkpoints "
            "and run.json (resolved config, versions, seed) go to --out."
        ),
    )
    p.add_argument("experiment", help="experiment file (TOML)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in --out"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override one key (VALUE parsed as TOML), e.g. --set train.trials=1000",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spikesim.experiments import load, run_experiment
    from spikesim.experiments.runinfo import write_run_info

    config = load(Path(args.experiment), overrides=args.set)
    write_run_info(args.out, config)
    results = run_experiment(config, args.out, resume=args.resume)
    final = results.get("final", {}) if isinstance(results, dict) else {}
    json.dump({"out": str(args.out), "final": final}, sys.stdout, indent=2, default=float)
    sys.stdout.write("\n")
    return 0
