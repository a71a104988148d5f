"""``spikesim train EXPERIMENT.toml --out DIR [--resume | --force]``: run one experiment file."""

from __future__ import annotations

import argparse

from spikesim.cli._common import add_seed, add_set
from spikesim.cli._output import print_result


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
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (refused if the "
        "configuration changed, except the run's length)",
    )
    how.add_argument(
        "--force",
        action="store_true",
        help="empty --out first if it holds another experiment's run",
    )
    add_set(p)
    add_seed(p, what="the run (overrides experiment.seed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spikesim.experiments import load, run_experiment

    config = load(Path(args.experiment), overrides=args.set)
    if args.seed is not None:
        config["experiment"]["seed"] = args.seed
    command = ["spikesim", "train", str(args.experiment), "--out", str(args.out)]
    command += [f"--set={item}" for item in args.set]
    command += ["--seed", str(args.seed)] if args.seed is not None else []
    command += ["--resume"] * bool(args.resume) + ["--force"] * bool(args.force)
    results = run_experiment(
        config, args.out, resume=args.resume, force=args.force, command=command
    )
    final = results.get("final", {}) if isinstance(results, dict) else {}
    return print_result({"out": str(args.out), "final": final}, as_json=True)
