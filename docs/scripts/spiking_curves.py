"""Learning curves of spiking runs, with the ceilings drawn as horizontal lines.

Usage (from the repository root)::

    python docs/scripts/spiking_curves.py OUT.png "TITLE" LABEL=RUN_DIR [LABEL=RUN_DIR ...] \
        [--ceiling LABEL=CEILINGS.json:KEY ...]

Each ``RUN_DIR`` is the ``--out`` folder of ``spikesim train`` (its ``results.json``: the
curve of test accuracy against trials, step 0 included); several ``RUN_DIR`` joined by
``+`` are drawn as one curve each in the same colour family. ``--ceiling`` reads the JSON
of ``spikesim ceilings ... --json`` and draws ``KEY`` (e.g. ``linear.test_accuracy``) as a
dashed line. The figures of docs/guide/plasticity.md ("Third study") were drawn with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spikesim.plots import distinct_colors  # noqa: E402


def curve(run: Path) -> tuple[list[float], list[float]]:
    r = json.loads((run / "results.json").read_text())
    pts = [(c["step"], c["test_accuracy"]) for c in r["curve"] if "test_accuracy" in c]
    return [p[0] for p in pts], [p[1] for p in pts]


def lookup(doc: dict, key: str) -> float:
    for part in key.split("."):
        doc = doc[part]
    return float(doc)


def main(argv: list[str]) -> None:
    out, title, rest = Path(argv[0]), argv[1], argv[2:]
    runs, ceilings = [], []
    it = iter(rest)
    for a in it:
        if a == "--ceiling":
            label, spec = next(it).split("=", 1)
            path, key = spec.rsplit(":", 1)
            ceilings.append((label, lookup(json.loads(Path(path).read_text()), key)))
        else:
            label, dirs = a.split("=", 1)
            runs.append((label, [Path(d) for d in dirs.split("+")]))
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    colors = distinct_colors(len(runs) + len(ceilings))
    for k, (label, dirs) in enumerate(runs):
        for j, d in enumerate(dirs):
            x, y = curve(d)
            ax.plot(
                x,
                y,
                marker="o",
                ms=3,
                lw=1.2,
                color=colors[k],
                alpha=1.0 if j == 0 else 0.55,
                label=label if j == 0 else None,
            )
    for k, (label, value) in enumerate(ceilings):
        ax.axhline(value, ls="--", lw=1.0, color=colors[len(runs) + k], label=label)
    ax.axhline(0.1, color="0.5", ls=":", lw=1.0, label="chance")
    ax.set_xscale("symlog", linthresh=1e5)
    ax.set_xlabel("trials (symlog axis: linear below 1e5)")
    ax.set_ylabel("test accuracy (single trial)")
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1:])
