"""``spikesim compare EXPERIMENT.toml --out DIR``: several learners on one task, side by side."""

from __future__ import annotations

import argparse
import sys

from spikesim.cli._common import add_seed, add_set


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help='run a comparison experiment (kind = "compare") and print its table',
        description=(
            "Run every learner of a comparison file on the same task; writes comparison.md, "
            "comparison.json and curves.png (learning curves against samples seen and wall "
            "time) to --out, and each learner's own outputs to --out/<label>/."
        ),
    )
    p.add_argument("experiment", help='comparison file (TOML, kind = "compare")')
    p.add_argument("--out", required=True, help="output directory")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true", help="skip learners already finished")
    how.add_argument(
        "--force", action="store_true", help="empty --out first if it holds another comparison"
    )
    add_seed(p, what="every learner's run (overrides experiment.seed)")
    add_set(p)
    p.add_argument(
        "--from-sweep",
        metavar="SWEEP_DIR",
        default=None,
        help=(
            "run nothing: read SWEEP_DIR/sweep.json of `spikesim sweep EXPERIMENT.toml ...` "
            "and write per-learner tables (mean ± std over seeds) and the seed-mean learning "
            "curves (curves.png, curves.json) to --out"
        ),
    )
    p.add_argument(
        "--at",
        metavar="N1,N2,...",
        default=None,
        help=(
            "with --from-sweep: also tabulate the seed mean ± std of the curves at these "
            "sample counts (e.g. 1000,2000,5000)"
        ),
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikesim.errors import ConfigError
    from spikesim.experiments import load, run_experiment

    config = load(args.experiment, overrides=args.set)
    if config["experiment"]["kind"] != "compare":
        raise ConfigError(
            f"{args.experiment} has kind {config['experiment']['kind']!r}; `spikesim compare` "
            'needs kind = "compare" (use `spikesim train` for single runs)'
        )
    if args.at is not None and args.from_sweep is None:
        raise ConfigError("--at needs --from-sweep")
    if args.from_sweep is not None:
        return _from_sweep(args, config)
    if args.seed is not None:
        config["experiment"]["seed"] = args.seed
    command = ["spikesim", "compare", str(args.experiment), "--out", str(args.out)]
    command += [f"--set={item}" for item in args.set]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    results = run_experiment(
        config, args.out, resume=args.resume, force=args.force, command=command
    )
    sys.stdout.write(results["table_markdown"])
    return 0


def _from_sweep(args: argparse.Namespace, config: dict) -> int:
    import json
    from pathlib import Path

    from spikesim.errors import ConfigError
    from spikesim.experiments.compare import (
        curve_table,
        plot_mean_curves,
        sweep_curves,
        sweep_tables,
    )
    from spikesim.io import write_json, write_text

    at = []
    if args.at is not None:
        try:
            at = [int(v) for v in args.at.split(",")]
        except ValueError:
            raise ConfigError(f"--at must be comma-separated integers, got {args.at!r}") from None
        if not at or min(at) < 0:
            raise ConfigError(f"--at must be non-negative sample counts, got {args.at!r}")

    path = Path(args.from_sweep) / "sweep.json"
    try:
        summary = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--from-sweep: {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--from-sweep: {path} cannot be read: {exc}") from None
    labels = [r["label"] for r in config["compare"]["runs"]]
    md, data = sweep_tables(summary, labels)
    out = Path(args.out)
    metric = "test_accuracy"
    curves = sweep_curves(summary, path.parent, labels, metric=metric)
    if not any(c["samples_seen"] for row in curves for c in row["curves"].values()):
        metric = "test_loss"
        curves = sweep_curves(summary, path.parent, labels, metric=metric)
    chance = config["compare"]["chance"] if config["compare"]["chance"] >= 0 else None
    for k, row in enumerate(curves):
        name = "curves.png" if len(curves) == 1 else f"curves-{k}.png"
        plot_mean_curves(row["curves"], out / name, metric=metric, chance=chance)
        row["figure"] = name
        if at:
            table = curve_table(row["curves"], at, metric)
            title = ", ".join(f"{key} = {json.dumps(v)}" for key, v in row["params"].items())
            md += "\n" + (f"**{title}**: " if title else "") + table
    write_text(out / "comparison.md", md)
    write_json(out / "comparison.json", {"sweep": str(path), "tables": data})
    write_json(out / "curves.json", {"sweep": str(path), "metric": metric, "rows": curves})
    sys.stdout.write(md)
    return 0
