"""The rate learners on the training driver: :class:`RateStepper`.

One step is one minibatch. The order of epoch ``e`` is
``default_rng([seed, e]).permutation(n_train)``, so the checkpoint needs only the
learner's state and the position, and a resumed run ends bit-identical to an uninterrupted
one. The learner's arrays are stored in the checkpoint as ``learner.<name>``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from spikesim.errors import DivergenceError, ValidationError
from spikesim.training import CHECKPOINT, Stepper, StepReport, read_checkpoint

_LEARNER_PREFIX = "learner."

__all__ = ["CHECKPOINT", "RateStepper", "epoch_order", "load_checkpoint"]


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool) -> np.ndarray:
    """Order of the training examples in epoch ``epoch``, shape ``(n,)``."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a rate run's checkpoint: ``(learner state_dict, position)``; the position is
    the checkpoint's metadata (``step``, ``samples_seen``, ``curve``, ...)."""
    cp = read_checkpoint(path)
    state = {
        k[len(_LEARNER_PREFIX) :]: v for k, v in cp.arrays.items() if k.startswith(_LEARNER_PREFIX)
    }
    return state, cp.meta


def _accuracy(learner, x: np.ndarray, y: np.ndarray, chunk: int = 10_000) -> float | None:
    if len(y) == 0:
        return None
    correct = 0
    for i in range(0, len(y), chunk):
        correct += int(np.sum(learner.predict(x[i : i + chunk]) == y[i : i + chunk]))
    return correct / len(y)


def _reconstruction_loss(learner, x: np.ndarray, chunk: int = 10_000) -> float | None:
    """Per-pixel mean reconstruction loss over ``x`` (in chunks)."""
    if len(x) == 0:
        return None
    total = 0.0
    for i in range(0, len(x), chunk):
        part = x[i : i + chunk]
        total += learner.reconstruction_loss(part) * len(part)
    return total / len(x)


class RateStepper(Stepper):
    """Minibatch training of a rate learner (:mod:`spikesim.rate`).

    Parameters
    ----------
    learner : RateLearner
        Constructed; its ``sizes`` must fit the dataset.
    dataset : spikesim.data.Dataset
    epochs : int
        Passes over the training set (ignored when ``max_iterations > 0``).
    batch_size : int
        Examples per step (the last minibatch of an epoch may be smaller).
    seed : int
        Seed of the example order.
    shuffle : bool
    max_iterations : int
        If positive, exactly this many steps, cycling through epochs.
    eval_n_test : int
        Test examples of the intermediate evaluations (0: all); the final one uses all.
        An autoencoder (a learner with ``reconstructs`` and ``target = "input"``) is
        evaluated by its per-pixel reconstruction loss (``test_loss``; final also
        ``train_reconstruction_loss``) instead of accuracies.
    train_error_n : int
        Training examples of the final training error (0: all).
    """

    unit = "step"

    def __init__(
        self,
        learner,
        dataset,
        *,
        epochs: int = 1,
        batch_size: int = 20,
        seed: int = 0,
        shuffle: bool = True,
        max_iterations: int = 0,
        eval_n_test: int = 0,
        train_error_n: int = 0,
    ):
        sizes = tuple(learner.sizes)
        #: an autoencoder: the learner reproduces its input (``target = "input"``)
        self.reconstructs = type(learner).reconstructs and learner.target == "input"
        if self.reconstructs:
            if sizes[0] != dataset.n_features or sizes[-1] != dataset.n_features:
                raise ValidationError(
                    f"learner sizes {list(sizes)} do not fit dataset {dataset.name!r} as an "
                    f"autoencoder: it needs {dataset.n_features} inputs and as many outputs"
                )
        elif sizes[0] != dataset.n_features or sizes[-1] != dataset.n_classes:
            raise ValidationError(
                f"learner sizes {list(sizes)} do not fit dataset {dataset.name!r}: it needs "
                f"{dataset.n_features} inputs and {dataset.n_classes} outputs"
            )
        self.learner, self.dataset = learner, dataset
        dt = np.dtype(learner.dtype)
        self.x_train = np.ascontiguousarray(dataset.x_train, dtype=dt)
        self.y_train = np.asarray(dataset.y_train, dtype=np.int64)
        self.x_test = np.ascontiguousarray(dataset.x_test, dtype=dt)
        self.y_test = np.asarray(dataset.y_test, dtype=np.int64)
        self.n = len(self.y_train)
        if self.n == 0:
            raise ValidationError(f"dataset {dataset.name!r} has no training examples")
        self.batch_size, self.seed, self.shuffle = int(batch_size), int(seed), bool(shuffle)
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self._total = max_iterations if max_iterations > 0 else epochs * self.steps_per_epoch
        self.n_eval = len(self.y_test) if eval_n_test == 0 else min(eval_n_test, len(self.y_test))
        self.train_error_n = int(train_error_n)
        self._step = self._seen = 0
        self._epoch_loss = [0.0, 0]  # sum, count of the epoch under way
        self._last_epoch_loss = np.nan
        self._order_epoch, self._order = -1, None

    @property
    def position(self) -> int:
        return self._step

    @property
    def total(self) -> int:
        return self._total

    @property
    def samples_seen(self) -> int:
        return self._seen

    def init(self) -> None:
        self.learner.initialize()

    def step(self) -> StepReport:
        epoch, within = divmod(self._step, self.steps_per_epoch)
        if epoch != self._order_epoch:
            self._order = epoch_order(self.n, epoch, self.seed, self.shuffle)
            self._order_epoch = epoch
        idx = self._order[within * self.batch_size : (within + 1) * self.batch_size]
        try:
            loss = self.learner.fit_batch(self.x_train[idx], self.y_train[idx], idx)
        except DivergenceError as exc:
            raise DivergenceError(
                f"{exc} [at step {self._step + 1}, epoch {epoch + 1}, after {self._seen} samples]",
                step=self._step + 1,
            ) from None
        self._step += 1
        self._seen += len(idx)
        self._epoch_loss[0] += loss * len(idx)
        self._epoch_loss[1] += len(idx)
        end = within == self.steps_per_epoch - 1
        if end:
            self._last_epoch_loss = self._epoch_loss[0] / self._epoch_loss[1]
            self._epoch_loss = [0.0, 0]
        return StepReport(samples=len(idx), stats={"train_loss": float(loss)}, epoch_end=end)

    def evaluate(self) -> dict[str, Any]:
        if self.reconstructs:
            return {
                "test_loss": _reconstruction_loss(self.learner, self.x_test[: self.n_eval]),
                "epoch": self._seen / self.n,
            }
        return {
            "test_accuracy": _accuracy(
                self.learner, self.x_test[: self.n_eval], self.y_test[: self.n_eval]
            ),
            "epoch": self._seen / self.n,
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {_LEARNER_PREFIX + k: v for k, v in self.learner.state_dict().items()}
        state.update(
            step=np.int64(self._step),
            samples_seen=np.int64(self._seen),
            epoch_loss=np.asarray(self._epoch_loss, np.float64),
            last_epoch_loss=np.float64(self._last_epoch_loss),
        )
        return state

    def load_state_dict(self, state) -> None:
        self.learner.load_state_dict(
            {
                k[len(_LEARNER_PREFIX) :]: v
                for k, v in state.items()
                if k.startswith(_LEARNER_PREFIX)
            }
        )
        self._step = int(state["step"])
        self._seen = int(state["samples_seen"])
        s, c = np.asarray(state["epoch_loss"]).tolist()
        self._epoch_loss = [float(s), int(c)]
        self._last_epoch_loss = float(state["last_epoch_loss"])

    def finalize(self, curve: list[dict], out_dir: Path | None) -> dict[str, Any]:
        lr = self.learner
        n_tr = self.n if self.train_error_n == 0 else min(self.train_error_n, self.n)
        if self._epoch_loss[1]:
            train_loss = self._epoch_loss[0] / self._epoch_loss[1]
        else:
            train_loss = self._last_epoch_loss
        details = {"learner": lr.name, "dataset": self.dataset.name, "params": lr.get_params()}
        if self.reconstructs:
            final = {
                "test_loss": _reconstruction_loss(lr, self.x_test),
                "train_reconstruction_loss": _reconstruction_loss(lr, self.x_train[:n_tr]),
                "train_loss": train_loss,
                "epochs": self._seen / self.n,
                "n_parameters": lr.n_parameters(),
            }
            return {"final": final, "details": details}
        train_acc = _accuracy(lr, self.x_train[:n_tr], self.y_train[:n_tr])
        final = {
            "test_accuracy": _accuracy(lr, self.x_test, self.y_test),
            "train_error": 1.0 - train_acc,
            "train_loss": train_loss,
            "epochs": self._seen / self.n,
            "n_parameters": lr.n_parameters(),
        }
        return {"final": final, "details": details}
