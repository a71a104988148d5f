"""``spikesim ceilings EXPERIMENT.toml``: the linear and the encoding ceilings of a spiking
classification experiment. The numbers come from :mod:`spikesim.experiments.ceilings`; this
module only parses the command line and prints them."""

from __future__ import annotations

import argparse

from spikesim.cli._common import add_set


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ceilings",
        help="linear and encoding ceilings of a spiking classification experiment",
        description=(
            "On the experiment's own training and test sets: the test accuracy of a softmax "
            "regression on the input vectors (the linear ceiling), of the same regression "
            "on one trial's input spike counts drawn by the experiment's encoding (the "
            "encoding ceiling: the readout noise of a single trial), and the single-trial "
            "accuracy of Poisson counts at the loss's target rates."
        ),
    )
    p.add_argument("experiment", help='experiment file (TOML, kind = "spiking")')
    add_set(p)
    p.add_argument("--draws", type=int, default=1, help="trials per training sample (default 1)")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", default="", help="also write the JSON to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from spikesim.cli._output import print_result
    from spikesim.errors import ConfigError
    from spikesim.experiments.ceilings import ceilings
    from spikesim.experiments.config import load
    from spikesim.io import strict_json

    if args.draws < 1:
        raise ConfigError(f"--draws must be >= 1, got {args.draws}")
    if not args.C > 0:
        raise ConfigError(f"--C must be positive, got {args.C}")
    cfg = load(args.experiment, overrides=args.set)
    r = ceilings(cfg, draws=args.draws, C=args.C)
    if args.out:
        Path(args.out).write_text(json.dumps(strict_json(r), indent=2) + "\n")
    enc = r["encoding"]
    lines = [
        f"{r['experiment']} ({r['dataset']}, {r['n_train']} train / {r['n_test']} test)",
        f"linear ceiling (softmax regression on x): test {r['linear']['test']:.4f} "
        f"(train {r['linear']['train']:.4f})",
        f"encoding ceiling (one {enc['kind']} trial's input counts, {enc['max_rate']:g} Hz x "
        f"{enc['duration']:g} s): test {r['encoding_ceiling']['test']:.4f} "
        f"(train {r['encoding_ceiling']['train']:.4f}, {r['encoding_ceiling']['draws']} "
        "draws per sample)",
        f"target-count ceiling (Poisson counts at the target rates): {r['target_counts']:.4f}",
    ]
    return print_result(r, as_json=args.json, lines=lines)
