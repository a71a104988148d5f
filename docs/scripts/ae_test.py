"""The pre-registered test of the IL autoencoders (experiments/ae-il-prox.toml) and the
figures of docs/guide/ep-and-il.md (loss curves, reconstructions).

For each seed, L(learner) = mean test loss (per pixel BCE, first 1,000 test images) over the
evaluation points at 250, 500, ..., 10,000 iterations.

- A1: d = L(bp-sgd) - L(il-prox); met if mean d > 0 and a one-sided paired t-test over the
  seeds gives p < 0.05.
- A2: d = L(bp-adam) - L(il-prox); met if d > 0 in every seed.

A run that diverged (no results.json; the step is read from its log) has no L; the script
then says so and applies the rule of A1 to BP-SGD at learning rate 0.001 as well (the
reported sensitivity, runs/ae/bp-sgd-lr0.001-seed-S).

    python docs/scripts/ae_test.py runs/ae [--json OUT] [--figures DIR]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
from scipy import stats

WINDOW = (250, 10_000)
LEARNERS = ("il-prox", "il-sgd", "bp-adam", "bp-sgd", "bp-sgd-lr0.001")
SEEDS = (0, 1, 2)


def read(runs: Path, label: str, seed: int) -> dict:
    run = runs / f"{label}-seed-{seed}"
    res = run / "results.json"
    if not res.exists():
        log = run.with_name(run.name + ".log")
        m = re.search(r"diverged at step (\d+)", log.read_text()) if log.exists() else None
        return {"diverged_at_step": int(m.group(1)) if m else None}
    r = json.loads(res.read_text())
    x = np.array([c["samples_seen"] for c in r["curve"]])
    y = np.array([c["test_loss"] for c in r["curve"]], float)
    w = (x >= WINDOW[0]) & (x <= WINDOW[1])
    return {
        "L": float(y[w].mean()),
        "final_test_loss": r["final"]["test_loss"],
        "wall_s": r["final"]["wall_s"],
        "x": x.tolist(),
        "y": y.tolist(),
    }


def compare(per: dict, ref: str, learner: str = "il-prox") -> dict:
    a = [per[ref][s].get("L") for s in SEEDS]
    b = [per[learner][s].get("L") for s in SEEDS]
    if any(v is None for v in a + b):
        return {"computable": False, "why": f"{ref} or {learner} has runs without a curve"}
    d = np.array(a) - np.array(b)
    t = stats.ttest_1samp(d, 0.0, alternative="greater")
    return {
        "computable": True,
        "d_per_seed": d.tolist(),
        "mean_d": float(d.mean()),
        "p_one_sided": float(t.pvalue),
        "significant": bool(d.mean() > 0 and t.pvalue < 0.05),
        "positive_every_seed": bool(np.all(d > 0)),
    }


def figures(runs: Path, per: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikesim import data, rate
    from spikesim.experiments.train_rate import load_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label in LEARNERS:
        ok = [per[label][s] for s in SEEDS if "y" in per[label][s]]
        if not ok:
            continue
        x = np.array(ok[0]["x"])
        y = np.array([o["y"] for o in ok])
        m = y.mean(axis=0)
        ax.plot(x, m, lw=1.4, label=f"{label} ({len(ok)} seeds)")
        if len(ok) > 1:
            ax.fill_between(x, y.min(axis=0), y.max(axis=0), alpha=0.2)
    ax.set_xlabel("iterations (batch 1)")
    ax.set_ylabel("test BCE per pixel (1,000 images)")
    ax.set_ylim(0.28, 0.45)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title("784-256-100-256-784 autoencoder, Fashion-MNIST")
    fig.tight_layout()
    fig.savefig(out / "il-autoencoder-loss.png", dpi=120)
    plt.close(fig)

    x = data.load("fashion-mnist", n_test=8).x_test
    rows = [("input", x)]
    for label in ("il-prox", "il-sgd", "bp-adam", "bp-sgd-lr0.001"):
        run = runs / f"{label}-seed-0"
        if not (run / "checkpoint.npz").exists():
            continue
        cfg = json.loads((run / "run.json").read_text())["config"]
        params = {k: v for k, v in cfg["learner"].items() if k != "name"}
        learner = rate.make(cfg["learner"]["name"], seed=0, **params)
        learner.initialize()
        learner.load_state_dict(load_checkpoint(run / "checkpoint.npz")[0])
        rows.append((label, learner.reconstruct(x.astype(learner.dtype))))
    fig, axes = plt.subplots(len(rows), 8, figsize=(8, 1.1 * len(rows)))
    for r, (label, imgs) in enumerate(rows):
        for c in range(8):
            a = axes[r, c]
            a.imshow(imgs[c].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle("test images and their reconstructions after 10,000 iterations (seed 0)")
    fig.tight_layout()
    fig.savefig(out / "il-autoencoder-reconstructions.png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--figures", type=Path)
    args = ap.parse_args()
    per = {label: {s: read(args.runs, label, s) for s in SEEDS} for label in LEARNERS}
    out = {
        "L": {lab: {s: v.get("L") for s, v in d.items()} for lab, d in per.items()},
        "final_test_loss": {
            lab: {s: v.get("final_test_loss") for s, v in d.items()} for lab, d in per.items()
        },
        "diverged_at_step": {
            lab: {s: v.get("diverged_at_step") for s, v in d.items()} for lab, d in per.items()
        },
        "wall_s": {lab: {s: v.get("wall_s") for s, v in d.items()} for lab, d in per.items()},
        "A1_vs_bp_sgd": compare(per, "bp-sgd"),
        "A1_vs_bp_sgd_lr0.001": compare(per, "bp-sgd-lr0.001"),
        "A2_vs_bp_adam": compare(per, "bp-adam"),
        "il_sgd_vs_bp_adam": compare(per, "bp-adam", "il-sgd"),
    }
    a1 = out["A1_vs_bp_sgd"]
    out["A1_met"] = a1["significant"] if a1["computable"] else None
    out["A2_met"] = out["A2_vs_bp_adam"].get("positive_every_seed")
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if args.figures:
        figures(args.runs, per, args.figures)


if __name__ == "__main__":
    main()
