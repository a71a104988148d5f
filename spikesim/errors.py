"""The package's own exception types.

Every error a user can provoke with bad input ends in one of these, with a message that
names the offending value. The command-line tool maps them to exit codes:
:class:`ConfigError` and :class:`ValidationError` exit with 2 (usage / config error), every
other :class:`SpikesimError` with 1 (runtime failure).
"""

from __future__ import annotations


class SpikesimError(Exception):
    """Base class of every error raised on purpose by spikesim."""


class ValidationError(SpikesimError, ValueError):
    """Bad input to a public function: wrong shape, NaN, negative weight, cycle, ..."""


class ConfigError(SpikesimError, ValueError):
    """A bad experiment / model file: unknown key, wrong type, missing value."""


class EngineError(SpikesimError, RuntimeError):
    """A simulation engine failed (compiler error, missing GPU, unsupported option)."""


class DivergenceError(SpikesimError, FloatingPointError):
    """A run produced a non-finite loss or parameters; carries the step number."""

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


class DatasetNotFoundError(SpikesimError, FileNotFoundError):
    """A dataset's files are missing; the message says how to get them."""
