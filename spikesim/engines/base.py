"""The engine interface and the registry of engines.

An engine simulates a :class:`~spikesim.graph.Network` for one trial and returns a
:class:`~spikesim.record.SpikeRecord`. Engines know nothing about learning. Each engine is
registered by name; ``spikesim.simulate(..., engine=NAME)`` looks it up, and every
registered engine passes the conformance suite ``tests/test_engine_conformance.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from spikesim.errors import ValidationError
from spikesim.graph import Network
from spikesim.record import SpikeRecord, check_input_spikes

__all__ = ["Engine", "register", "available", "get_engine"]

_REGISTRY: dict[str, Callable[[], Engine]] = {}


class Engine:
    """Base class of simulation engines.

    Attributes
    ----------
    name : str
        Registry name.
    dt : float or None
        Time step in seconds for clock-driven engines; None for exact (event-driven) ones.
    """

    name: str = "base"
    dt: float | None = None

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
            Neurons whose potential is recorded.
        voltage_times : ndarray, shape (n_samples,), optional
            Sample times (seconds) for the recorded potentials; default every 0.1 ms.

        Returns
        -------
        SpikeRecord
        """
        w = network.weight if weights is None else network.check_weights(weights)
        times, neurons = check_input_spikes(network, input_spikes, duration)
        vn, vt = _check_voltage_request(network, voltage_neurons, voltage_times, duration)
        return self._run(network, w, times, neurons, float(duration), vn, vt)

    def run_batch(
        self,
        network: Network,
        inputs: Sequence,
        duration: float,
        *,
        weights: np.ndarray | None = None,
    ) -> list[SpikeRecord]:
        """Simulate many trials of the same network; ``inputs`` is a list of input spikes."""
        w = network.weight if weights is None else network.check_weights(weights)
        checked = [check_input_spikes(network, spk, duration) for spk in inputs]
        return self._run_batch(network, w, checked, float(duration))

    # -- to implement -------------------------------------------------------------------
    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        raise NotImplementedError

    def _run_batch(self, network, weights, checked_inputs, duration):
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
    return vn, vt


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
