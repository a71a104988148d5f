"""The pre-registered early-learning test of experiments/online-fmnist-early.toml.

For each seed, ``d`` = mean test accuracy over the evaluation points at 100, 200, ...,
4,000 iterations of a learner (IL-prox, IL-SGD) minus that of BP-SGD. "Faster early"
holds if the mean of ``d`` over the seeds is > 0 and a one-sided paired t-test over the
seeds gives p < 0.05 (Alonso et al. 2022, Fig. 3 left: the first 4,000 iterations on
F-MNIST, at least 5 seeds).

    python docs/scripts/online_early_test.py runs/online-fmnist-early [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

from spikesim.experiments.compare import sweep_curves

LEARNERS = ("il-prox", "il-sgd")
REFERENCE = "bp-sgd"
WINDOW = (100, 4000)


def early_means(curve: dict, window=WINDOW) -> np.ndarray:
    """Per-seed mean of the curve over the evaluation points within ``window`` (iterations,
    inclusive); ``curve`` is one learner's entry of :func:`sweep_curves` (shape (seeds,))."""
    x = np.asarray(curve["samples_seen"])
    m = (x >= window[0]) & (x <= window[1])
    if not m.any():
        raise SystemExit(f"no evaluation point in {window}")
    return np.asarray(curve["per_seed"], float)[:, m].mean(axis=1)


def test(sweep_dir: Path) -> dict:
    summary = json.loads((sweep_dir / "sweep.json").read_text())
    (combo,) = sweep_curves(summary, sweep_dir, [*LEARNERS, REFERENCE])
    curves = combo["curves"]
    ref = early_means(curves[REFERENCE])
    out = {
        "window": list(WINDOW),
        "seeds": curves[REFERENCE]["seeds"],
        REFERENCE: ref.tolist(),
    }
    for name in LEARNERS:
        if curves[name]["seeds"] != curves[REFERENCE]["seeds"]:
            raise SystemExit(f"{name} and {REFERENCE} finished different seeds")
        own = early_means(curves[name])
        d = own - ref
        t = stats.ttest_1samp(d, 0.0, alternative="greater")
        out[name] = {
            "early_mean_per_seed": own.tolist(),
            "difference_per_seed": d.tolist(),
            "mean_difference": float(d.mean()),
            "p_one_sided": float(t.pvalue),
            "faster_early": bool(d.mean() > 0 and t.pvalue < 0.05),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    res = test(args.sweep_dir)
    lo, hi = res["window"]
    ref = np.asarray(res[REFERENCE])
    print(f"mean test accuracy over iterations {lo}-{hi}, seeds {res['seeds']}")
    print(f"  {REFERENCE:8s} {100 * ref.mean():.2f}%  per seed {np.round(100 * ref, 2).tolist()}")
    for name in LEARNERS:
        r = res[name]
        d = np.round(100 * np.asarray(r["difference_per_seed"]), 2).tolist()
        print(
            f"  {name:8s} {100 * np.mean(r['early_mean_per_seed']):.2f}%  "
            f"minus {REFERENCE}: {100 * r['mean_difference']:+.2f} points (per seed {d}), "
            f"one-sided p = {r['p_one_sided']:.4f} -> faster early: {r['faster_early']}"
        )
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
