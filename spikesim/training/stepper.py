"""The interface a kind implements to be trained by :func:`spikesim.training.train`."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Schedule", "StepReport", "Stepper"]


@dataclass(frozen=True)
class StepReport:
    """What one :meth:`Stepper.step` did.

    Attributes
    ----------
    samples : int
        Training samples (trials, examples, updates) this step consumed.
    stats : mapping of str to float
        Training statistics of this step (e.g. ``train_loss``); the driver averages them,
        weighted by ``samples``, over the steps since the previous evaluation and puts the
        averages in the next curve point.
    epoch_end : bool
        This step finished a pass over the training set (for ``every = 0`` schedules).
    stop : bool
        The run ends here (e.g. the zero-order dynamics diverged and the kind reports the
        last evaluation instead of failing); no further evaluation or checkpoint is made.
    """

    samples: int
    stats: Mapping[str, float] = field(default_factory=dict)
    epoch_end: bool = False
    stop: bool = False


@dataclass(frozen=True)
class Schedule:
    """When the driver evaluates and checkpoints, counted in training samples.

    Attributes
    ----------
    eval_every : int
        Evaluate when the sample count crosses a multiple of this (0: at every epoch end).
        The curve also has a point before training and one after the last step.
    checkpoint_every : int or None
        Checkpoint when the sample count crosses a multiple of this (0: every epoch end;
        None: at every evaluation). There is always one after the last step.
    """

    eval_every: int
    checkpoint_every: int | None = None


class Stepper(abc.ABC):
    """A kind's training, advanced one unit at a time by the driver.

    A unit is whatever the kind naturally checkpoints at: a chunk of trials (spiking), a
    minibatch (rate), one zero-order update. Constructors store (data, models, settings);
    :meth:`init` or :meth:`load_state_dict` set the training state; :meth:`step` computes.

    Attributes
    ----------
    unit : str
        Name of what :attr:`position` counts, for the progress bar (``"trial"``).
    """

    unit: str = "step"

    @property
    @abc.abstractmethod
    def position(self) -> int:
        """Training steps done, in the kind's own count (trials, minibatches, updates);
        the curve's ``step`` and the checkpoint's ``step``."""

    @property
    @abc.abstractmethod
    def total(self) -> int:
        """The :attr:`position` at which training ends."""

    @property
    @abc.abstractmethod
    def samples_seen(self) -> int:
        """Training samples consumed so far."""

    @abc.abstractmethod
    def init(self) -> None:
        """Set the initial training state (a fresh run)."""

    @abc.abstractmethod
    def step(self) -> StepReport:
        """Advance by one unit.

        Raises
        ------
        DivergenceError
            Training diverged (the stepper's state is the one before the step).
        """

    @abc.abstractmethod
    def evaluate(self) -> dict[str, Any]:
        """Held-out metrics of the current state (``test_accuracy``, ``test_loss``, ...)
        for one curve point; JSON scalars (None for a metric that does not apply)."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, np.ndarray]:
        """The complete training state: flat names (not ``meta``) to arrays; with
        :meth:`load_state_dict` it continues bit-identically."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore a state written by :meth:`state_dict`."""

    def session(self) -> contextlib.AbstractContextManager:
        """A context the driver holds while it trains, evaluates and finalizes (e.g. a
        thread limit); none by default."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def finalize(self, curve: list[dict], out_dir: Path | None) -> dict[str, Any]:
        """The final figures after training.

        Parameters
        ----------
        curve : list of dict
            The learning curve (first point: before training).
        out_dir : Path or None
            Where the kind may write its own artefacts (trained weights, network).

        Returns
        -------
        dict
            ``final`` (scalars: ``test_accuracy``, ``test_loss``, ``n_parameters``, ...)
            and optionally ``details`` (anything JSON-serialisable the kind reports).
        """
