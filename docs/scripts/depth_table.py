"""Seed-mean table of a depth study from its per-seed ``compare`` runs.

Usage::

    python docs/scripts/depth_table.py runs/fmnist-depth-e20 [--seeds 0,1,2]

reads ``<dir>/seed-S/comparison.json`` (written by ``spikesim train
experiments/fmnist-depth-e20.toml --out <dir>/seed-S --set experiment.seed=S``) and prints
a markdown table: test accuracy mean ± sample sd per learner and depth, and the gaps
bp-hinge − urfb and bp-hinge − frfb in every seed (points).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

NETS = {1: "784-500-10", 2: "784-500-500-10", 3: "784-500-500-500-10"}


def load(directory: Path, seeds: list[int]) -> dict[str, dict[int, float]]:
    acc: dict[str, dict[int, float]] = {}
    for s in seeds:
        rows = json.loads((directory / f"seed-{s}" / "comparison.json").read_text())
        rows = rows["rows"] if isinstance(rows, dict) else rows
        for r in rows:
            acc.setdefault(r["learner"], {})[s] = 100.0 * r["test_accuracy"]
    return acc


def table(acc: dict[str, dict[int, float]], seeds: list[int]) -> str:
    def col(name, depth):
        return np.array([acc[f"{name}-d{depth}"][s] for s in seeds])

    def ms(a):
        return f"{a.mean():.2f} ± {a.std(ddof=1):.2f}" if a.size > 1 else f"{a[0]:.2f}"

    def gaps(g):
        return ", ".join(f"{x:.2f}" for x in g) + f" (mean {g.mean():.2f})"

    lines = [
        "| network | bp-hinge (%) | urfb (%) | frfb (%) | bp-hinge − urfb per seed "
        "| bp-hinge − frfb per seed |",
        "|---|---|---|---|---|---|",
    ]
    for depth, net in NETS.items():
        b, u, f = (col(n, depth) for n in ("bp-hinge", "urfb", "frfb"))
        lines.append(f"| {net} | {ms(b)} | {ms(u)} | {ms(f)} | {gaps(b - u)} | {gaps(b - f)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(table(load(args.directory, seeds), seeds))


if __name__ == "__main__":
    main()
