"""Diagnostic of the deeper-EP runs (not pre-registered): the relative weight change per
layer, ||dW_k|| / ||W_k|| (Frobenius), of one EP step on each of the first 10 minibatches of
20 training images, at the Glorot initialisation and after training. Scellier & Bengio
(sec. 5.2) chose the rates alpha_k so that these are about equal across layers.

    python docs/scripts/ep_depth_updates.py runs/ep-depth [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spikesim import data, rate
from spikesim.experiments.train_rate import load_checkpoint


def relative_changes(learner, x, y) -> list[float]:
    out = []
    for i in range(0, len(y), 20):
        before = [w.copy() for w in learner.W]
        state = learner.state_dict()
        learner.fit_batch(x[i : i + 20], y[i : i + 20])
        out.append(
            [
                float(np.linalg.norm(w - b) / np.linalg.norm(b))
                for w, b in zip(learner.W, before, strict=True)
            ]
        )
        learner.load_state_dict(state)  # measure every minibatch from the same weights
    return np.mean(out, axis=0).tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ds = data.load("fashion-mnist", n_train=200)
    x, y = ds.x_train.astype(np.float32), ds.y_train
    rows = []
    for d in (1, 2, 3):
        run = args.runs / f"d{d}-seed-0"
        if not (run / "checkpoint.npz").exists():
            continue
        cfg = json.loads((run / "run.json").read_text())["config"]
        params = {k: v for k, v in cfg["learner"].items() if k != "name"}
        for label in ("init", "trained"):
            learner = rate.make("ep", seed=0, **params)
            learner.initialize()
            if label == "trained":
                learner.load_state_dict(load_checkpoint(run / "checkpoint.npz")[0])
            row = {"depth": d, "weights": label, "dW_over_W": relative_changes(learner, x, y)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
