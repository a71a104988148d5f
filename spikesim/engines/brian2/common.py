"""What every Brian2 engine shares: option checks, error messages, the spike record.

Nothing here imports Brian2.
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np

from spikesim.errors import EngineError
from spikesim.record import SpikeRecord

__all__ = ["TARGETS", "assemble", "brian2_error", "brian2_installed", "check_dt", "compiler"]

#: Code generation targets of Brian2's runtime device.
TARGETS = ("numpy", "cython")


def check_dt(dt) -> float:
    """Validate a time step (seconds): positive and at most 1 ms."""
    if isinstance(dt, bool) or not isinstance(dt, int | float | np.floating) or not dt > 0:
        raise EngineError(f"unsupported option dt={dt!r}: must be a positive number of seconds")
    if dt > 1e-3:
        raise EngineError(f"unsupported option dt={dt!r}: must be <= 1e-3 s")
    return float(dt)


def brian2_error(exc: BaseException, what: str) -> EngineError:
    """An EngineError carrying Brian2's (and the compiler's) message."""
    msg = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        extra = str(cause).strip()
        if extra and extra not in msg:
            msg += "\n" + extra
        cause = cause.__cause__ or cause.__context__
    return EngineError(f"{what} failed: {type(exc).__name__}: {msg}")


def brian2_installed() -> tuple[bool, str]:
    """``(True, "")`` if the ``brian2`` package can be imported, else ``(False, reason)``."""
    if importlib.util.find_spec("brian2") is None:
        return False, "the Brian2 engines need the brian2 package (pip install brian2)"
    return True, ""


def compiler() -> tuple[bool, str]:
    """``(True, "")`` if ``make`` and a C++ compiler are on the PATH (standalone builds)."""
    if shutil.which("make") is None:
        return False, "Brian2 standalone builds need make, which is not on the PATH"
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        return False, "Brian2 standalone builds need a C++ compiler (c++, g++ or clang++)"
    return True, ""


def assemble(network, in_times, in_neurons, idx, t, duration) -> SpikeRecord:
    """A SpikeRecord from the given input spikes and the simulated neurons' spikes.

    ``in_times`` (n,) / ``in_neurons`` (n,): the trial's input spikes (seconds);
    ``idx`` (m,) / ``t`` (m,): the simulated neurons' spikes (seconds); ``duration`` (s).
    """
    times = np.concatenate([np.asarray(in_times, float), np.asarray(t, float)])
    neurons = np.concatenate([np.asarray(in_neurons, np.int64), np.asarray(idx, np.int64)])
    keep = times < duration
    times, neurons = times[keep], neurons[keep]
    order = np.lexsort((neurons, times))
    return SpikeRecord(
        times=times[order],
        neurons=neurons[order],
        n_neurons=network.n_neurons,
        duration=float(duration),
    )
