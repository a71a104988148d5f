"""Options shared by several commands, defined once so they read the same everywhere."""

from __future__ import annotations

import argparse

from spikesim.experiments.info import ENVIRONMENT


def environment_epilog() -> str:
    """The ``--help`` epilog listing :data:`ENVIRONMENT`."""
    width = max(len(name) for name in ENVIRONMENT)
    lines = ["environment variables:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in ENVIRONMENT.items()]
    return "\n".join(lines)


def add_set(parser: argparse.ArgumentParser) -> None:
    """``--set TABLE.KEY=VALUE`` (repeatable): override one key of the experiment file."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override one key of the experiment file (VALUE parsed as TOML), e.g. "
        "--set train.trials=1000; repeat for several",
    )


def add_seed(parser: argparse.ArgumentParser, *, default: int | None = None, what: str) -> None:
    """``--seed N``; ``what`` says what the seed drives (shown in the help)."""
    shown = "the experiment file's" if default is None else str(default)
    parser.add_argument(
        "--seed", type=int, default=default, help=f"seed of {what} (default {shown})"
    )
