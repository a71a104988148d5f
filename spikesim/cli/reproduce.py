"""``spikesim reproduce NAME [--json] [--out DIR]``: reproductions of papers' figures;
``spikesim reproduce --table [--write]`` and ``--check [--budget MINUTES] [--only ID ...]``:
the reproduction table as data (:mod:`spikesim.experiments.reproduction`).

Sub-commands are the modules of :mod:`spikesim.reproduce` (``amit_linear`` ->
``amit-linear``), discovered automatically: a new reproduction is a new module there.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import spikesim.reproduce as _reproduce
from spikesim.cli._output import print_result
from spikesim.errors import ConfigError


def commands() -> dict[str, str]:
    """``{command name: module name}`` of every reproduction."""
    return {
        info.name.replace("_", "-"): f"{_reproduce.__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(_reproduce.__path__), key=lambda m: m.name)
        if not info.name.startswith("_")
    }


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce a paper's figure; print or check the reproduction table",
        description="Reproduce a figure of one of the seed papers (see the sub-commands), "
        "or, with --table / --check, print or rerun the reproduction table kept in "
        "experiments/reproduction.toml.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--table",
        action="store_true",
        help="print the generated tables (Markdown); with --write, update them in their files",
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="rerun the measures whose recorded wall time fits --budget, cheapest first, "
        "and report each as reproduced, drifted, failed or skipped (exit 1 on drift/failure)",
    )
    p.add_argument("--write", action="store_true", help="with --table: rewrite the files")
    p.add_argument(
        "--budget",
        type=float,
        default=10.0,
        metavar="MINUTES",
        help="with --check: minutes of recorded wall time to rerun (default 10)",
    )
    p.add_argument(
        "--only", nargs="+", default=[], metavar="ID", help="with --check: only these measures"
    )
    p.add_argument(
        "--file",
        default=None,
        metavar="TOML",
        help="the data file (default experiments/reproduction.toml)",
    )
    p.add_argument("--json", dest="as_json", action="store_true", help="with --check: print JSON")
    p.set_defaults(func=_table_or_check)
    rsub = p.add_subparsers(dest="reproduction", metavar="NAME")
    for command, module_name in commands().items():
        module = importlib.import_module(module_name)
        rp = rsub.add_parser(command, help=(module.__doc__ or "").strip().splitlines()[0])
        rp.add_argument("--json", action="store_true", help="print the results as JSON")
        rp.add_argument(
            "--out", default=f"results/{command}", help="output directory (figure, JSON)"
        )
        module.add_arguments(rp)
        rp.set_defaults(func=lambda args, m=module: _run(m, args))


def _summary(result: dict) -> list[str]:
    lines = []
    for key, value in result.get("summary", {}).items():
        lines.append(f"{key:<48s} {value}")
    return lines


def _run(module, args: argparse.Namespace) -> int:
    if args.table or args.check:
        raise ConfigError(
            f"--table / --check go without a reproduction NAME, got {args.reproduction!r}"
        )
    result = module.run(args)
    return print_result(result, as_json=args.json, lines=_summary(result))


def _table_or_check(args: argparse.Namespace) -> int:
    from spikesim.experiments import reproduction as rp

    if not (args.table or args.check):
        raise ConfigError("give a reproduction NAME, --table or --check (see --help)")
    if args.write and not args.table:
        raise ConfigError("--write goes with --table")
    if args.budget < 0:
        raise ConfigError(f"--budget must be >= 0 minutes, got {args.budget}")
    repro = rp.load(args.file or rp.DEFAULT_FILE)
    if args.table:
        if args.write:
            for path in rp.write_tables(repro):
                print(f"wrote {path}", file=sys.stderr)
            return 0
        print("\n\n".join(rp.render_table(repro, name) for name in repro.tables))
        return 0
    quiet = os.environ.get("SPIKESIM_NO_PROGRESS", "") == "1"  # --quiet sets it
    outcomes = rp.check(
        repro,
        budget_s=args.budget * 60.0,
        only=args.only,
        progress=None if quiet else (lambda line: print(line, file=sys.stderr, flush=True)),
    )
    lines = [
        f"{o.id:<32s} {o.status:<10s} "
        + (o.reason or " / ".join(repr(v) for v in o.now if v is not None))
        for o in outcomes
    ]
    print_result([o.as_dict() for o in outcomes], as_json=args.as_json, lines=lines)
    return 1 if any(o.status in ("drifted", "failed") for o in outcomes) else 0
