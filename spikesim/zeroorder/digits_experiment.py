"""The abstract zero-order dynamics on scikit-learn digits (ANCHORS "Abstract zero-order").

Signed-weight MLP 64-32-10 (:class:`~spikesim.zeroorder.mlp.SignedMLP`), one sample per
update, 80/20 split, ``A = 0.3``, ``alpha = 0.02``. Rules:

* ``previous``: SH eq. (4.5), baseline = previous update's perturbed loss;
* ``ema``: baseline = moving average of the perturbed loss (rate 0.01);
* ``ck4``: Christensen-Kallsen, 4 updates per sample, ``A_4 = A / 2``;
* ``sgd``: backpropagation SGD on ``theta`` with the zero-order rule's mean step,
  ``lr = alpha * drift_constant(A)`` (what SH Theorem 1 says the rule does on average).

``steps`` counts parameter updates (for ``ck4`` four per sample, plus one priming loss
evaluation per sample).
"""

from __future__ import annotations

import time

import numpy as np

from spikesim.errors import DivergenceError, ValidationError
from spikesim.zeroorder.core import drift_constant
from spikesim.zeroorder.dynamics import SGD, ZeroOrder
from spikesim.zeroorder.mlp import SignedMLP, load_digits_split

__all__ = ["RULES", "digits_experiment", "digits_figure"]

RULES = ("previous", "ema", "ck4", "sgd")


def _optimizer(rule: str, A: float, alpha: float, seed: int):
    if rule == "previous":
        return ZeroOrder(A=A, alpha=alpha, baseline="previous", seed=seed)
    if rule == "ema":
        return ZeroOrder(A=A, alpha=alpha, baseline="ema", ema_rate=0.01, seed=seed)
    if rule == "ck4":
        return ZeroOrder(A=A, alpha=alpha, presentations=4, seed=seed)
    if rule == "sgd":
        return SGD(lr=alpha * drift_constant(A), seed=seed)
    raise ValidationError(f"unknown rule {rule!r}; choose among {', '.join(RULES)}")


def digits_experiment(
    *,
    rules=RULES,
    steps: int = 400_000,
    A: float = 0.3,
    alpha: float = 0.02,
    eval_every: int = 20_000,
    sizes=(64, 32, 10),
    seed: int = 0,
) -> dict:
    """Train one network per rule from the same start; test accuracy every ``eval_every``.

    A run that diverges (:class:`DivergenceError`) keeps its curve up to that point and
    reports ``diverged_at``.
    """
    for r in rules:
        _optimizer(r, A, alpha, seed)  # validate all names before the long work
    X_train, y_train, X_test, y_test = load_digits_split(seed)
    model = SignedMLP(sizes, seed=seed)
    theta0 = model.init(seed)
    runs = []
    for rule in rules:
        curve = {"steps": [], "test_accuracy": [], "train_accuracy": []}

        def monitor(step, theta, curve=curve):
            curve["steps"].append(step)
            curve["test_accuracy"].append(model.accuracy(theta, X_test, y_test))
            curve["train_accuracy"].append(model.accuracy(theta, X_train, y_train))

        t0 = time.perf_counter()
        diverged = None
        try:
            _optimizer(rule, A, alpha, seed).run(
                model, theta0, (X_train, y_train), steps, monitor=monitor, monitor_every=eval_every
            )
        except DivergenceError as exc:
            diverged = exc.step
        runs.append(
            {
                "rule": rule,
                **curve,
                "diverged_at": diverged,
                "seconds": time.perf_counter() - t0,
            }
        )
    return {
        "experiment": "digits",
        "sizes": list(sizes),
        "A": A,
        "alpha": alpha,
        "steps": steps,
        "n_train": len(y_train),
        "n_test": len(y_test),
        "seed": seed,
        "runs": runs,
    }


def digits_figure(result: dict):
    """Test accuracy against updates, one curve per rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for run in result["runs"]:
        label = run["rule"] + (f" (diverged at {run['diverged_at']})" if run["diverged_at"] else "")
        ax.plot(np.asarray(run["steps"]), run["test_accuracy"], "-", label=label)
    ax.set_xlabel("updates")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(
        f"digits {'-'.join(map(str, result['sizes']))}, A={result['A']}, alpha={result['alpha']}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
