"""Kind ``toy``: a tiny deterministic run, for tests, examples and trying out sweeps.

It learns nothing. Each of ``toy.steps`` steps draws ``toy.n`` normal numbers from a
generator seeded by ``experiment.seed`` and the step number, scales them by
``toy.scale``, shifts them by ``toy.shift`` and accumulates their mean. It runs on the
training driver like every other kind: a checkpoint after every step, so a run resumed
with ``resume=True`` continues from the last finished step and ends with the same numbers
as an uninterrupted one. It runs in milliseconds (``toy.step_seconds`` makes each step
sleep, to have a run to interrupt), and its importable module lets Dask worker processes
run it too.

Example::

    [experiment]
    kind = "toy"
    seed = 0

    [toy]
    scale = 2.0
    n = 100
    steps = 3

Outputs: ``results.json`` (``final``: ``score``, ``test_loss``, ``samples_seen``;
``curve``: a point before the first step and one per step; ``resumed_from_step``),
``checkpoint.npz`` and, with ``toy.plots = true``,
``learning_curve.png``. Set ``toy.fail = true`` to make the run
raise (for testing failure handling).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spikesim.experiments.config import Field, register_kind
from spikesim.experiments.runs import TrainingKind
from spikesim.training import Schedule, Stepper, StepReport

TOY = {
    "scale": Field(
        float, 1.0, check=lambda v: None if v >= 0 else "must be >= 0", doc="scale (unitless)"
    ),
    "shift": Field(float, 0.0, doc="added to every number (unitless)"),
    "n": Field(int, 100, check=lambda v: None if v > 0 else "must be > 0", doc="numbers a step"),
    "steps": Field(int, 3, check=lambda v: None if v > 0 else "must be > 0", doc="steps"),
    "step_seconds": Field(
        float, 0.0, check=lambda v: None if v >= 0 else "must be >= 0", doc="sleep per step, s"
    ),
    "fail": Field(bool, False, doc="raise RuntimeError instead of finishing (for tests)"),
    "plots": Field(bool, False, doc="draw learning_curve.png after the run"),
}


def _step(seed: int, step: int, toy: dict) -> float:
    """Mean of ``n`` numbers ``shift + scale * z``, ``z ~ N(0, 1)`` seeded by (seed, step)."""
    rng = np.random.default_rng([seed, step])
    return float(toy["shift"] + toy["scale"] * rng.standard_normal(toy["n"]).mean())


class ToyStepper(Stepper):
    """The toy's state: the step count and the running total."""

    def __init__(self, config: dict):
        self.toy, self.seed = config["toy"], config["experiment"]["seed"]
        self.k, self.sum = 0, 0.0

    @property
    def position(self) -> int:
        return self.k

    @property
    def total(self) -> int:
        return self.toy["steps"]

    @property
    def samples_seen(self) -> int:
        return self.k * self.toy["n"]

    def init(self) -> None:
        self.k, self.sum = 0, 0.0

    def step(self) -> StepReport:
        if self.toy["fail"]:
            raise RuntimeError(f"toy run asked to fail (toy.fail = true) at step {self.k}")
        if self.toy["step_seconds"]:
            time.sleep(self.toy["step_seconds"])
        self.sum += _step(self.seed, self.k, self.toy)
        self.k += 1
        return StepReport(samples=self.toy["n"])

    def evaluate(self) -> dict:
        return {"test_loss": self.sum}

    def state_dict(self) -> dict:
        return {"total": np.float64(self.sum)}

    def load_state_dict(self, state) -> None:
        self.k, self.sum = int(state["step"]), float(state["total"])

    def finalize(self, curve: list[dict], out_dir: Path | None) -> dict:
        return {"final": {"score": self.sum / self.total, "test_loss": self.sum**2}}


def plot(run, out_dir: Path) -> list[Path]:
    """``learning_curve.png``: the running total against the step."""
    from spikesim.io import save_figure
    from spikesim.plots import learning_curves

    ax = learning_curves(
        {"total": ([p["step"] for p in run.curve], [p["test_loss"] for p in run.curve])},
        xlabel="step",
        ylabel="total",
        title=run.config["experiment"]["name"],
    )
    return [save_figure(ax.figure, Path(out_dir) / "learning_curve.png")]


KIND = register_kind(
    TrainingKind(
        name="toy",
        tables={"toy": TOY},
        doc=__doc__ or "",
        stepper=ToyStepper,
        schedule=lambda config: Schedule(eval_every=config["toy"]["n"], checkpoint_every=None),
        plot=plot,
        budget_keys=("toy.steps", "toy.step_seconds"),
        plots_key="toy.plots",
    )
)
__all__ = ["KIND", "ToyStepper", "plot"]
