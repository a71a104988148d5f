"""``spikesim bench NAME [--json]``: benchmarks discovered in :mod:`spikesim.benchmarks`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import spikesim.benchmarks as _benchmarks
from spikesim.cli._output import print_result


def _format_table(result: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.extend(_format_table(value, prefix=f"{prefix}{key}."))
        elif isinstance(value, float):
            lines.append(f"{prefix + key:<48s} {value:.6g}")
        else:
            lines.append(f"{prefix + key:<48s} {value}")
    return lines


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="run a benchmark and print its figures",
        description="Run one benchmark of spikesim.benchmarks and print its figures; "
        "see the sub-commands.",
    )
    bsub = p.add_subparsers(dest="bench", metavar="NAME")
    bsub.required = True
    for info in sorted(pkgutil.iter_modules(_benchmarks.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"spikesim.benchmarks.{info.name}")
        bp = bsub.add_parser(info.name, help=(module.__doc__ or "").strip().splitlines()[0])
        bp.add_argument("--json", action="store_true", help="print the result as JSON")
        module.add_arguments(bp)
        bp.set_defaults(func=lambda args, m=module: _run(m, args))


def _run(module, args: argparse.Namespace) -> int:
    result = module.run(args)
    return print_result(result, as_json=args.json, lines=_format_table(result))
