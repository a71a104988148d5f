"""The pre-registered test of IL with minibatches (experiments/minibatch-il-adam.toml).

Final test accuracy (all 10,000 test images) after 1 epoch at batch 64, seeds 0-2.
M1 (IL-Adam) and M2 (IL-prox, no Adam): met if mean acc(BP-Adam) - mean acc(learner) is
<= 2.5 points.

    python docs/scripts/minibatch_test.py runs/minibatch [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SEEDS = (0, 1, 2)
GAP = 2.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res: dict = {}
    for lab in ("bp-adam", "il-adam", "il-prox"):
        res[lab] = {}
        for s in SEEDS:
            f = args.runs / f"{lab}-seed-{s}" / "results.json"
            if f.exists():
                fin = json.loads(f.read_text())["final"]
                res[lab][s] = {"test_accuracy": fin["test_accuracy"], "wall_s": fin["wall_s"]}
    out: dict = {"runs": res}
    ref = [v["test_accuracy"] for v in res["bp-adam"].values()]
    for rule, lab in (("M1", "il-adam"), ("M2", "il-prox")):
        own = [v["test_accuracy"] for v in res[lab].values()]
        if not own or not ref:
            out[rule] = {"computable": False}
            continue
        gap = 100 * (np.mean(ref) - np.mean(own))
        out[rule] = {
            "learner": lab,
            "seeds": [len(own), len(ref)],
            "mean_accuracy": float(np.mean(own)),
            "std_accuracy": float(np.std(own, ddof=1)) if len(own) > 1 else None,
            "bp_adam_mean": float(np.mean(ref)),
            "gap_points": float(gap),
            "met": bool(gap <= GAP),
        }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
