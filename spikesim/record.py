"""Spike records: what an engine returns, and how input spikes are given to it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["SpikeRecord", "check_input_spikes"]


@dataclass(frozen=True, eq=False)
class SpikeRecord:
    """Every spike of one trial, input neurons included, sorted by (time, neuron).

    Attributes
    ----------
    times : ndarray of float64, shape (n_spikes,)
        Spike times in seconds, non-decreasing.
    neurons : ndarray of int64, shape (n_spikes,)
        Neuron of each spike; ties in time are ordered by neuron index.
    n_neurons : int
        Number of neurons of the network.
    duration : float
        Length of the trial in seconds; every spike is in ``[0, duration)``.
    voltage : ndarray of float64, shape (n_recorded, n_samples), optional
        Potentials of ``voltage_neurons`` at ``voltage_times`` (threshold units).
    voltage_neurons : ndarray of int64, shape (n_recorded,), optional
    voltage_times : ndarray of float64, shape (n_samples,), optional
        Sample times in seconds.
    """

    times: np.ndarray
    neurons: np.ndarray
    n_neurons: int
    duration: float
    voltage: np.ndarray | None = None
    voltage_neurons: np.ndarray | None = None
    voltage_times: np.ndarray | None = None

    @property
    def n_spikes(self) -> int:
        return int(self.times.shape[0])

    def counts(self) -> np.ndarray:
        """Spike count of every neuron, shape (n_neurons,)."""
        return np.bincount(self.neurons, minlength=self.n_neurons)

    def spikes_of(self, neuron: int) -> np.ndarray:
        """Sorted spike times (seconds) of one neuron."""
        return self.times[self.neurons == neuron]

    def trains(self) -> list[np.ndarray]:
        """Spike times of every neuron: a list of ``n_neurons`` sorted arrays."""
        order = np.argsort(self.neurons, kind="stable")
        bounds = np.searchsorted(self.neurons[order], np.arange(self.n_neurons + 1))
        t = self.times[order]
        return [t[bounds[k] : bounds[k + 1]] for k in range(self.n_neurons)]

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Spike times grouped by neuron: ``(ptr (n_neurons+1,), times (n_spikes,))``."""
        order = np.argsort(self.neurons, kind="stable")
        ptr = np.zeros(self.n_neurons + 1, np.int64)
        np.cumsum(np.bincount(self.neurons, minlength=self.n_neurons), out=ptr[1:])
        return ptr, np.ascontiguousarray(self.times[order])


def check_input_spikes(network, input_spikes, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(times, neurons)`` input spikes for ``network``.

    Parameters
    ----------
    network : Network
    input_spikes : tuple of array_like, ``(times (n,), neurons (n,))``, or None
        Spike times in seconds and the input neuron of each spike.
    duration : float
        Trial length in seconds; spikes at or after it are dropped.

    Returns
    -------
    times, neurons : ndarray (float64, int64), shape (n,)
        Sorted by (neuron, time), restricted to ``[0, duration)``.
    """
    if not np.isfinite(duration) or duration <= 0:
        raise ValidationError(f"duration must be a positive number of seconds, got {duration!r}")
    if input_spikes is None:
        return np.zeros(0), np.zeros(0, np.int64)
    try:
        times, neurons = input_spikes
    except (TypeError, ValueError):
        raise ValidationError(
            "input_spikes must be a pair (times, neurons) of equal-length arrays"
        ) from None
    times = np.asarray(times, dtype=float).ravel()
    neurons_raw = np.asarray(neurons).ravel()
    if times.shape != neurons_raw.shape:
        raise ValidationError(
            f"input spike times and neurons differ in length: {times.size} vs {neurons_raw.size}"
        )
    if neurons_raw.size and neurons_raw.dtype.kind not in "iu":
        if neurons_raw.dtype.kind == "f" and np.all(neurons_raw == np.round(neurons_raw)):
            pass
        else:
            raise ValidationError(f"input spike neurons must be integers, got {neurons_raw.dtype}")
    neurons = neurons_raw.astype(np.int64)
    if not np.all(np.isfinite(times)):
        k = int(np.flatnonzero(~np.isfinite(times))[0])
        raise ValidationError(f"input spike time {k} is {times[k].item()!r}; times must be finite")
    if np.any(times < 0):
        k = int(np.flatnonzero(times < 0)[0])
        raise ValidationError(f"input spike time {k} is negative ({times[k].item()!r} s)")
    bad = np.flatnonzero((neurons < 0) | (neurons >= network.n_neurons))
    if bad.size:
        raise ValidationError(
            f"input spike for neuron {neurons[bad[0]]}, which does not exist "
            f"(n_neurons = {network.n_neurons})"
        )
    bad = np.flatnonzero(~network.is_input[neurons])
    if bad.size:
        raise ValidationError(
            f"input spike for neuron {neurons[bad[0]]}, which is not an input neuron"
        )
    keep = times < duration
    times, neurons = times[keep], neurons[keep]
    order = np.lexsort((times, neurons))
    return times[order], neurons[order]
