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
diverges stops with :class:`~spikesim.errors.DivergenceError` naming the update (the last
checkpoint is kept), as every kind does.

Outputs (the run contract, ``docs/guide/file-formats.md``): ``results.json`` (``final``:
``test_accuracy``, ``test_loss``, ``train_accuracy``, ``samples_seen``, ``wall_s``,
``n_parameters``, ...; ``curve``: one record per evaluation), ``checkpoint.npz`` (at every
evaluation: parameters, random generators, sample order, baseline; ``--resume`` continues
bit-identically, ``train.steps`` may grow), ``learning_curve.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikesim.errors import ConfigError, DivergenceError, ValidationError
from spikesim.experiments.config import Field, register_kind
from spikesim.experiments.runs import TrainingKind
from spikesim.experiments.task import load_task, task_table
from spikesim.training import Schedule, Stepper, StepReport

__all__ = ["KIND", "TABLES", "ZeroOrderStepper", "build", "plot"]


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
                learning_rate=rc["learning_rate"] * drift_constant(rc["A"]),
                shuffle=config["train"]["shuffle"],
                seed=seed,
                theta_limit=rc["theta_limit"],
            )
        else:
            opt = ZeroOrder(
                A=rc["A"],
                learning_rate=rc["learning_rate"],
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


class PathStepper(Stepper):
    """A stepper over a zero-order or SGD path (:class:`~spikesim.zeroorder.dynamics.ZeroOrderPath`,
    ``SGDPath``): one step is one parameter update. A divergence ends the run at the last
    evaluation (``diverged_at``), not with an error, when :attr:`divergence_is_result`
    (the rule comparison of :mod:`spikesim.experiments.digits`: a diverging learning rate
    is a result there); otherwise the run stops with DivergenceError naming the update.

    Subclasses set ``path`` (started by :meth:`init`), ``_total`` and ``diverged_at = None``
    and write :meth:`evaluate` and :meth:`finalize`.
    """

    unit = "update"
    #: A divergence ends the run quietly at the last evaluation (True) or is an error.
    divergence_is_result: bool = True

    @property
    def position(self) -> int:
        return int(self.path.k)

    @property
    def total(self) -> int:
        return int(self._total)

    @property
    def samples_seen(self) -> int:
        return int(self.path.k)

    def init(self) -> None:
        self.path.start()

    def step(self) -> StepReport:
        try:
            self.path.advance()
        except DivergenceError as exc:
            if not self.divergence_is_result:
                raise DivergenceError(
                    f"training diverged at update {exc.step} ({exc}); try a smaller "
                    "rule.learning_rate",
                    step=exc.step,
                ) from None
            self.diverged_at = int(exc.step)
            return StepReport(samples=1, stop=True)
        return StepReport(samples=1)

    def state_dict(self) -> dict:
        return self.path.state_dict()

    def load_state_dict(self, state) -> None:
        self.path.start()
        self.path.load_state_dict(state)


class ZeroOrderStepper(PathStepper):
    """The ``zeroorder`` kind on the driver (:class:`PathStepper`); evaluations on
    ``train.eval_n_test`` test examples, the final figures on all of them. A divergence is
    an error (exit 1 on the command line), as in every kind."""

    divergence_is_result = False

    def __init__(self, config: dict):
        from spikesim.zeroorder.dynamics import SGDPath, ZeroOrderPath

        self.config = config
        self.model, theta0, self.ds, opt = build(config)
        tr = config["train"]
        self._total = tr["steps"]
        n_eval = tr["eval_n_test"] or None
        self.x_eval, self.y_eval = self.ds.x_test[:n_eval], self.ds.y_test[:n_eval]
        make = SGDPath if config["rule"]["method"] == "sgd" else ZeroOrderPath
        self.path = make(opt, self.model, theta0, (self.ds.x_train, self.ds.y_train))
        self.theta_eval = np.asarray(theta0, float)
        self.diverged_at = None

    def evaluate(self) -> dict:
        theta = self.path.theta[0]
        self.theta_eval = theta.copy()
        return {
            "test_accuracy": self.model.accuracy(theta, self.x_eval, self.y_eval),
            "test_loss": _test_loss(self.model, theta, self.x_eval, self.y_eval),
        }

    def state_dict(self) -> dict:
        return {**super().state_dict(), "theta_eval": self.theta_eval.copy()}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.theta_eval = np.array(state["theta_eval"], dtype=float)

    def finalize(self, curve: list[dict], out_dir: Path | None) -> dict:
        model, ds = self.model, self.ds
        theta = self.theta_eval if self.diverged_at is not None else self.path.theta[0]
        n_tr = self.config["train"]["train_accuracy_n"] or None
        final = {
            "test_accuracy": model.accuracy(theta, ds.x_test, ds.y_test),
            "test_loss": _test_loss(model, theta, ds.x_test, ds.y_test),
            "train_accuracy": model.accuracy(theta, ds.x_train[:n_tr], ds.y_train[:n_tr]),
            "n_parameters": int(model.dim),
        }
        if self.config["rule"]["method"] == "zero-order":
            final["loss_evaluations"] = int(self.path.n_evaluations)
        if self.diverged_at is not None:
            final["diverged_at"] = self.diverged_at
            final["samples_seen"] = curve[-1]["samples_seen"]
            final["steps"] = curve[-1]["step"]
        details = {"dataset": ds.name, "method": self.config["rule"]["method"]}
        return {"final": final, "details": details}


def plot(run, out_dir: Path) -> list[Path]:
    """``learning_curve.png``: test accuracy against updates."""
    from spikesim.io import save_figure
    from spikesim.plots import learning_curves

    rc = run.config["rule"]
    ax = learning_curves(
        {
            f"{rc['method']} ({rc['baseline']})": (
                [c["samples_seen"] for c in run.curve],
                [np.nan if c["test_accuracy"] is None else c["test_accuracy"] for c in run.curve],
            )
        },
        xlabel="updates",
        title=f"{run.config['experiment']['name']} ({run.details.get('dataset', '')})",
        chance=1.0 / run.config["model"]["sizes"][-1],
    )
    return [save_figure(ax.figure, Path(out_dir) / "learning_curve.png")]


def _schedule(config: dict) -> Schedule:
    return Schedule(eval_every=config["train"]["eval_every"], checkpoint_every=None)


KIND = register_kind(
    TrainingKind(
        name="zeroorder",
        tables=TABLES,
        doc=__doc__ or "",
        validate=_validate,
        stepper=ZeroOrderStepper,
        schedule=_schedule,
        plot=plot,
        budget_keys=("train.steps",),
    )
)
