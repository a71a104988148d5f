"""Table of the convolutional Fashion-MNIST runs (Amit 2019, Tables 1-3 in shape).

Usage::

    python docs/scripts/conv_table.py runs/fmnist-simpnet runs/fmnist-deepnet [--seeds 0]

reads ``<dir>/seed-S/<label>/results.json`` of every run of the ``compare`` files
``experiments/fmnist-simpnet.toml`` / ``fmnist-deepnet.toml`` (finished runs only, so a
study cut short still prints) and prints a markdown table: train and test error per run
(mean ± sample sd over the seeds found), the gap to BP hinge of the same study (points of
test accuracy), and the training time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def rows(directory: Path, seeds: list[int]):
    found: dict[str, list[dict]] = {}
    for s in seeds:
        base = directory / f"seed-{s}"
        if not base.is_dir():
            continue
        for res in sorted(base.glob("*/results.json")):
            final = json.loads(res.read_text())["final"]
            found.setdefault(res.parent.name, []).append(final)
    return found


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--seeds", default="0")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    head = "| study | run | seeds | train error (%) | test error (%) | test acc. − bp-hinge |"
    print(head + " train s |")
    print("|---|---|---|---|---|---|---|")
    for d in args.dirs:
        found = rows(d, seeds)
        ref = [100 * f["test_accuracy"] for f in found.get("bp-hinge", [])]
        for label, finals in found.items():
            acc = [100 * f["test_accuracy"] for f in finals]
            gap = f"{np.mean(acc) - np.mean(ref):+.2f}" if ref else "n/a"
            if label.startswith("simpnet-") and "simpnet" not in d.name:
                gap = "n/a (a simpnet run)"
            print(
                f"| {d.name} | {label} | {len(finals)} | "
                f"{fmt([100 * f['train_error'] for f in finals])} | "
                f"{fmt([100 - a for a in acc])} | {gap} | "
                f"{np.mean([f['wall_s'] for f in finals]):.0f} |"
            )


if __name__ == "__main__":
    main()
