"""One training driver for every kind of run.

A kind supplies a :class:`Stepper` (init / step / evaluate / state_dict / load_state_dict /
finalize); :func:`train` owns the loop, the evaluation schedule, the progress bar, the
checkpoints (one format, :mod:`spikesim.training.checkpoint`), the handling of Ctrl-C and
the results (one schema, strict JSON). This package imports only the core and the
learning layers, never :mod:`spikesim.experiments` or :mod:`spikesim.cli`.
"""

from spikesim.training.checkpoint import (
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    TIMING,
    Checkpoint,
    config_hash,
    read_checkpoint,
    write_checkpoint,
)
from spikesim.training.driver import RESULTS, RESULTS_FORMAT, Interrupted, train
from spikesim.training.lock import LOCK, FolderLock, RunLockedError, lock_holder
from spikesim.training.stepper import Schedule, Stepper, StepReport

__all__ = [
    "CHECKPOINT",
    "CHECKPOINT_FORMAT",
    "LOCK",
    "RESULTS",
    "RESULTS_FORMAT",
    "TIMING",
    "Checkpoint",
    "FolderLock",
    "Interrupted",
    "RunLockedError",
    "Schedule",
    "StepReport",
    "Stepper",
    "config_hash",
    "lock_holder",
    "read_checkpoint",
    "train",
    "write_checkpoint",
]
