"""``spikesim reproduce NAME [--json] [--out DIR]``: reproductions of papers' figures.

Sub-commands are the modules of :mod:`spikesim.reproduce` (``amit_linear`` ->
``amit-linear``), discovered automatically: a new reproduction is a new module there.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import spikesim.reproduce as _reproduce
from spikesim.cli._output import print_result


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
        help="reproduce a paper's figure (writes a PNG and results.json)",
        description="Reproduce a figure of one of the seed papers; see the sub-commands.",
    )
    rsub = p.add_subparsers(dest="reproduction", metavar="NAME")
    rsub.required = True
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
    result = module.run(args)
    return print_result(result, as_json=args.json, lines=_summary(result))
