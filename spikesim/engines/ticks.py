"""Exact time: integer ticks of one picosecond (the event engine's clock; docs/model.md).

Ties are part of the spiking model (simultaneous arrivals are summed before the threshold
test; an arrival at exactly ``t_spike + t_ref`` is no longer refractory). They must hold
for the coincidences the user's numbers mean (delays on a grid, paths of equal total
delay), not only when float64 sums happen to round alike: ``(t0 + 0.0005) + 0.0017`` and
``(t0 + 0.0002) + 0.002`` differ by one ulp for many ``t0``. So the event engine, the STDP
traces built on it and the slow references carry every time as an integer number of ticks
of ``TICK = 1e-12`` s and add them exactly:

* a time ``x`` (seconds) given by the user (an input spike, a delay, a refractory period,
  the trial's duration, a voltage sample) is ``to_ticks(x) = rint(x * 1e12)`` (float64
  product, then round half to even), so decimal values with at most 12 digits after the
  point in seconds are exact;
* an arrival is ``ticks(spike) + ticks(delay)``, a refractory end ``ticks(spike) +
  ticks(t_ref)``: integer sums, so equal totals are equal;
* a time the engine reports is ``from_ticks(n) = n / 1e12`` (float64, correctly rounded).
  ``to_ticks(from_ticks(n)) == n`` for every ``n < 2**51``, i.e. up to ``MAX_TIME`` (about
  2251 s): the reported float64 times carry the ticks exactly, so a consumer (eligibility,
  a rule's trace) recovers them with :func:`to_ticks`. Input spikes are reported on the
  same clock (within 0.5 ps of the given times), so a spike and the arrival it causes
  through a zero delay are reported at the same time.

Decays between events use the float difference ``(n2 - n1) / 1e12`` seconds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikesim.errors import ValidationError

__all__ = [
    "MAX_TICKS",
    "MAX_TIME",
    "TICK",
    "TICKS_PER_SECOND",
    "check_time_range",
    "from_ticks",
    "to_ticks",
]

#: Ticks per second (the engine's time resolution is one picosecond).
TICKS_PER_SECOND = 10**12
#: One tick, seconds.
TICK = 1e-12
#: Largest tick count whose float64 seconds round-trip exactly (2**51).
MAX_TICKS = 2**51
#: Longest trial (seconds) the tick clock represents exactly.
MAX_TIME = MAX_TICKS / TICKS_PER_SECOND
#: Cap on a delay's or refractory period's ticks (longer ones never end within a trial),
#: so that a spike's ticks plus a delay never overflow int64.
CAP_TICKS = 2**61
#: "No refractory period yet" (below every time).
NEVER = -(2**62)

_TPS = 1e12  # float64 form of TICKS_PER_SECOND, exact


def to_ticks(seconds) -> np.ndarray:
    """Seconds (float, any shape) to int64 ticks: ``rint(seconds * 1e12)``, capped at
    ``CAP_TICKS`` (a longer delay or refractory period never ends within a trial).

    A stride-0 1-d view (a network's uniform delays) gives a stride-0 view of its one
    value's ticks (no memory per element)."""
    arr = np.asarray(seconds, dtype=np.float64)
    if arr.ndim == 1 and arr.size > 1 and arr.strides == (0,):
        return np.broadcast_to(to_ticks(arr[:1]), arr.shape)
    x = np.rint(arr * _TPS)
    return np.minimum(x, float(CAP_TICKS)).astype(np.int64)


def from_ticks(ticks) -> np.ndarray:
    """Int64 ticks to float64 seconds, ``n / 1e12`` correctly rounded."""
    return np.asarray(ticks, dtype=np.int64).astype(np.float64) / _TPS


@njit(cache=True, nogil=True)
def tick_of(x):
    """One time (seconds, float64) to ticks inside a Numba kernel (as :func:`to_ticks`)."""
    return np.int64(min(np.rint(x * _TPS), 2.0**61))


@njit(cache=True, nogil=True)
def seconds_of(n):
    """Ticks to seconds inside a Numba kernel (as :func:`from_ticks`)."""
    return np.float64(n) / _TPS


@njit(cache=True, nogil=True)
def ticks_of(buf):
    """An array of times (seconds) to ticks inside a Numba kernel."""
    out = np.empty(buf.shape[0], np.int64)
    for p in range(buf.shape[0]):
        out[p] = tick_of(buf[p])
    return out


def check_time_range(duration: float) -> None:
    """Refuse a trial longer than the tick clock represents exactly (``MAX_TIME``)."""
    if not duration <= MAX_TIME:
        raise ValidationError(
            f"duration {duration!r} s exceeds {MAX_TIME:.1f} s, the longest trial the exact "
            f"engines' 1 ps clock represents (2**51 ticks); split the simulation into trials"
        )
