"""The abstract zero-order dynamics on scikit-learn digits (ANCHORS "Abstract zero-order"),
on the one training driver.

Signed-weight MLP 64-32-10 (:class:`~spikesim.zeroorder.mlp.SignedMLP`), one sample per
update, 80/20 split, ``A = 0.3``, ``learning_rate = 0.02`` (``alpha`` of SH eq. 4.5). Rules:

* ``previous``: SH eq. (4.5), baseline = previous update's perturbed loss;
* ``ema``: baseline = moving average of the perturbed loss (rate 0.01);
* ``ck4``: Christensen-Kallsen, 4 updates per sample, ``A_4 = A / 2``;
* ``sgd``: backpropagation SGD on ``theta`` with the zero-order rule's mean step,
  ``learning_rate * drift_constant(A)`` (what SH Theorem 1 says the rule does on average).

``steps`` counts parameter updates (for ``ck4`` four per sample, plus one priming loss
evaluation per sample). Each rule is one run of :func:`spikesim.training.train`; with
``out_dir`` every rule gets its own folder ``out_dir/<rule>`` with the driver's
checkpoint and ``results.json`` (``resume=True`` continues interrupted rules).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spikesim.errors import ValidationError
from spikesim.experiments.kinds.zeroorder import PathStepper
from spikesim.training import Schedule, config_hash, train
from spikesim.zeroorder.core import drift_constant
from spikesim.zeroorder.dynamics import SGD, SGDPath, ZeroOrder, ZeroOrderPath
from spikesim.zeroorder.mlp import SignedMLP, load_digits_split

__all__ = ["RULES", "DigitsStepper", "digits_experiment", "digits_figure"]

RULES = ("previous", "ema", "ck4", "sgd")


def _path(rule: str, A: float, learning_rate: float, seed: int, model, theta0, data):
    if rule == "previous":
        return ZeroOrderPath(
            ZeroOrder(A=A, learning_rate=learning_rate, baseline="previous", seed=seed),
            model,
            theta0,
            data,
        )
    if rule == "ema":
        opt = ZeroOrder(A=A, learning_rate=learning_rate, baseline="ema", ema_rate=0.01, seed=seed)
        return ZeroOrderPath(opt, model, theta0, data)
    if rule == "ck4":
        return ZeroOrderPath(
            ZeroOrder(A=A, learning_rate=learning_rate, presentations=4, seed=seed),
            model,
            theta0,
            data,
        )
    if rule == "sgd":
        return SGDPath(
            SGD(learning_rate=learning_rate * drift_constant(A), seed=seed), model, theta0, data
        )
    raise ValidationError(f"unknown rule {rule!r}; choose among {', '.join(RULES)}")


class DigitsStepper(PathStepper):
    """One rule of the digits experiment (:class:`PathStepper`); evaluations report test
    and train accuracy."""

    def __init__(self, path, model, split, steps: int):
        self.path, self.model, self._total = path, model, int(steps)
        self.X_train, self.y_train, self.X_test, self.y_test = split
        self.diverged_at = None

    def evaluate(self) -> dict:
        theta = self.path.theta[0]
        return {
            "test_accuracy": self.model.accuracy(theta, self.X_test, self.y_test),
            "train_accuracy": self.model.accuracy(theta, self.X_train, self.y_train),
        }

    def finalize(self, curve: list[dict], out_dir: Path | None) -> dict:
        final = {k: curve[-1][k] for k in ("test_accuracy", "train_accuracy")}
        if self.diverged_at is not None:
            final["diverged_at"] = self.diverged_at
        return {"final": final}


def digits_experiment(
    *,
    rules=RULES,
    steps: int = 400_000,
    A: float = 0.3,
    learning_rate: float = 0.02,
    eval_every: int = 20_000,
    sizes=(64, 32, 10),
    seed: int = 0,
    out_dir: str | Path | None = None,
    resume: bool = False,
) -> dict:
    """Train one network per rule from the same start; test accuracy every ``eval_every``.

    A run that diverges keeps its curve up to that point and reports ``diverged_at``.

    Parameters
    ----------
    rules : sequence of str
        Rules to run, from :data:`RULES`.
    steps : int
        Parameter updates per rule.
    A : float
        Perturbation amplitude of SH eq. (4.5).
    learning_rate : float
        ``alpha`` of SH eq. (4.5); ``sgd`` steps by ``learning_rate * drift_constant(A)``.
    eval_every : int
        Updates between evaluations.
    sizes : sequence of int
        Layer widths of the signed MLP, input first.
    seed : int
        Seeds the split, the network and the rules.
    out_dir : str or Path, optional
        Folder for the per-rule checkpoints and results.
    resume : bool
        Continue interrupted rules from ``out_dir``.

    Returns
    -------
    dict
        The settings and ``runs``: per rule ``rule``, ``steps``, ``test_accuracy``,
        ``train_accuracy`` (one entry per evaluation), ``diverged_at``, ``seconds``, and
        ``curve`` (the driver's records).
    """
    X_train, y_train, X_test, y_test = split = load_digits_split(seed)
    model = SignedMLP(sizes, seed=seed)
    theta0 = model.init(seed)
    data = (X_train, y_train)
    paths = {rule: _path(rule, A, learning_rate, seed, model, theta0, data) for rule in rules}
    settings = {
        "sizes": list(sizes),
        "A": A,
        "learning_rate": learning_rate,
        "steps": steps,
        "seed": seed,
    }
    runs = []
    for rule, path in paths.items():
        stepper = DigitsStepper(path, model, split, steps)
        t0 = time.perf_counter()
        res = train(
            stepper,
            Schedule(eval_every=eval_every),
            out_dir=None if out_dir is None else Path(out_dir) / rule,
            kind="digits",
            config_hash=config_hash(
                {"digits": {**settings, "rule": rule}}, exclude=("digits.steps",)
            ),
            name=f"digits {rule}",
            resume=resume,
        )
        curve = res["curve"]
        runs.append(
            {
                "rule": rule,
                "steps": [p["step"] for p in curve],
                "test_accuracy": [p["test_accuracy"] for p in curve],
                "train_accuracy": [p["train_accuracy"] for p in curve],
                "diverged_at": stepper.diverged_at,
                "seconds": time.perf_counter() - t0,
                "curve": curve,
            }
        )
    return {
        "experiment": "digits",
        **settings,
        "n_train": len(y_train),
        "n_test": len(y_test),
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
        f"digits {'-'.join(map(str, result['sizes']))}, A={result['A']}, "
        f"learning_rate={result['learning_rate']}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
