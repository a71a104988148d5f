"""``spikesim info [--json]``: what this installation has and how it is set up."""

from __future__ import annotations

import argparse

from spikesim.cli._output import print_result


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="version, engines, rules, learners, kinds, datasets, environment variables",
        description=(
            "Print the installed version, the simulation engines (and why one cannot run "
            "here), plasticity rules, rate learners, experiment kinds, the datasets found "
            "and where, and the environment variables spikesim reads with their values."
        ),
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _lines(info: dict) -> list[str]:
    lines = [f"spikesim {info['version']}", "", "engines:"]
    for name, e in info["engines"].items():
        lines.append(f"  {name:<20s} {'available' if e['available'] else e['reason']}")
    lines += ["", f"rules:         {', '.join(info['rules'])}"]
    lines += [f"rate learners: {', '.join(info['rate_learners'])}"]
    lines += [f"kinds:         {', '.join(info['kinds'])}", "", "datasets:"]
    for name, d in info["datasets"].items():
        lines.append(f"  {name:<20s} {d['where']}")
    lines += ["", "environment:"]
    for name, value in info["environment"].items():
        lines.append(f"  {name:<26s} {'(unset)' if value is None else value}")
    return lines


def run(args: argparse.Namespace) -> int:
    from spikesim.experiments.info import gather

    info = gather()
    return print_result(info, as_json=args.json, lines=_lines(info))
