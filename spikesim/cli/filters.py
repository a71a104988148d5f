"""``spikesim filters RUN_DIR``: how alike an untied layer's filters are across locations
(Amit 2019, Fig. 6). The numbers come from :mod:`spikesim.experiments.filters`; this module
only parses the command line and prints them."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filters",
        help="filter similarity across locations of a rate run's untied (uconv) layers",
        description=(
            "For each untied layer of a finished rate run (its checkpoint.npz): the mean "
            "cosine similarity of the filters at different locations, trained, at the "
            "initial weights and for an independent random draw (the chance level); "
            "--figure: the filters at four locations (Fig. 6)."
        ),
    )
    p.add_argument("run", help="folder of a rate run (run.json + checkpoint.npz)")
    p.add_argument("--figure", default="", help="write the filters figure here (png, pdf)")
    p.add_argument("--channels", type=int, default=2, help="channels in the figure (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from spikesim.errors import ConfigError
    from spikesim.experiments.filters import filter_report, plot_filters

    if args.channels < 1:
        raise ConfigError(f"--channels must be >= 1, got {args.channels}")
    report = filter_report(args.run)
    if args.figure:
        report["figure"] = str(plot_filters(args.run, args.figure, channels=args.channels))
    print(json.dumps(report, indent=2))
    return 0
