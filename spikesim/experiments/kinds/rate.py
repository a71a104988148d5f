"""Kind ``rate``: train one rate learner (``spikesim.rate``) on a dataset.

Example::

    [experiment]
    kind = "rate"
    name = "fmnist-bp"
    seed = 0                     # seeds the learner, the split and the example order

    [task]
    dataset = "fashion-mnist"    # see spikesim.data.available()
    n_train = 0                  # 0: all
    n_test = 0

    [learner]
    name = "bp"                  # see spikesim.rate.available()
    sizes = [784, 500, 10]       # then any of the learner's constructor arguments
    learning_rate = 0.1

    [train]
    epochs = 15
    batch_size = 20

The keys of ``[learner]`` are the chosen learner's constructor arguments (its
hyperparameters): unknown keys are named, types are checked against the defaults, and the
resolved config lists every hyperparameter. ``seed`` comes from ``experiment.seed``.

Outputs (the run contract, ``docs/guide/file-formats.md``): ``results.json`` (``final``:
``test_accuracy``, ``train_error``, ``train_loss``, ``samples_seen``, ``wall_s``,
``n_parameters``; ``curve``: one point per evaluation; ``details``: learner, dataset,
hyperparameters; an autoencoder, ``learner.target = "input"``, reports the per-pixel
reconstruction loss ``test_loss`` and ``train_reconstruction_loss`` instead of
``test_accuracy`` and ``train_error``), ``learning_curve.png``, ``checkpoint.npz`` (learner state as
``learner.<name>`` + position; ``--resume`` continues from it and ends identical to an
uninterrupted run; ``train.epochs`` / ``train.max_iterations`` may grow on resume).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import numpy as np

from spikesim.errors import ConfigError, ValidationError
from spikesim.experiments.config import Field, register_kind, type_phrase
from spikesim.experiments.runs import TrainingKind
from spikesim.experiments.task import load_task, task_table
from spikesim.experiments.train_rate import RateStepper
from spikesim.training import Schedule


def _positive(v) -> str | None:
    return None if v >= 1 else "must be >= 1"


def _non_negative(v) -> str | None:
    return None if v >= 0 else "must be >= 0"


TASK = task_table()

TRAIN = {
    "epochs": Field(int, 1, check=_positive, doc="passes over the training set"),
    "batch_size": Field(int, 20, check=_positive, doc="examples per learning step"),
    "shuffle": Field(bool, True, doc="shuffle the examples every epoch (seeded)"),
    "max_iterations": Field(
        int, 0, check=_non_negative, doc="if > 0: exactly this many steps (online runs)"
    ),
    "eval_every": Field(
        int, 0, check=_non_negative, doc="evaluate every n training samples (0: each epoch)"
    ),
    "eval_n_test": Field(
        int, 0, check=_non_negative, doc="test examples for intermediate evaluations (0: all)"
    ),
    "checkpoint_every": Field(
        int, 0, check=_non_negative, doc="checkpoint every n samples (0: each epoch)"
    ),
    "train_error_n": Field(
        int, 0, check=_non_negative, doc="training examples for the final train error (0: all)"
    ),
    "blas_threads": Field(
        int,
        1,
        check=_non_negative,
        doc="BLAS threads while training (0: the library's default). Minibatch-sized matrix "
        "products run fastest on one thread; several threads can make them many times slower "
        "(docs/guide/benchmarks.md)",
    ),
}


def _learner_class(name: Any, where: str):
    from spikesim import rate

    names = rate.available()
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name must be a string, got {name!r}")
    if name not in names:
        raise ConfigError(f"{where}.name = {name!r} is not one of {', '.join(names)}")
    return rate.REGISTRY[name]


def _value_ok(value: Any, default: Any, annotation: str = "") -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and annotation.replace(" ", "").startswith("float|"):
        return True  # e.g. EP's learning_rate: one number or one per layer
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        integral = isinstance(value, float) and value.is_integer()
        return (isinstance(value, int) and not isinstance(value, bool)) or integral
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list | tuple):
        return isinstance(value, list | tuple)
    return True


def _json_default(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def learner_table(table: Any, where: str = "learner") -> dict:
    """Validate a ``[learner]`` table against the chosen learner's constructor.

    Returns ``{"name": ..., <every hyperparameter>: value}`` with defaults filled in
    (``seed`` excluded: it is ``experiment.seed``).

    Raises
    ------
    ConfigError
        Unknown learner, unknown key (the learner's keys are listed), wrong type.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table, got {type(table).__name__}")
    if "name" not in table:
        raise ConfigError(f"missing required key {where}.name (a rate learner)")
    cls = _learner_class(table["name"], where)
    sig = inspect.signature(cls.__init__)
    params = {k: p.default for k, p in sig.parameters.items() if k not in ("self", "seed")}
    annotations = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {"name": table["name"]}
    for key, value in table.items():
        if key == "name":
            continue
        if key == "seed":
            raise ConfigError(f"{where}.seed is not allowed: the seed is experiment.seed")
        if key not in params:
            raise ConfigError(
                f"unknown key {where}.{key} for learner {table['name']!r} "
                f"(known keys: {', '.join(['name', *sorted(params)])})"
            )
        default = params[key]
        if not _value_ok(value, default, annotations.get(key, "")):
            want = type_phrase(type(default) if not isinstance(default, tuple) else list)
            raise ConfigError(
                f"{where}.{key} must be {want} (like the default {_json_default(default)!r}), "
                f"got {value!r} ({type(value).__name__})"
            )
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        if type(default) is int and isinstance(value, float):
            value = int(value)  # an integral float (TOML's 1e3), checked above
        out[key] = value
    for key, default in params.items():
        if key not in out:
            if default is inspect.Parameter.empty:
                raise ConfigError(f"missing required key {where}.{key}")
            out[key] = _json_default(default)
    _check_hyperparameters(cls, out, where)
    return out


def _check_hyperparameters(cls, table: dict, where: str) -> None:
    """Let the learner check its hyperparameter values now (its ``initialize``), so a bad
    value is a ConfigError at load time that names the key (``learner.optimizer``)."""
    import re

    from spikesim.errors import ValidationError

    params = {k: v for k, v in table.items() if k != "name"}
    try:
        cls(seed=0, **params).initialize()
    except ValidationError as exc:
        msg = str(exc)
        m = re.match(rf"{re.escape(cls.name)}: (\w+)\b(.*)", msg, re.S)
        if m and m.group(1) in table:
            raise ConfigError(f"{where}.{m.group(1)}{m.group(2)}") from None
        raise ConfigError(f"{where} ({table['name']!r}): {msg}") from None
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. sizes = ["a"]
        raise ConfigError(
            f"{where} ({table['name']!r}): the learner refuses these hyperparameters: {exc}"
        ) from None


def build(config: dict):
    """``(learner, dataset)`` of a resolved ``rate`` config."""
    from spikesim import rate

    seed = config["experiment"]["seed"]
    params = {k: v for k, v in config["learner"].items() if k != "name"}
    learner = rate.make(config["learner"]["name"], seed=seed, **params)
    reconstruct = type(learner).reconstructs and learner.target == "input"
    ds = load_task(
        config["task"],
        seed=seed,
        sizes=learner.sizes,
        sizes_key="learner.sizes",
        reconstruct=reconstruct,
    )
    return learner, ds


@contextlib.contextmanager
def blas_threads(n: int):
    """Limit the BLAS libraries (OpenBLAS, MKL) to ``n`` threads inside the block.

    ``n = 0`` leaves the library's default. Uses ``threadpoolctl``, so the limit applies to
    the BLAS numpy is linked against, whatever environment variables were set.
    """
    if n <= 0:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


class _BlasLimitedStepper(RateStepper):
    """:class:`RateStepper` that trains under the BLAS thread limit ``train.blas_threads``."""

    def __init__(self, learner, ds, config: dict):
        tr = config["train"]
        try:
            super().__init__(
                learner,
                ds,
                epochs=tr["epochs"],
                batch_size=tr["batch_size"],
                seed=config["experiment"]["seed"],
                shuffle=tr["shuffle"],
                max_iterations=tr["max_iterations"],
                eval_n_test=tr["eval_n_test"],
                train_error_n=tr["train_error_n"],
            )
        except ValidationError as exc:
            raise ConfigError(f"learner.sizes: {exc}") from None
        self.threads = tr["blas_threads"]

    def session(self):
        return blas_threads(self.threads)


def stepper(config: dict) -> RateStepper:
    """The :class:`~spikesim.experiments.train_rate.RateStepper` of a resolved config."""
    learner, ds = build(config)
    return _BlasLimitedStepper(learner, ds, config)


def _schedule(config: dict) -> Schedule:
    tr = config["train"]
    return Schedule(eval_every=tr["eval_every"], checkpoint_every=tr["checkpoint_every"])


def plot(run, out_dir: Path) -> list[Path]:
    """``learning_curve.png``: test accuracy (an autoencoder: test reconstruction loss)
    against samples seen."""
    from spikesim.io import save_figure
    from spikesim.plots import learning_curves

    curve = run.curve
    if curve and "test_loss" in curve[0]:
        ax = learning_curves(
            {
                run.config["learner"]["name"]: (
                    [c["samples_seen"] for c in curve],
                    [np.nan if c["test_loss"] is None else c["test_loss"] for c in curve],
                )
            },
            title=f"{run.config['experiment']['name']} ({run.details.get('dataset', '')})",
            ylabel="test reconstruction loss (per pixel)",
        )
        return [save_figure(ax.figure, Path(out_dir) / "learning_curve.png")]
    ax = learning_curves(
        {
            run.config["learner"]["name"]: (
                [c["samples_seen"] for c in curve],
                [np.nan if c["test_accuracy"] is None else c["test_accuracy"] for c in curve],
            )
        },
        title=f"{run.config['experiment']['name']} ({run.details.get('dataset', '')})",
        chance=1.0 / run.config["learner"]["sizes"][-1],
    )
    return [save_figure(ax.figure, Path(out_dir) / "learning_curve.png")]


KIND = register_kind(
    TrainingKind(
        name="rate",
        tables={"task": TASK, "learner": learner_table, "train": TRAIN},
        doc=__doc__ or "",
        stepper=stepper,
        schedule=_schedule,
        plot=plot,
        budget_keys=("train.epochs", "train.max_iterations"),
    )
)

__all__ = ["KIND", "build", "learner_table", "plot", "stepper"]
