"""Kind ``zeroorder``: the abstract zero-order dynamics on a classification dataset.

Runs :class:`spikesim.zeroorder.ZeroOrder` (Schmidt-Hieber eq. 4.5; with
``presentations > 1`` the Christensen-Kallsen variant, CK eq. 3.1) or, as a reference,
:class:`spikesim.zeroorder.SGD` on the loss of a signed-weight tanh MLP
(:class:`spikesim.zeroorder.mlp.SignedMLP`: ``w = sign * exp(theta)``, no biases, linear
output, ``scale * sum_k (f_k(x) - 1[k = y])^2``), one training sample per update.

Example::

    [experiment]
    kind = "zeroorder"
    name = "digits-zeroorder"
    seed = 0                 # seeds the split, the weight signs, theta0, perturbations, order

    [task]
    dataset = "digits"       # see spikesim.data.available()

    [model]
    sizes = [64, 100, 10]    # input first, no biases (d = sum of n_in * n_out)

    [rule]
    method = "zero-order"    # or "sgd": backprop SGD with the rule's mean step
    A = 0.3                  # perturbation amplitude
    learning_rate = 0.02     # alpha of SH eq. 4.5
    baseline = "previous"    # SH eq. 4.5; "ema", "per-sample", "zero"
    presentations = 1        # > 1: Christensen-Kallsen (baseline "previous" only)

    [train]
    steps = 200000           # parameter updates
    eval_every = 20000
    shuffle = true           # a fresh random sample order every epoch

``samples_seen`` counts parameter updates: one loss evaluation on one training sample
each, like one trial of the spiking network (with CK presentations ``n``, every sample is
used for ``n`` consecutive updates and primed by one extra evaluation, counted in
``loss_evaluations``). ``wall_s`` is training time without evaluations. A run that
diverges (:class:`~spikesim.errors.DivergenceError`) keeps its curve up to the last
evaluation; ``final`` then reports that evaluation and ``diverged_at`` (the update).
There is no checkpoint: ``--resume`` reruns from the start (runs take seconds to minutes).

Outputs: ``results.json`` (``final``: ``test_accuracy``, ``test_loss``, ``train_accuracy``,
``samples_seen``, ``wall_s``, ``n_parameters``, ...; ``curve``: one dict per evaluation),
``learning_curve.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spikesim.errors import ConfigError, ValidationError
from spikesim.experiments.config import Field, Kind, register_kind
from spikesim.experiments.task import load_task, task_table

__all__ = ["KIND", "TABLES", "build", "run"]


def _positive(v) -> str | None:
    return None if v > 0 else "must be > 0"


def _non_negative(v) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _sizes(v) -> str | None:
    if len(v) < 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v):
        return "must list at least two positive integer layer widths"
    return None


TABLES = {
    "task": task_table("digits"),
    "model": {
        "sizes": Field(list, [64, 100, 10], check=_sizes, doc="layer widths, input first"),
        "scale": Field(float, 0.2, check=_positive, doc="factor of the summed squared error"),
        "init_spread": Field(
            float, 0.1, check=_non_negative, doc="std of log-weights around -log(fan_in)/2"
        ),
    },
    "rule": {
        "method": Field(
            str,
            "zero-order",
            choices=("zero-order", "sgd"),
            doc="zero-order dynamics, or backprop SGD with step learning_rate * drift_constant(A)",
        ),
        "A": Field(float, 0.3, check=_positive, doc="perturbation amplitude (STDP time units)"),
        "learning_rate": Field(
            float, 0.02, check=_positive, doc="learning rate (alpha of SH eq. 4.5)"
        ),
        "baseline": Field(
            str,
            "previous",
            choices=("previous", "ema", "per-sample", "zero"),
            doc="b_k: previous perturbed loss (SH eq. 4.5), moving average, per sample, none",
        ),
        "presentations": Field(int, 1, check=_positive, doc="updates per sample (> 1: CK)"),
        "ema_rate": Field(
            float,
            0.01,
            check=lambda v: None if 0 < v <= 1 else "must be in (0, 1]",
            doc="rate of the ema baseline",
        ),
        "theta_limit": Field(float, 1e6, check=_positive, doc="max |theta| before divergence"),
    },
    "train": {
        "steps": Field(int, 100_000, check=_positive, doc="parameter updates"),
        "eval_every": Field(int, 10_000, check=_positive, doc="updates between evaluations"),
        "shuffle": Field(bool, True, doc="a fresh random sample order every epoch (seeded)"),
        "eval_n_test": Field(
            int, 0, check=_non_negative, doc="test examples for intermediate evaluations (0: all)"
        ),
        "train_accuracy_n": Field(
            int, 0, check=_non_negative, doc="training examples for the final train accuracy"
        ),
    },
}


def build(config: dict):
    """``(model, theta0, dataset, optimizer)`` of a resolved ``zeroorder`` config."""
    from spikesim.zeroorder import SGD, ZeroOrder, drift_constant
    from spikesim.zeroorder.mlp import SignedMLP

    seed = config["experiment"]["seed"]
    task, mc, rc = config["task"], config["model"], config["rule"]
    sizes = list(mc["sizes"])
    ds = load_task(task, seed=seed, sizes=sizes, sizes_key="model.sizes")
    try:
        model = SignedMLP(sizes, seed=seed, scale=mc["scale"])
        theta0 = model.init(seed, spread=mc["init_spread"])
        if rc["method"] == "sgd":
            opt = SGD(
                lr=rc["learning_rate"] * drift_constant(rc["A"]),
                shuffle=config["train"]["shuffle"],
                seed=seed,
                theta_limit=rc["theta_limit"],
            )
        else:
            opt = ZeroOrder(
                A=rc["A"],
                alpha=rc["learning_rate"],
                baseline=rc["baseline"],
                presentations=rc["presentations"],
                ema_rate=rc["ema_rate"],
                theta_limit=rc["theta_limit"],
                shuffle=config["train"]["shuffle"],
                seed=seed,
            )
    except ValidationError as exc:
        raise ConfigError(f"rule: {exc}") from None
    return model, theta0, ds, opt


def _validate(config: dict) -> None:
    rc = config["rule"]
    if rc["presentations"] > 1 and rc["baseline"] != "previous":
        raise ConfigError(
            f"rule.presentations = {rc['presentations']} (Christensen-Kallsen) needs "
            f"rule.baseline = 'previous', got {rc['baseline']!r}"
        )


def _test_loss(model, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Mean over examples of ``scale * sum_k (f_k(x) - 1[k = y])^2``."""
    out = model.outputs(theta, x)
    target = np.eye(out.shape[1])[y]
    return float(model.scale * np.mean(np.sum((out - target) ** 2, axis=1)))


def run(config: dict, out_dir: Path, resume: bool) -> dict:
    """Train and evaluate (the ``zeroorder`` kind); ``resume`` reruns from the start."""
    from spikesim.errors import DivergenceError
    from spikesim.io import save_figure, write_json
    from spikesim.plots import learning_curves

    out_dir = Path(out_dir)
    model, theta0, ds, opt = build(config)
    tr, rc = config["train"], config["rule"]
    n_eval = tr["eval_n_test"] or None
    x_eval, y_eval = ds.x_test[:n_eval], ds.y_test[:n_eval]
    curve: list[dict] = []
    clock = {"train": 0.0, "since": 0.0}
    state = {"theta": np.asarray(theta0, float)}

    def monitor(step, theta):
        now = time.perf_counter()
        if step > 0:
            clock["train"] += now - clock["since"]
        state["theta"] = np.array(theta, dtype=float)
        curve.append(
            {
                "samples_seen": int(step),
                "step": int(step),
                "wall_s": clock["train"],
                "test_accuracy": model.accuracy(theta, x_eval, y_eval),
                "test_loss": _test_loss(model, theta, x_eval, y_eval),
            }
        )
        clock["since"] = time.perf_counter()

    diverged = None
    n_evaluations = None
    clock["since"] = time.perf_counter()
    try:
        traj = opt.run(
            model,
            theta0,
            (ds.x_train, ds.y_train),
            tr["steps"],
            monitor=monitor,
            monitor_every=tr["eval_every"],
            **({"progress": True} if rc["method"] == "zero-order" else {}),
        )
        theta = traj.theta
        n_evaluations = traj.n_evaluations
    except DivergenceError as exc:
        diverged = exc.step
        theta = state["theta"]
    last = curve[-1]
    n_tr = tr["train_accuracy_n"] or None
    final = {
        "test_accuracy": model.accuracy(theta, ds.x_test, ds.y_test),
        "test_loss": _test_loss(model, theta, ds.x_test, ds.y_test),
        "train_accuracy": model.accuracy(theta, ds.x_train[:n_tr], ds.y_train[:n_tr]),
        "samples_seen": last["samples_seen"],
        "wall_s": last["wall_s"],
        "n_parameters": int(model.dim),
        "steps": last["step"],
        "samples_per_s": last["samples_seen"] / last["wall_s"] if last["wall_s"] > 0 else None,
    }
    if n_evaluations is not None:
        final["loss_evaluations"] = int(n_evaluations)
    if diverged is not None:
        final["diverged_at"] = int(diverged)
    results = {
        "experiment": config["experiment"]["name"],
        "kind": "zeroorder",
        "dataset": ds.name,
        "seed": config["experiment"]["seed"],
        "method": rc["method"],
        "final": final,
        "curve": curve,
    }
    write_json(out_dir / "results.json", results)
    ax = learning_curves(
        {
            f"{rc['method']} ({rc['baseline']})": (
                [c["samples_seen"] for c in curve],
                [c["test_accuracy"] for c in curve],
            )
        },
        xlabel="updates",
        title=f"{config['experiment']['name']} ({ds.name})",
        chance=1.0 / ds.n_classes,
    )
    save_figure(ax.figure, out_dir / "learning_curve.png")
    return results


KIND = register_kind(
    Kind(
        name="zeroorder",
        tables=TABLES,
        run=run,
        doc=__doc__ or "",
        validate=_validate,
    )
)
