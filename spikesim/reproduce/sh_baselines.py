"""SH baselines and CK presentations at equal trials (the plasticity guide's figure).

``spikesim reproduce sh-baselines --out docs/figures`` trains the
two-class spike-pattern task (20 inputs + bias -> 2 outputs, E/I pairs) with the
``previous`` baseline (SH eq. 4.1; equal to Christensen-Kallsen with n = 1), the ``ema``
baseline, and Christensen-Kallsen presentations n = 4 and n = 16 (baseline = previous
presentation of the same sample, CK eq. 3.1), for the same number of trials and several
seeds; it plots mean test accuracy against trials (``sh-baselines.png``) and writes the
numbers beside it (``sh-baselines.json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

VARIANTS = {
    "previous (SH; = CK n=1)": {"baseline": "previous", "presentations": 1},
    "ema": {"baseline": "ema", "presentations": 1},
    "per-sample": {"baseline": "per-sample", "presentations": 1},
    "CK n=4": {"baseline": "ema", "presentations": 4},
    "CK n=16": {"baseline": "ema", "presentations": 16},
}


def run_variant(
    *, baseline: str, presentations: int, seed: int, trials: int, every: int, learning_rate: float
):
    """Test accuracy every ``every`` trials; returns (steps, accuracies)."""
    from spikesim.plasticity.loss import one_hot_rates
    from spikesim.plasticity.tasks import ei_network, spike_pattern_task, with_bias
    from spikesim.plasticity.trainer import Trainer

    ds = spike_pattern_task(n_inputs=20, n_train=400, n_test=200, flip=0.15, seed=seed)
    net = ei_network([21, 2], w_exc=0.2, w_inh=0.1, seed=seed)
    tr = Trainer(
        net,
        with_bias(ds.x_train, 1),
        one_hot_rates(ds.y_train, 2, 60.0, 10.0),
        ds.y_train,
        learning_rate=learning_rate,
        baseline=baseline,
        beta=0.05,
        presentations=presentations,
        rate_scale=50.0,
        chunk=every,
        seed=seed,
    )
    test = (with_bias(ds.x_test, 1), one_hot_rates(ds.y_test, 2, 60.0, 10.0), ds.y_test)
    steps, acc = [0], [tr.evaluate(*test, repeats=2)["accuracy"]]
    while tr.step < trials:
        tr.train_chunk()
        steps.append(tr.step)
        acc.append(tr.evaluate(*test, repeats=2)["accuracy"])
    return np.asarray(steps), np.asarray(acc)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, default=32000, help="trials per run (default 32000)")
    parser.add_argument(
        "--every", type=int, default=2000, help="trials between evaluations (default 2000)"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant (default 3)")
    parser.add_argument(
        "--learning-rate", type=float, default=0.02, help="alpha of SH eq. 4.1 (default 0.02)"
    )


def run(args: argparse.Namespace) -> dict:
    """Train every variant for every seed; write the figure and the numbers to ``args.out``."""
    from spikesim import plots
    from spikesim.io import save_figure, write_json

    curves, numbers = {}, {}
    for label, kw in VARIANTS.items():
        runs = [
            run_variant(
                **kw, seed=s, trials=args.trials, every=args.every, learning_rate=args.learning_rate
            )
            for s in range(args.seeds)
        ]
        steps = runs[0][0]
        acc = np.mean([r[1] for r in runs], axis=0)
        curves[label] = (steps, acc)
        numbers[label] = {
            "steps": steps.tolist(),
            "mean_test_accuracy": acc.tolist(),
            "final_per_seed": [float(r[1][-1]) for r in runs],
            "mean_last_4": float(np.mean(acc[-4:])),
        }
    ax = plots.learning_curves(
        curves,
        xlabel="trials",
        chance=0.5,
        title=f"spike-pattern task, {args.seeds} seeds, learning rate {args.learning_rate}",
    )
    out = Path(args.out)
    save_figure(ax.figure, out / "sh-baselines.png")
    settings = {k: getattr(args, k) for k in ("trials", "every", "seeds", "learning_rate")}
    result = {"settings": settings, "results": numbers}
    write_json(out / "sh-baselines.json", result)
    summary = {
        f"{label}: final / mean of last 4 evaluations": f"{n['mean_test_accuracy'][-1]:.3f} / "
        f"{n['mean_last_4']:.3f}"
        for label, n in numbers.items()
    }
    return {**result, "summary": summary, "figure": str(out / "sh-baselines.png")}
