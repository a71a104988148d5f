"""The deeper-EP table of experiments/ep-depth{1,2,3}.toml and its pre-registered tests.

For every finished run ``runs/ep-depth/d{D}-seed-{S}`` (EP with D hidden layers) and
``bp{D}-seed-{S}`` (bp on the same hard-sigmoid model) it reports the final training error
and test accuracy, and measures the relaxation length: the free-phase steps from zero until
one step moves no unit by 1e-4 or more (``EquilibriumPropagation.settle``, tol 1e-4, chunk
10, at most 5,000 steps), one test image at a time over the first 50 test images, for the
trained network and for the same seed's Glorot initialisation. Then it applies the rules
written in experiments/ep-depth1.toml:

- T1: final.train_error <= 1% in every seed run at a depth;
- T2: in every seed run at both depths, median steps n(2) >= 2 n(1) and n(3) >= 2 n(2).

    python docs/scripts/ep_depth_table.py runs/ep-depth [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from spikesim import data, rate
from spikesim.experiments.train_rate import load_checkpoint

TOL, CHUNK, MAX_STEPS, N_IMAGES = 1e-4, 10, 5000, 50
TRAIN_ERROR_MAX = 0.01
GROWTH = 2.0


def _learner(run: Path, trained: bool):
    info = json.loads((run / "run.json").read_text())["config"]
    params = {k: v for k, v in info["learner"].items() if k != "name"}
    learner = rate.make(info["learner"]["name"], seed=info["experiment"]["seed"], **params)
    learner.initialize()
    if trained:
        state, _ = load_checkpoint(run / "checkpoint.npz")
        learner.load_state_dict(state)
    return learner


def relaxation_steps(learner, x: np.ndarray) -> np.ndarray:
    """Steps to the fixed point (tol ``TOL``) of every row of ``x``, shape ``(len(x),)``;
    ``MAX_STEPS + CHUNK`` stands for "not settled within ``MAX_STEPS``"."""
    out = []
    for i in range(len(x)):
        _, n, change = learner.settle(x[i : i + 1], tol=TOL, max_steps=MAX_STEPS, chunk=CHUNK)
        out.append(n if change < TOL else MAX_STEPS + CHUNK)
    return np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    x = data.load("fashion-mnist", n_test=N_IMAGES).x_test.astype(np.float32)
    rows = []
    for run in sorted(args.runs.glob("*-seed-*")):
        m = re.fullmatch(r"(d|bp)(\d)-seed-(\d+)", run.name)
        if not m or not (run / "results.json").exists():
            continue
        kind, depth, seed = m.group(1), int(m.group(2)), int(m.group(3))
        final = json.loads((run / "results.json").read_text())["final"]
        row = {
            "learner": "ep" if kind == "d" else "bp",
            "depth": depth,
            "seed": seed,
            "train_error": final["train_error"],
            "test_accuracy": final["test_accuracy"],
            "wall_s": final["wall_s"],
        }
        if kind == "d":
            for label, trained in (("trained", True), ("init", False)):
                t0 = time.perf_counter()
                steps = relaxation_steps(_learner(run, trained), x)
                row[f"steps_{label}"] = {
                    "median": float(np.median(steps)),
                    "p90": float(np.percentile(steps, 90)),
                    "not_settled": int(np.sum(steps > MAX_STEPS)),
                    "wall_s": time.perf_counter() - t0,
                }
        rows.append(row)
        print(json.dumps(row), flush=True)
    ep = [r for r in rows if r["learner"] == "ep"]
    depths = sorted({r["depth"] for r in ep})
    t1 = {
        d: all(r["train_error"] <= TRAIN_ERROR_MAX for r in ep if r["depth"] == d) for d in depths
    }
    med = {(r["depth"], r["seed"]): r["steps_trained"]["median"] for r in ep}
    pairs = []
    for d in depths:
        for s in sorted({s for (dd, s) in med if dd == d}):
            if (d + 1, s) in med:
                pairs.append(
                    {
                        "seed": s,
                        "depths": [d, d + 1],
                        "ratio": med[(d + 1, s)] / med[(d, s)],
                        "met": med[(d + 1, s)] >= GROWTH * med[(d, s)],
                    }
                )
    out = {
        "rows": rows,
        "T1_train_error_le_1pct": {str(d): v for d, v in t1.items()},
        "T2_pairs": pairs,
        "T2_met": bool(pairs) and all(p["met"] for p in pairs),
        "settings": {"tol": TOL, "chunk": CHUNK, "max_steps": MAX_STEPS, "n_images": N_IMAGES},
    }
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
