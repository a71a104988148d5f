"""Encoders (data vector -> input spike trains) and decoders (spikes -> numbers).

Encoders map a data vector ``x`` of shape ``(n_inputs,)`` with values in ``[0, 1]`` onto the
input neurons ``neurons`` (default ``0 .. n_inputs-1``) and return input spikes as a pair
``(times, neurons)`` ready for :func:`spikesim.simulate`. Times are in seconds, rates in
hertz. Every encoder that draws random numbers takes a ``seed``.
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import ValidationError
from spikesim.record import SpikeRecord, _as_array, _check_neuron_ids, _finite_float

# Refuse requests whose expected number of spikes exceeds this (memory guard).
MAX_SPIKES = 10**8

__all__ = [
    "poisson",
    "poisson_draw",
    "regular_draw",
    "draw",
    "ENCODINGS",
    "latency",
    "regular",
    "spike_counts",
    "spike_rates",
    "first_spike_times",
]


def _check_x(x, neurons) -> tuple[np.ndarray, np.ndarray]:
    x = _as_array("x", x).astype(float)
    if x.ndim != 1:
        raise ValidationError(f"x must be a vector of shape (n_inputs,), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        k = int(np.flatnonzero(~np.isfinite(x))[0])
        raise ValidationError(f"x[{k}] is {x[k].item()!r}; inputs must be finite")
    if np.any((x < 0) | (x > 1)):
        k = int(np.flatnonzero((x < 0) | (x > 1))[0])
        raise ValidationError(f"x[{k}] = {x[k].item()!r} is outside [0, 1]; scale the data first")
    if neurons is None:
        neurons = np.arange(x.size)
    arr = _as_array("neurons", neurons)
    if arr.shape != x.shape or arr.dtype.kind not in "iu":
        raise ValidationError(
            f"neurons must be {x.size} integer neuron ids matching x, got {arr.shape} "
            f"of {arr.dtype}"
        )
    return x, _check_neuron_ids(arr, np.iinfo(np.int64).max, "neurons")


def _check_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(f"{name} must be a number, got {value!r}")
    f = _finite_float(value)
    if f is None:
        raise ValidationError(f"{name} must be finite, got {value!r}")
    return f


def _check_positive(name: str, value: float) -> float:
    value = _check_number(name, value)
    if value <= 0:
        raise ValidationError(f"{name} must be a positive number, got {value!r}")
    return value


def _expected(rates: np.ndarray, duration: float) -> np.ndarray:
    """Expected spike counts ``rates * duration`` (inf where the product overflows)."""
    with np.errstate(over="ignore"):
        return rates * duration


def _check_expected_spikes(expected: np.ndarray, what: str) -> None:
    with np.errstate(over="ignore"):
        total = float(np.sum(expected))
    if not total <= MAX_SPIKES:
        raise ValidationError(
            f"{what} asks for about {total:.3g} spikes (more than {MAX_SPIKES:.0e}); "
            "lower max_rate or duration"
        )


def poisson_draw(expected, duration: float, rng: np.random.Generator):
    """The one Poisson draw behind every Poisson input in spikesim (pure, unchecked).

    First the spike counts ``counts ~ Poisson(expected)`` of every entry, then the spike
    times, uniform on ``[0, duration)``, of all of them at once: ``counts.ravel()[k]``
    consecutive times (unsorted) belong to entry ``k``. Callers check the inputs; keeping the
    draws in this order keeps every seeded result the same.

    Parameters
    ----------
    expected : ndarray of float, any shape
        Expected spike counts (rate in hertz times ``duration``); >= 0, finite.
    duration : float
        Trial length, seconds.
    rng : numpy.random.Generator

    Returns
    -------
    counts : ndarray of int64, the shape of ``expected``
    times : ndarray of float64, shape (counts.sum(),)
        Seconds, grouped by entry in row-major order, unsorted within an entry.
    """
    counts = rng.poisson(expected).astype(np.int64, copy=False)
    times = rng.uniform(0.0, duration, int(counts.sum()))
    return counts, times


def regular_draw(expected, duration: float, rng: np.random.Generator):
    """Regular spike trains with a random phase (pure, unchecked): the trial draw of the
    ``regular`` encoding.

    Entry ``k`` with ``lambda_k = expected[k]`` expected spikes fires at
    ``(phi_k + m) duration / lambda_k`` for ``m = 0, 1, ...`` while that is before
    ``duration``, with one fresh phase ``phi_k ~ U[0, 1)`` per entry and draw. Its count is
    ``ceil(lambda_k - phi_k)`` (``lambda_k`` rounded down or up), so ``E[count] = lambda_k``
    exactly (as Poisson's) with variance ``f (1 - f) <= 1/4`` (``f`` the fractional part of
    ``lambda_k``) instead of ``lambda_k``: the spike *times* still move from trial to trial
    (the timing noise that SH's rule learns from, SH sec. 4), the counts almost not.

    Parameters
    ----------
    expected : ndarray of float, any shape
        Expected spike counts (rate in hertz times ``duration``); >= 0, finite.
    duration : float
        Trial length, seconds.
    rng : numpy.random.Generator
        One uniform per entry is drawn (row-major).

    Returns
    -------
    counts : ndarray of int64, the shape of ``expected``
    times : ndarray of float64, shape (counts.sum(),)
        Seconds, grouped by entry in row-major order (ascending within an entry), as
        :func:`poisson_draw` returns them.
    """
    lam = np.asarray(expected, dtype=np.float64)
    phase = rng.random(lam.shape)
    counts = np.maximum(np.ceil(lam - phase), 0.0).astype(np.int64)
    flat = counts.ravel()
    total = int(flat.sum())
    if total == 0:
        return counts, np.zeros(0)
    entry = np.repeat(np.arange(flat.size), flat)
    first = np.cumsum(flat) - flat  # where each entry's spikes start
    m = np.arange(total) - first[entry]
    times = (phase.ravel()[entry] + m) * (duration / lam.ravel()[entry])
    return counts, times


#: Trial encodings of the trainer (``[encoding] kind``): their draw functions.
ENCODINGS = {"poisson": poisson_draw, "regular": regular_draw}


def draw(kind: str, expected, duration: float, rng: np.random.Generator):
    """One trial draw of encoding ``kind`` (:data:`ENCODINGS`): ``(counts, times)`` as
    :func:`poisson_draw` returns them."""
    if kind not in ENCODINGS:
        raise ValidationError(f"encoding {kind!r} is not one of {', '.join(ENCODINGS)}")
    return ENCODINGS[kind](expected, duration, rng)


def poisson(x, *, duration: float, max_rate: float = 100.0, neurons=None, seed: int = 0):
    """Poisson rate code: input ``k`` fires as a Poisson process of rate ``x[k] * max_rate``.

    Parameters
    ----------
    x : array_like, shape (n_inputs,)
        Intensities in ``[0, 1]``.
    duration : float
        Trial length in seconds.
    max_rate : float
        Rate in hertz of an input with ``x = 1``.
    neurons : array_like of int, shape (n_inputs,), optional
        Input neuron of each component (default ``arange(n_inputs)``).
    seed : int
        Seed of the spike trains.

    Returns
    -------
    times, neurons : ndarray, shape (n_spikes,)
        Spike times in seconds (sorted by neuron, then time) and neurons.
    """
    x, neurons = _check_x(x, neurons)
    duration = _check_positive("duration", duration)
    max_rate = _check_positive("max_rate", max_rate)
    with np.errstate(over="ignore"):
        lam = _expected(x * max_rate, duration)
    _check_expected_spikes(lam, f"poisson(max_rate={max_rate!r}, duration={duration!r})")
    counts, t = poisson_draw(lam, duration, _rng(seed))
    nrn = np.repeat(neurons, counts)
    order = np.lexsort((t, nrn))
    return t[order], nrn[order]


def regular(x, *, duration: float, max_rate: float = 100.0, neurons=None, phase: float = 0.5):
    """Regular (clock-like) rate code: input ``k`` fires every ``1 / (x[k] max_rate)`` seconds.

    The first spike is at ``phase / rate`` (``phase`` in ``[0, 1)``); ``x = 0`` gives no
    spikes. Deterministic.
    """
    x, neurons = _check_x(x, neurons)
    duration = _check_positive("duration", duration)
    max_rate = _check_positive("max_rate", max_rate)
    phase = _check_number("phase", phase)
    if not 0.0 <= phase < 1.0:
        raise ValidationError(f"phase must be in [0, 1), got {phase!r}")
    times, nrn = [], []
    rates = x * max_rate
    _check_expected_spikes(
        _expected(rates, duration), f"regular(max_rate={max_rate!r}, duration={duration!r})"
    )
    for k in np.flatnonzero(x > 0):
        # spikes at (m + phase) / rate for m = 0, 1, ... while < duration
        n_spikes = int(max(0.0, np.ceil(duration * rates[k] - phase)))
        t = (np.arange(n_spikes) + phase) / rates[k]
        t = t[t < duration]
        times.append(t)
        nrn.append(np.full(t.size, neurons[k]))
    if not times:
        return np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(times), np.concatenate(nrn).astype(np.int64)


def latency(x, *, duration: float, t_min: float = 0.0, threshold: float = 0.0, neurons=None):
    """Latency (time-to-first-spike) code: one spike at ``t_min + (1 - x) (duration - t_min)``.

    Larger intensities fire earlier; inputs with ``x <= threshold`` do not fire. Deterministic.
    """
    x, neurons = _check_x(x, neurons)
    duration = _check_positive("duration", duration)
    t_min = _check_number("t_min", t_min)
    threshold = _check_number("threshold", threshold)
    if not 0.0 <= t_min < duration:
        raise ValidationError(f"t_min must be in [0, duration), got {t_min!r}")
    fire = x > threshold
    t = t_min + (1.0 - x[fire]) * (duration - t_min)
    t = np.minimum(t, np.nextafter(duration, 0.0))
    return t, neurons[fire]


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator | np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValidationError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed))


def _check_record(record) -> SpikeRecord:
    if not isinstance(record, SpikeRecord):
        raise ValidationError(f"record must be a SpikeRecord, got {type(record).__name__}")
    return record


def _window(record: SpikeRecord, t_start, t_stop):
    _check_record(record)
    t_start = _check_number("t_start", t_start)
    t_stop = record.duration if t_stop is None else _check_number("t_stop", t_stop)
    if not 0.0 <= t_start < t_stop:
        raise ValidationError(f"need 0 <= t_start < t_stop, got {t_start!r}, {t_stop!r}")
    return t_start, t_stop


def spike_counts(record: SpikeRecord, neurons, *, t_start: float = 0.0, t_stop=None):
    """Spike counts of ``neurons`` in ``[t_start, t_stop)`` seconds, shape (len(neurons),)."""
    t_start, t_stop = _window(record, t_start, t_stop)
    neurons = _check_neuron_ids(neurons, record.n_neurons, "neurons")
    sel = (record.times >= t_start) & (record.times < t_stop)
    counts = np.bincount(record.neurons[sel], minlength=record.n_neurons)
    return counts[neurons]


def spike_rates(record: SpikeRecord, neurons, *, t_start: float = 0.0, t_stop=None):
    """Firing rates in hertz of ``neurons`` over ``[t_start, t_stop)``, shape (len(neurons),)."""
    t_start, t_stop = _window(record, t_start, t_stop)
    counts = spike_counts(record, neurons, t_start=t_start, t_stop=t_stop)
    with np.errstate(over="ignore"):
        rates = counts / (t_stop - t_start)
    if not np.all(np.isfinite(rates)):
        raise ValidationError(
            f"the window [{t_start!r}, {t_stop!r}) s is too short for a finite rate of "
            f"{int(counts.max())} spikes"
        )
    return rates


def first_spike_times(record: SpikeRecord, neurons, *, default: float = np.inf):
    """First spike time (s) of each neuron, ``default`` if silent; shape (len(neurons),)."""
    _check_record(record)
    neurons = _check_neuron_ids(neurons, record.n_neurons, "neurons")
    if isinstance(default, bool) or not isinstance(default, int | float | np.integer | np.floating):
        raise ValidationError(f"default must be a number (seconds), got {default!r}")
    first = np.full(record.n_neurons, float(default))
    # record is sorted by time: the first occurrence of a neuron is its first spike
    uniq, idx = np.unique(record.neurons, return_index=True)
    first[uniq] = record.times[idx]
    return first[neurons]
