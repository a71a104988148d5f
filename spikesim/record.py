"""Spike records: what an engine returns, and how input spikes are given to it."""

from __future__ import annotations

from typing import final

import numpy as np
from numba import njit

from spikesim.errors import ValidationError

__all__ = ["SpikeRecord", "check_input_spikes"]


_KEEP = object()  # SpikeRecord.replace: the attribute is not changed


@final
class SpikeRecord:
    """Every spike of one trial, input neurons included, in two views of the same spikes.

    ``times`` / ``neurons`` list the spikes sorted by (time, neuron); :meth:`csr` and
    :meth:`trains` group them by neuron (each neuron's times sorted). A record is built from
    either view (``SpikeRecord(times, neurons, ...)`` or :meth:`from_csr`, which is how the
    event engine returns its spikes: the kernel computes them neuron by neuron); the other
    view is computed on first use and kept. :meth:`counts`, :meth:`spikes_of` and
    :meth:`trains` of a record built by neuron never sort by time. Read-only.

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

    __slots__ = (
        "_times",
        "_neurons",
        "_ptr",
        "_by_neuron",
        "n_neurons",
        "duration",
        "voltage",
        "voltage_neurons",
        "voltage_times",
    )

    def __init__(
        self,
        times: np.ndarray,
        neurons: np.ndarray,
        n_neurons: int,
        duration: float,
        voltage: np.ndarray | None = None,
        voltage_neurons: np.ndarray | None = None,
        voltage_times: np.ndarray | None = None,
    ):
        self._store(
            times, neurons, None, None, n_neurons, duration, voltage, voltage_neurons, voltage_times
        )

    @classmethod
    def from_csr(
        cls,
        ptr: np.ndarray,
        times: np.ndarray,
        n_neurons: int,
        duration: float,
        voltage: np.ndarray | None = None,
        voltage_neurons: np.ndarray | None = None,
        voltage_times: np.ndarray | None = None,
    ) -> SpikeRecord:
        """A record from spikes grouped by neuron, the inverse of :meth:`csr`.

        Parameters
        ----------
        ptr : ndarray of int64, shape (n_neurons + 1,)
            Neuron ``k``'s spikes are ``times[ptr[k]:ptr[k + 1]]``; ``ptr[0] = 0``.
        times : ndarray of float64, shape (ptr[-1],)
            Spike times in seconds, sorted within each neuron.
        n_neurons, duration, voltage, voltage_neurons, voltage_times
            As for the class.

        Returns
        -------
        SpikeRecord
            Whose ``times`` / ``neurons`` (sorted by time, neuron) are computed on first use.

        Raises
        ------
        ValidationError
            If ``ptr`` does not have ``n_neurons + 1`` entries that bound ``times``.
        """
        ptr = np.asarray(ptr)
        times = np.asarray(times)
        if (
            ptr.ndim != 1
            or ptr.shape[0] != int(n_neurons) + 1
            or ptr[0] != 0
            or ptr[-1] != times.shape[0]
        ):
            raise ValidationError(
                f"csr ptr must have n_neurons + 1 = {int(n_neurons) + 1} entries from 0 to "
                f"len(times) = {times.shape[0]}, got shape {ptr.shape}"
            )
        self = object.__new__(cls)
        self._store(
            None, None, ptr, times, n_neurons, duration, voltage, voltage_neurons, voltage_times
        )
        return self

    def _store(
        self,
        times,
        neurons,
        ptr,
        by_neuron,
        n_neurons,
        duration,
        voltage,
        voltage_neurons,
        voltage_times,
    ):
        put = object.__setattr__
        put(self, "_times", times)
        put(self, "_neurons", neurons)
        put(self, "_ptr", ptr)
        put(self, "_by_neuron", by_neuron)
        put(self, "n_neurons", n_neurons)
        put(self, "duration", duration)
        put(self, "voltage", voltage)
        put(self, "voltage_neurons", voltage_neurons)
        put(self, "voltage_times", voltage_times)

    def replace(
        self,
        *,
        times=_KEEP,
        neurons=_KEEP,
        n_neurons=_KEEP,
        duration=_KEEP,
        voltage=_KEEP,
        voltage_neurons=_KEEP,
        voltage_times=_KEEP,
    ) -> SpikeRecord:
        """A new record with the given attributes changed (records are read-only), built by
        time; nothing is checked (:meth:`validate` does that)."""

        def pick(new, old):
            return old if new is _KEEP else new

        return SpikeRecord(
            times=pick(times, self.times),
            neurons=pick(neurons, self.neurons),
            n_neurons=pick(n_neurons, self.n_neurons),
            duration=pick(duration, self.duration),
            voltage=pick(voltage, self.voltage),
            voltage_neurons=pick(voltage_neurons, self.voltage_neurons),
            voltage_times=pick(voltage_times, self.voltage_times),
        )

    def __setattr__(self, name, value):
        raise AttributeError(f"SpikeRecord is read-only: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"SpikeRecord is read-only: cannot delete {name!r}")

    def __reduce__(self):
        return (
            _restore_record,
            (
                self._times,
                self._neurons,
                self._ptr,
                self._by_neuron,
                self.n_neurons,
                self.duration,
                self.voltage,
                self.voltage_neurons,
                self.voltage_times,
            ),
        )

    @property
    def times(self) -> np.ndarray:
        """Spike times in seconds, sorted by (time, neuron), shape (n_spikes,)."""
        if self._times is None and self._ptr is not None and self._neurons is None:
            self._time_view()
        return self._times

    @property
    def neurons(self) -> np.ndarray:
        """Neuron of each spike of :attr:`times`, shape (n_spikes,)."""
        if self._neurons is None and self._ptr is not None and self._times is None:
            self._time_view()
        return self._neurons

    def _time_view(self) -> None:
        t, nn = _time_order_from_csr(
            np.ascontiguousarray(self._ptr, np.int64),
            np.ascontiguousarray(self._by_neuron, np.float64),
        )
        object.__setattr__(self, "_neurons", nn)
        object.__setattr__(self, "_times", t)

    def _neuron_view(self) -> tuple[np.ndarray, np.ndarray]:
        if self._ptr is None:
            order = np.argsort(self._neurons, kind="stable")
            ptr = np.zeros(self.n_neurons + 1, np.int64)
            np.cumsum(np.bincount(self._neurons, minlength=self.n_neurons), out=ptr[1:])
            object.__setattr__(self, "_by_neuron", np.ascontiguousarray(self._times[order]))
            object.__setattr__(self, "_ptr", ptr)
        return self._ptr, self._by_neuron

    def __repr__(self) -> str:
        """A one-line summary (sizes, not the arrays): spikes, neurons, duration, voltages."""
        rate = (
            self.n_spikes / (self.n_neurons * self.duration)
            if self.n_neurons and self.duration > 0
            else 0.0
        )
        text = (
            f"SpikeRecord({self.n_spikes} spikes, {self.n_neurons} neurons, "
            f"duration={self.duration:g} s, mean rate {rate:.3g} Hz"
        )
        if self.voltage is not None:
            n_rec, n_samples = np.shape(self.voltage)
            text += f", voltage of {n_rec} neurons x {n_samples} samples"
        return text + ")"

    @property
    def n_spikes(self) -> int:
        if self._times is not None:
            return int(self._times.shape[0])
        return int(self._by_neuron.shape[0])

    def counts(self) -> np.ndarray:
        """Spike count of every neuron, shape (n_neurons,)."""
        if self._ptr is not None:
            return np.diff(self._ptr).astype(np.int64)
        return np.bincount(self._neurons, minlength=self.n_neurons)

    def spikes_of(self, neuron: int) -> np.ndarray:
        """Sorted spike times (seconds) of one neuron (a copy)."""
        if self._ptr is not None and 0 <= neuron < self.n_neurons:
            return self._by_neuron[self._ptr[neuron] : self._ptr[neuron + 1]].copy()
        return self.times[self.neurons == neuron]

    def trains(self) -> list[np.ndarray]:
        """Spike times of every neuron: a list of ``n_neurons`` sorted arrays."""
        ptr, t = self._neuron_view()
        return [t[ptr[k] : ptr[k + 1]] for k in range(self.n_neurons)]

    def validate(self) -> SpikeRecord:
        """Check every invariant of the record; return it unchanged.

        Engines build valid records; this is for records from elsewhere (a file, hand-made
        arrays): float64 times in ``[0, duration)``, non-decreasing, int64 neurons in
        ``[0, n_neurons)``, ties ordered by neuron, consistent voltage shapes.

        Raises
        ------
        ValidationError
            Naming the first broken invariant.
        """
        return _validate_record(self)

    def to_neo(self, neurons=None) -> list:
        """Spike trains as Neo ``SpikeTrain`` objects, so Elephant's analyses apply.

        Needs the optional dependency ``neo`` (``pip install 'spikesim[neo]'``).

        Parameters
        ----------
        neurons : array_like of int, optional
            Neurons to convert (default: all ``n_neurons``, in index order).

        Returns
        -------
        list of neo.SpikeTrain
            One train per neuron of ``neurons``, in that order: times in seconds (float64,
            sorted, equal to :meth:`spikes_of`), ``t_start = 0 s``, ``t_stop = duration``
            seconds, ``name = "neuron <k>"`` and ``annotations = {"neuron": k}``. Wrap them
            in ``neo.Segment`` (``seg.spiketrains.extend(trains)``) to build a Neo block.

        Raises
        ------
        ImportError
            If ``neo`` is not installed (the message says how to install it).
        ValidationError
            If a neuron of ``neurons`` does not exist.
        """
        try:
            import neo
            import quantities as pq
        except ImportError:
            raise ImportError(
                "SpikeRecord.to_neo needs the optional dependency 'neo'; install it with "
                "pip install 'spikesim[neo]'"
            ) from None
        if neurons is None:
            sel = np.arange(self.n_neurons)
        else:
            sel = _check_neuron_ids(neurons, self.n_neurons, "neurons")
        trains = self.trains()
        return [
            neo.SpikeTrain(
                trains[k] * pq.s,
                t_start=0.0 * pq.s,
                t_stop=float(self.duration) * pq.s,
                name=f"neuron {k}",
                neuron=int(k),
            )
            for k in sel.tolist()
        ]

    def to_nwb(self, path, *, network=None, session_description="spikesim simulation", info=None):
        """Write the record to an NWB file (needs the extra ``nwb``: ``pip install
        'spikesim[nwb]'``); :func:`spikesim.nwb.write_nwb` says what it holds.

        Parameters
        ----------
        path : path-like
            Destination ``.nwb`` file.
        network : Network, optional
            The simulated network (layer labels, parameters, edges).
        session_description : str
        info : dict, optional
            JSON-serialisable run metadata.

        Returns
        -------
        Path
        """
        from spikesim.nwb import write_nwb

        return write_nwb(
            path, self, network=network, session_description=session_description, info=info
        )

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Spike times grouped by neuron: ``(ptr (n_neurons+1,), times (n_spikes,))``, the
        form :meth:`from_csr` takes; each neuron's times sorted."""
        ptr, t = self._neuron_view()
        return ptr.copy(), t.copy()


def _restore_record(times, neurons, ptr, by_neuron, n_neurons, duration, voltage, vn, vt):
    """Unpickle a :class:`SpikeRecord` (its ``__reduce__``)."""
    rec = object.__new__(SpikeRecord)
    rec._store(times, neurons, ptr, by_neuron, n_neurons, duration, voltage, vn, vt)
    return rec


@njit(cache=True, nogil=True)
def _stable_argsort(a):
    """Stable argsort of ``a`` (1-D float or int array): a bucket pass on the value range, then an
    insertion sort that only moves elements within their bucket. O(n) for spread-out
    values; falls back to merge sort when the insertion work grows past 8 n. Equal values
    keep their original order, so the result equals ``argsort(a, kind="mergesort")``."""
    k = a.shape[0]
    idx = np.empty(k, np.int64)
    if k == 0:
        return idx
    lo = a[0]
    hi = a[0]
    for p in range(k):
        if a[p] < lo:
            lo = a[p]
        if a[p] > hi:
            hi = a[p]
    if hi == lo:
        for p in range(k):
            idx[p] = p
        return idx
    scale = (k - 1) / (hi - lo)
    cnt = np.zeros(k + 1, np.int64)
    for p in range(k):
        cnt[int((a[p] - lo) * scale) + 1] += 1
    for b in range(k):
        cnt[b + 1] += cnt[b]
    for p in range(k):
        b = int((a[p] - lo) * scale)
        idx[cnt[b]] = p
        cnt[b] += 1
    moves = 0
    for p in range(1, k):
        x = idx[p]
        ax = a[x]
        q = p - 1
        while q >= 0 and a[idx[q]] > ax:
            idx[q + 1] = idx[q]
            q -= 1
            moves += 1
        idx[q + 1] = x
        if moves > 8 * k:
            return np.argsort(a, kind="mergesort")
    return idx


@njit(cache=True, nogil=True)
def _time_order_from_csr(ptr, by_neuron):
    """Spikes grouped by neuron (``ptr`` (n + 1,), ``by_neuron`` (n_spikes,)) to (times,
    neurons) sorted by (time, neuron): a stable sort by time of the neuron-ordered spikes
    (:func:`_stable_argsort`, O(n_spikes) for spread-out times), the order of
    ``np.lexsort((neurons, times))``."""
    total = by_neuron.shape[0]
    idx = _stable_argsort(by_neuron)
    times = np.empty(total)
    neurons = np.empty(total, np.int64)
    owner = np.empty(total, np.int64)
    for j in range(ptr.shape[0] - 1):
        for s in range(ptr[j], ptr[j + 1]):
            owner[s] = j
    for p in range(total):
        times[p] = by_neuron[idx[p]]
        neurons[p] = owner[idx[p]]
    return times, neurons


def _as_array(name: str, value) -> np.ndarray:
    """``np.asarray`` that turns ragged or non-numeric input into a ValidationError."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be an array of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise ValidationError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def _as_float_vector(name: str, value) -> np.ndarray:
    """A float64 vector (n,) from numeric input (bool, int, float; any shape is raveled)."""
    arr = _as_array(name, value)
    if arr.dtype.kind == "b":
        raise ValidationError(f"{name} must be numbers, got booleans")
    return arr.astype(np.float64).ravel()


def _check_duration(duration) -> float:
    if isinstance(duration, bool) or not isinstance(
        duration, int | float | np.integer | np.floating
    ):
        raise ValidationError(f"duration must be a positive number of seconds, got {duration!r}")
    d = _finite_float(duration)
    if d is None or d <= 0:
        raise ValidationError(f"duration must be a positive number of seconds, got {duration!r}")
    return d


def _finite_float(value) -> float | None:
    """``float(value)`` if it is a finite real number (not bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if np.isfinite(f) else None


def _check_neuron_ids(neurons, n_neurons: int, name: str) -> np.ndarray:
    """Validate neuron ids: integers in ``[0, n_neurons)``; int64 of the input's shape (0-d/1-d)."""
    arr = _as_array(name, neurons)
    if arr.ndim > 1:
        raise ValidationError(f"{name} must be a 1-d list of neuron ids, got shape {arr.shape}")
    shape = arr.shape
    arr = arr.ravel()
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)  # compare in float64: no overflow warnings (float16)
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            pass
        else:
            raise ValidationError(
                f"{name} must be integer neuron ids, got {arr.dtype} values such as {arr.flat[0]!r}"
            )
    if arr.size and arr.dtype.kind == "f" and np.any(np.abs(arr) >= 2.0**62):
        k = int(np.flatnonzero(np.abs(arr) >= 2.0**62)[0])
        raise ValidationError(f"{name} contains {arr[k].item()!r}, which is not a neuron")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValidationError(f"{name} contains {arr.max()!r}, which is not a neuron")
    out = arr.astype(np.int64)
    bad = np.flatnonzero((out < 0) | (out >= n_neurons))
    if bad.size:
        raise ValidationError(
            f"{name} contains {out[bad[0]]}, which is not a neuron (n_neurons = {n_neurons})"
        )
    return out.reshape(shape)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} of shape {value.shape}"
    return f"a {type(value).__name__}"


def _validate_record(rec: SpikeRecord) -> SpikeRecord:
    n = rec.n_neurons
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValidationError(f"record n_neurons must be a positive integer, got {n!r}")
    from spikesim.graph import MAX_NEURONS

    if n > MAX_NEURONS:
        raise ValidationError(f"record n_neurons = {n} is more than the limit {MAX_NEURONS}")
    d = _finite_float(rec.duration)
    if d is None or d <= 0:
        raise ValidationError(
            f"record duration must be a positive number of seconds, got {rec.duration!r}"
        )
    t, k = rec.times, rec.neurons
    if not isinstance(t, np.ndarray) or t.dtype != np.float64 or t.ndim != 1:
        raise ValidationError(
            f"record times must be a float64 array of shape (n_spikes,), got {_describe(t)}"
        )
    if not isinstance(k, np.ndarray) or k.dtype != np.int64 or k.shape != t.shape:
        raise ValidationError(
            f"record neurons must be an int64 array of shape {t.shape}, got {_describe(k)}"
        )
    bad = np.flatnonzero(~np.isfinite(t) | (t < 0) | (t >= d))
    if bad.size:
        raise ValidationError(
            f"record spike time {bad[0]} is {t[bad[0]].item()!r}; must be in [0, {d!r}) s"
        )
    bad = np.flatnonzero((k < 0) | (k >= n))
    if bad.size:
        raise ValidationError(
            f"record spike {bad[0]} is from neuron {k[bad[0]]}, which does not exist "
            f"(n_neurons = {n})"
        )
    if t.size > 1:
        dt = np.diff(t)
        bad = np.flatnonzero((dt < 0) | ((dt == 0) & (np.diff(k) < 0)))
        if bad.size:
            raise ValidationError(
                f"record spikes {bad[0]} and {bad[0] + 1} are out of (time, neuron) order"
            )
    v, vn, vt = rec.voltage, rec.voltage_neurons, rec.voltage_times
    if v is None and vn is None and vt is None:
        return rec
    if v is None or vn is None or vt is None:
        raise ValidationError(
            "record voltage, voltage_neurons and voltage_times must be given together"
        )
    if not isinstance(vn, np.ndarray) or vn.ndim != 1 or vn.dtype.kind not in "iu":
        raise ValidationError("record voltage_neurons must be a 1-d integer array")
    _check_neuron_ids(vn, n, "record voltage_neurons")
    if not isinstance(vt, np.ndarray) or vt.ndim != 1 or vt.dtype.kind != "f":
        raise ValidationError("record voltage_times must be a 1-d float array (seconds)")
    if not isinstance(v, np.ndarray) or v.shape != (vn.size, vt.size) or v.dtype.kind != "f":
        raise ValidationError(
            f"record voltage must be a float array of shape {(vn.size, vt.size)}, got "
            f"{_describe(v)}"
        )
    return rec


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
    duration = _check_duration(duration)
    if input_spikes is None:
        return np.zeros(0), np.zeros(0, np.int64)
    n_neurons = getattr(network, "n_neurons", None)
    is_input = getattr(network, "is_input", None)
    if not isinstance(n_neurons, int) or not isinstance(is_input, np.ndarray):
        raise ValidationError(f"network must be a spikesim.Network, got {type(network).__name__}")
    try:
        times, neurons = input_spikes
    except (TypeError, ValueError):
        raise ValidationError(
            "input_spikes must be a pair (times, neurons) of equal-length arrays"
        ) from None
    if (
        isinstance(times, np.ndarray)
        and isinstance(neurons, np.ndarray)
        and times.dtype == np.float64
        and neurons.dtype == np.int64
        and times.ndim == 1
        and times.shape == neurons.shape
    ):  # the common case in one compiled pass; any problem: the checks below say which
        t, nn, ok = _check_sort_fast(times, neurons, is_input, duration)
        if ok:
            return t, nn
    times = _as_float_vector("input spike times", times)
    neurons_raw = _as_array("input spike neurons", neurons).ravel()
    if times.shape != neurons_raw.shape:
        raise ValidationError(
            f"input spike times and neurons differ in length: {times.size} vs {neurons_raw.size}"
        )
    if not np.all(np.isfinite(times)):
        k = int(np.flatnonzero(~np.isfinite(times))[0])
        raise ValidationError(f"input spike time {k} is {times[k].item()!r}; times must be finite")
    if np.any(times < 0):
        k = int(np.flatnonzero(times < 0)[0])
        raise ValidationError(f"input spike time {k} is negative ({times[k].item()!r} s)")
    neurons = _check_neuron_ids(neurons_raw, n_neurons, "input spike neurons")
    bad = np.flatnonzero(~is_input[neurons])
    if bad.size:
        raise ValidationError(
            f"input spike for neuron {neurons[bad[0]]}, which is not an input neuron"
        )
    keep = times < duration
    times, neurons = times[keep], neurons[keep]
    order = _neuron_time_order(times, neurons, n_neurons)
    if order.size != times.size:  # many spikes of one neuron far out of order
        order = np.lexsort((times, neurons))
    return times[order], neurons[order]


@njit(cache=True, nogil=True)
def _check_sort_fast(times, neurons, is_input, duration):
    """:func:`check_input_spikes` on float64 times and int64 neurons in one pass: returns
    the kept spikes sorted by (neuron, time) and True, or empty arrays and False if any
    spike is invalid or the sort needs ``np.lexsort`` (the caller then takes the slow
    path, which names the problem)."""
    k = times.shape[0]
    n = is_input.shape[0]
    keep = 0
    in_order = True  # already sorted by (neuron, time), as the encoders give them
    for p in range(k):
        t = times[p]
        j = neurons[p]
        if not (t >= 0.0 and t <= np.inf) or t == np.inf or j < 0 or j >= n or not is_input[j]:
            return np.zeros(0), np.zeros(0, np.int64), False
        if t < duration:
            keep += 1
        if p > 0 and (j < neurons[p - 1] or (j == neurons[p - 1] and t < times[p - 1])):
            in_order = False
    if in_order and keep == k:  # nothing to drop or move: the stable sort is the identity
        return times.copy(), neurons.copy(), True
    kt = np.empty(keep)
    kn = np.empty(keep, np.int64)
    q = 0
    for p in range(k):
        if times[p] < duration:
            kt[q] = times[p]
            kn[q] = neurons[p]
            q += 1
    order = _neuron_time_order(kt, kn, n)
    if order.shape[0] != keep:
        return np.zeros(0), np.zeros(0, np.int64), False
    ot = np.empty(keep)
    on = np.empty(keep, np.int64)
    for p in range(keep):
        ot[p] = kt[order[p]]
        on[p] = kn[order[p]]
    return ot, on, True


@njit(cache=True, nogil=True)
def _neuron_time_order(times, neurons, n_neurons):
    """The permutation sorting spikes by (neuron, time), stable: a counting sort by neuron,
    then an insertion sort by time within each neuron (the same permutation as
    ``np.lexsort((times, neurons))``, in O(n + n_neurons) for inputs nearly in order within
    each neuron, e.g. the Poisson encoder's). Returns an empty array if the insertion work
    grows past 8 n (the caller then uses ``np.lexsort``)."""
    k = times.shape[0]
    cnt = np.zeros(n_neurons + 1, np.int64)
    for p in range(k):
        cnt[neurons[p] + 1] += 1
    for j in range(n_neurons):
        cnt[j + 1] += cnt[j]
    seg = cnt.copy()
    idx = np.empty(k, np.int64)
    for p in range(k):
        j = neurons[p]
        idx[cnt[j]] = p
        cnt[j] += 1
    moves = 0
    for j in range(n_neurons):
        a = seg[j]
        for p in range(a + 1, seg[j + 1]):
            x = idx[p]
            tx = times[x]
            q = p - 1
            while q >= a and times[idx[q]] > tx:
                idx[q + 1] = idx[q]
                q -= 1
                moves += 1
            idx[q + 1] = x
        if moves > 8 * k + 64:
            return np.empty(0, np.int64)
    return idx
