"""Options shared by several commands, defined once so they read the same everywhere."""

from __future__ import annotations

import argparse

#: Environment variables spikesim reads, with what each does (listed in ``--help``).
ENVIRONMENT = {
    "SPIKESIM_DATA": "folder holding the datasets (an error if the dataset is not there)",
    "SPIKESIM_NO_PROGRESS": "1 turns progress bars off (also --quiet)",
    "SPIKESIM_DEBUG": "set: an unexpected error prints its traceback",
    "SPIKESIM_MEMORY_LIMIT": "bytes a network may take (default: a fraction of available memory)",
    "SPIKESIM_CACHE": "cache folder (default ~/.cache/spikesim)",
    "SPIKESIM_BRIAN2_CACHE": "Brian2 standalone build cache (default SPIKESIM_CACHE/brian2)",
    "SPIKESIM_BRIAN2_CACHE_MAX": "Brian2 builds kept in the cache (default 16)",
    "SPIKESIM_BRIAN2_PROFILE": "1 turns on Brian2's per-code-object timers",
}


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
