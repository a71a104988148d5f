"""The engine interface and the registry of engines.

An engine simulates a :class:`~spikesim.graph.Network` for one trial and returns a
:class:`~spikesim.record.SpikeRecord`. Engines know nothing about learning. Each engine is
registered by name; ``spikesim.simulate(..., engine=NAME)`` looks it up, and every
registered engine passes :func:`spikesim.testing.engine.check_engine`.

An engine declares what it can do as class attributes of :class:`Engine` (``exact``,
``dt``, ``compiles_per_structure``, ``supports_voltages``, ``supports_batch``) and says
whether it can run on this machine with :meth:`Engine.availability`; callers read these,
they never probe for methods.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from spikesim.errors import EngineError, ValidationError
from spikesim.graph import Network, check_memory
from spikesim.record import SpikeRecord, check_input_spikes

__all__ = ["Engine", "register", "available", "get_engine"]

_REGISTRY: dict[str, Callable[[], Engine]] = {}


class Engine(abc.ABC):
    """Base class of simulation engines.

    A subclass implements :meth:`_run` (one checked trial) and may override
    :meth:`_run_batch` (many trials of one network), :meth:`with_dt` (clock-driven
    engines) and :meth:`availability`.

    Attributes
    ----------
    name : str
        Registry name.
    exact : bool
        True for event-driven engines whose spike times are exact (then ``dt`` is None);
        False for clock-driven ones, whose spikes agree with the exact model within
        ``(depth + 1) * dt`` (docs/engines.md).
    dt : float or None
        Time step in seconds of a clock-driven engine (an instance may set its own);
        None for an exact engine.
    compiles_per_structure : bool
        The engine compiles a binary per network structure (seconds to minutes the first
        time a structure is seen; cached afterwards).
    supports_voltages : bool
        :meth:`run` records membrane potentials (``voltage_neurons``); otherwise asking
        for them raises :class:`~spikesim.errors.EngineError`.
    supports_batch : bool
        :meth:`run_batch` simulates the trials together (threads, one binary run for many
        trials), faster than one :meth:`run` per trial. Every engine accepts
        :meth:`run_batch`; without this capability it runs the trials one by one.
    delay_step : float or None
        Seconds; when set, every delay and refractory period must be a whole multiple of
        it, at least one (NEST counts them in steps of its resolution), and other networks
        are refused with :class:`~spikesim.errors.ValidationError`. None: any delay >= 0.
    """

    name: ClassVar[str] = "base"
    exact: ClassVar[bool] = False
    dt: float | None = None
    compiles_per_structure: ClassVar[bool] = False
    supports_voltages: ClassVar[bool] = False
    supports_batch: ClassVar[bool] = False
    delay_step: float | None = None

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Whether the engine can run on this machine, and if not, why.

        Returns
        -------
        available : bool
        reason : str
            Empty when available; else what is missing (e.g. no GPU, no compiler).
        """
        return True, ""

    def with_dt(self, dt: float) -> Engine:
        """A copy of this engine with time step ``dt`` (seconds).

        Clock-driven engines (``exact = False``) implement it; an exact engine has no time
        step and raises :class:`~spikesim.errors.EngineError`.
        """
        raise EngineError(f"engine {self.name!r} has no time step (dt) to set")

    def run(
        self,
        network: Network,
        input_spikes=None,
        duration: float = 0.1,
        *,
        weights: np.ndarray | None = None,
        voltage_neurons: Sequence[int] | None = None,
        voltage_times: np.ndarray | None = None,
    ) -> SpikeRecord:
        """Simulate one trial.

        Parameters
        ----------
        network : Network
        input_spikes : tuple ``(times (n,), neurons (n,))`` or None
            Input spike times (seconds) and their input neurons.
        duration : float
            Trial length in seconds.
        weights : ndarray, shape (n_edges,), optional
            Weight magnitudes to use instead of ``network.weight``.
        voltage_neurons : sequence of int, optional
            Neurons whose potential is recorded (engines with ``supports_voltages``).
        voltage_times : ndarray, shape (n_samples,), optional
            Sample times (seconds) for the recorded potentials; default every 0.1 ms.

        Returns
        -------
        SpikeRecord
        """
        w = network.weight if weights is None else network.check_weights(weights)
        times, neurons = check_input_spikes(network, input_spikes, duration)
        vn, vt = _check_voltage_request(network, voltage_neurons, voltage_times, duration)
        if vn is not None and not self.supports_voltages:
            raise EngineError(
                f"unsupported option voltage_neurons for engine {self.name!r} (it records "
                "spikes only); use engine 'brian2' or 'event' for voltages"
            )
        return self._run(network, w, times, neurons, float(duration), vn, vt)

    def run_batch(
        self,
        network: Network,
        inputs: Sequence,
        duration: float,
        *,
        weights: np.ndarray | None = None,
    ) -> list[SpikeRecord]:
        """Simulate many trials of the same network; ``inputs`` is a list of input spikes
        (each as for :meth:`run`). Returns one SpikeRecord per trial, in order."""
        w = network.weight if weights is None else network.check_weights(weights)
        checked = [check_input_spikes(network, spk, duration) for spk in inputs]
        return self._run_batch(network, w, checked, float(duration))

    # -- to implement -------------------------------------------------------------------
    @abc.abstractmethod
    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        """One trial on checked arguments: ``weights`` (n_edges,), input ``times`` (n,)
        seconds and ``neurons`` (n,), ``duration`` seconds, and ``voltage_neurons`` (k,) /
        ``voltage_times`` (m,) or both None. Returns a SpikeRecord."""

    def _run_batch(self, network, weights, checked_inputs, duration):
        """Many trials on checked arguments (``checked_inputs``: list of ``(times,
        neurons)``); default: one :meth:`_run` per trial."""
        return [self._run(network, weights, t, n, duration, None, None) for t, n in checked_inputs]


def _check_voltage_request(network, neurons, times, duration):
    if neurons is None:
        return None, None
    vn = np.atleast_1d(np.asarray(neurons))
    if vn.dtype.kind not in "iu":
        raise ValidationError(f"voltage_neurons must be integers, got {vn.dtype}")
    vn = vn.astype(np.int64)
    bad = np.flatnonzero((vn < 0) | (vn >= network.n_neurons))
    if bad.size:
        raise ValidationError(f"voltage_neurons contains {vn[bad[0]]}, which is not a neuron")
    if times is None:
        times = np.arange(0.0, duration, 1e-4)
    vt = np.asarray(times, dtype=float).ravel()
    if not np.all(np.isfinite(vt)) or np.any(np.diff(vt) < 0):
        raise ValidationError("voltage_times must be finite and non-decreasing")
    check_memory(
        voltage_bytes(vn.size, vt.size),
        f"recording the potentials of {vn.size} neurons at {vt.size} times",
    )
    return vn, vt


def voltage_bytes(n_neurons: int, n_times: int) -> int:
    """Peak memory (bytes) of a voltage recording: the engine's float64 array of shape
    (n_neurons, n_times) and the record's copy of it."""
    return 2 * 8 * int(n_neurons) * int(n_times)


def register(name: str) -> Callable:
    """Decorator registering an engine factory (a class or a zero-argument callable)."""

    def deco(factory):
        _REGISTRY[name] = factory
        return factory

    return deco


def _load_all() -> None:
    import spikesim.engines  # noqa: F401  (imports every engine module)


def available() -> list[str]:
    """Names of the registered engines, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get_engine(engine: str | Engine) -> Engine:
    """An engine instance from a registry name (default options) or an instance."""
    if isinstance(engine, Engine):
        return engine
    _load_all()
    if not isinstance(engine, str) or engine not in _REGISTRY:
        raise ValidationError(
            f"unknown engine {engine!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[engine]()
