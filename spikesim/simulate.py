"""``spikesim.simulate``: one trial of a network on any registered engine."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spikesim.engines.base import Engine, get_engine
from spikesim.graph import Network
from spikesim.record import SpikeRecord

__all__ = ["simulate"]


def simulate(
    network: Network,
    input_spikes=None,
    duration: float = 0.1,
    *,
    engine: str | Engine = "event",
    weights: np.ndarray | None = None,
    voltage_neurons: Sequence[int] | None = None,
    voltage_times: np.ndarray | None = None,
) -> SpikeRecord:
    """Simulate ``network`` for ``duration`` seconds driven by ``input_spikes``.

    Parameters
    ----------
    network : Network
    input_spikes : tuple ``(times (n,), neurons (n,))`` or None
        Spike times in seconds and the input neuron of each.
    duration : float
        Trial length in seconds.
    engine : str or Engine
        A name from :func:`spikesim.engines.available` or an engine instance (to set
        engine options, e.g. ``Brian2Engine(target="cython", dt=1e-5)``).
    weights : ndarray, shape (n_edges,), optional
        Weight magnitudes overriding ``network.weight``.
    voltage_neurons : sequence of int, optional
        Neurons whose potential to record.
    voltage_times : ndarray, shape (n_samples,), optional
        Sample times in seconds (default: every 0.1 ms).

    Returns
    -------
    SpikeRecord
        Every spike (inputs included), sorted by time then neuron.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a spikesim.Network, got {type(network).__name__}")
    return get_engine(engine).run(
        network,
        input_spikes,
        duration,
        weights=weights,
        voltage_neurons=voltage_neurons,
        voltage_times=voltage_times,
    )
