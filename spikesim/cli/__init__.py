"""The ``spikesim`` command.

Subcommands live in the modules of this package; each module defines
``add_parser(subparsers)`` which registers its subcommand(s) and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code) as a default. Modules
are discovered automatically, so a new subcommand is a new module.

Exit codes: 0 success, 2 usage or config error, 1 runtime failure, 130 interrupted
(Ctrl-C; a training run writes a checkpoint first and says how to resume). Messages go to stderr;
results go to stdout or to files. An unexpected exception prints one line; set
``SPIKESIM_DEBUG=1`` to get its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from spikesim._version import __version__
from spikesim.cli._common import environment_epilog
from spikesim.errors import ConfigError, SpikesimError, ValidationError


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every discovered subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="spikesim",
        description="Learning in spiking and rate-based neural networks.",
        epilog=environment_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"spikesim {__version__}", help="print the version"
    )
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bars or informational messages on stderr (errors still print)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:  # every progress bar reads this variable
        os.environ["SPIKESIM_NO_PROGRESS"] = "1"
    try:
        code = args.func(args)
    except (ConfigError, ValidationError) as exc:
        print(f"spikesim: error: {exc}", file=sys.stderr)
        return 2
    except SpikesimError as exc:
        print(f"spikesim: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # a run's Interrupted says where its checkpoint is
        print(f"spikesim: interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line, the traceback on request
        if os.environ.get("SPIKESIM_DEBUG"):
            raise
        print(
            f"spikesim: error: {type(exc).__name__}: {exc} "
            "(set SPIKESIM_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
