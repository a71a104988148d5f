"""Engine ``brian2-standalone``: Brian2 cpp_standalone, compiled once per network structure.

The project machinery (code generation in a child process, ``make``, the cache, running the
binary with new weights and inputs on its command line) is in
:mod:`spikesim.engines.brian2.project`. This engine sizes the input table for the trials,
builds the :class:`~spikesim.engines.brian2.options.BuildOptions` record
(:meth:`Brian2StandaloneEngine.build_options`) and runs the trials ``trials_per_run`` at a
time. The ``brian2-cuda`` engine (:mod:`spikesim.engines.brian2.cuda`) extends it.
"""

from __future__ import annotations

import os
from pathlib import Path

from spikesim.engines.base import Engine, register
from spikesim.engines.brian2.common import brian2_installed, check_dt, compiler
from spikesim.engines.brian2.options import DEFAULT_CAPACITY, BuildOptions
from spikesim.engines.brian2.project import Project, ensure_project, run_trials, table_size
from spikesim.errors import EngineError

__all__ = ["Brian2StandaloneEngine", "DEFAULT_TRIALS_PER_RUN"]

#: Default trials simulated by one invocation of the binary.
DEFAULT_TRIALS_PER_RUN = 16


@register("brian2-standalone")
class Brian2StandaloneEngine(Engine):
    """Brian2 cpp_standalone engine: one compilation per network structure.

    Parameters
    ----------
    dt : float
        Time step in seconds (default 1e-4).
    capacity : int
        Input table entries (spiking (input neuron, step) pairs) per trial; grown to the
        next power of two when a trial needs more (a new build).
    extra_compile_args : list of str, optional
        C++ compiler arguments replacing Brian2's defaults.
    cache : str or Path, optional
        Cache root (default :func:`spikesim.engines.brian2.project.cache_dir`).
    trials_per_run : int
        Trials simulated back to back by one invocation of the binary (part of the
        build; a single ``run`` pads with empty trials).
    """

    name = "brian2-standalone"
    exact = False
    compiles_per_structure = True
    supports_batch = True
    #: The Brian2 device of the builds (a subclass may build for another device).
    device = "cpp_standalone"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Available where brian2 is installed and ``make`` and a C++ compiler exist."""
        ok, why = brian2_installed()
        return compiler() if ok else (ok, why)

    def __init__(
        self,
        dt: float = 1e-4,
        capacity: int = DEFAULT_CAPACITY,
        extra_compile_args: list[str] | None = None,
        cache: str | os.PathLike | None = None,
        trials_per_run: int = DEFAULT_TRIALS_PER_RUN,
    ):
        self.dt = check_dt(dt)
        for name, v in (("capacity", capacity), ("trials_per_run", trials_per_run)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise EngineError(f"unsupported option {name}={v!r}: a positive integer")
        self.capacity = capacity
        self.trials_per_run = trials_per_run
        self.extra_compile_args = None if extra_compile_args is None else list(extra_compile_args)
        self.cache = None if cache is None else Path(cache)

    def _options(self) -> dict:
        """The constructor's arguments (for :meth:`with_dt` and :meth:`with_cache`)."""
        return {
            "dt": self.dt,
            "capacity": self.capacity,
            "extra_compile_args": self.extra_compile_args,
            "cache": self.cache,
            "trials_per_run": self.trials_per_run,
        }

    def with_dt(self, dt: float) -> Brian2StandaloneEngine:
        """A copy with time step ``dt`` (seconds)."""
        return type(self)(**{**self._options(), "dt": dt})

    def with_cache(self, cache: str | os.PathLike | None) -> Brian2StandaloneEngine:
        """A copy building into (and reusing) the project cache at ``cache``."""
        return type(self)(**{**self._options(), "cache": cache})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dt={self.dt!r}, capacity={self.capacity})"

    def build_options(self, capacity: int, copies: int) -> BuildOptions:
        """The build options for an input table of ``capacity`` entries (all trials of one
        run) and ``copies`` input-neuron copies."""
        return BuildOptions(
            device=self.device,
            capacity=capacity,
            copies=copies,
            extra_compile_args=self.extra_compile_args,
        )

    def project(self, network, duration: float, checked_inputs=()) -> Project:
        """The compiled project for ``network``, trial length ``duration`` (seconds) and
        input table sizes that fit ``checked_inputs`` (list of ``(times, neurons)``)."""
        capacity, copies = table_size(network, self.dt, duration, checked_inputs, self.capacity)
        return ensure_project(
            network,
            self.dt,
            duration,
            self.build_options(capacity * self.trials_per_run, copies),
            trials_per_run=self.trials_per_run,
            root=self.cache,
        )

    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        return self._run_batch(network, weights, [(times, neurons)], duration)[0]

    def _run_batch(self, network, weights, checked_inputs, duration):
        return run_trials(
            self.project(network, duration, checked_inputs),
            network,
            weights,
            checked_inputs,
            duration,
        )
