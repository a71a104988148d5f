"""Dopamine-modulated STDP with the dynamics of NEST's ``stdp_dopamine_synapse`` as a
:class:`Rule`.

E. M. Izhikevich (2007), "Solving the distal reward problem through linkage of STDP and
dopamine signaling", Cerebral Cortex 17:2443-2452 (eqs. 1-2); W. Potjans, A. Morrison and
M. Diesmann (2010), "Enabling functional neural circuit simulations with distributed
computing of neuromodulated plasticity", Front. Comput. Neurosci. 4:141 (the event-based
closed-form integration NEST implements). For a synapse with presynaptic events ``a`` and
postsynaptic events ``p`` (as the synapse sees them):

    dK+/dt = -K+ / tau_plus  + sum_a delta(t - a)          (pre trace, jumps +1)
    dK-/dt = -K- / tau_minus + sum_p delta(t - p)          (post trace, jumps +1)
    dc/dt  = -c / tau_c + A_plus K+(t) sum_p delta(t - p)
                        - A_minus K-(t) sum_a delta(t - a)  (eligibility)
    dn/dt  = -n / tau_n + sum_d m_d delta(t - d) / tau_n    (dopamine; m_d: multiplicity)
    dw/dt  = c (n - b),  w clipped to [w_min, w_max]        (NEST's Wmin, Wmax)

``K+`` and ``K-`` in the jumps are the values just before the event (a pre and a post event
at the same time do not pair in NEST). Between events ``c`` and ``n`` decay exponentially
and the weight change over an interval of length ``h`` starting with ``c0, n0`` is, in
closed form (Potjans et al. 2010; NEST's ``update_weight_``), with ``tau_s = tau_c tau_n /
(tau_c + tau_n)``:

    Delta w = c0 [ n0 tau_s (1 - exp(-h / tau_s)) - b tau_c (1 - exp(-h / tau_c)) ].

:func:`synapse_weights` integrates these dynamics for arbitrary event trains (the function
checked against NEST itself in ``tests/test_rule_dopamine_nest.py``). NEST's defaults
(``A_plus = 1``, ``A_minus = 1.5``, ``tau_plus = 20 ms``, ``tau_c = 1000 ms``, ``tau_n =
200 ms``, ``b = 0``, ``Wmin = 0``, ``Wmax = 200``; the post trace uses the post neuron's
``tau_minus``, 20 ms for NEST's ``iaf_psc_alpha``) are the defaults here. Units: seconds
(NEST: ms); ``b`` is in 1/s (NEST's ``b`` is in 1/ms: ``b_here = 1000 b_NEST``).

Trial-based reading (this module's choices):

- Presynaptic events are *arrivals* at the post neuron, ``a = t_pre + d_e``, counted if
  ``0 <= a < duration``; post events are all of ``j``'s spikes of the trial. (NEST treats
  the delay as dendritic: the synapse sees the pre spike at ``t_pre`` and the post spike at
  ``t_post + d``; given the event times at the synapse the dynamics are the same.) An
  arrival and a post spike at the same time: the arrival is processed first, so the pair
  counts as pre-before-post (as in SH and :mod:`spikesim.plasticity.mstdpet`; spikesim's
  engines emit the spike an arrival causes at the arrival's time, which NEST's grid never
  does). This is the one place where the trial rule departs from NEST.
- ``K+``, ``K-``, ``c`` and ``n`` are 0 at the start of every trial, and no dopamine comes
  during the trial. The trial's reward ``r = -(L - L_bar)`` arrives as one dopamine event of
  multiplicity ``-s`` (``s = learning_rate_k (L - L_bar)``, the trainer's signal: positive
  when the loss was worse than the baseline) at ``t_r = duration + reward_delay``, i.e. ``n``
  jumps by ``-s / tau_n``. The weight change is integrated from ``t_r`` over
  ``reward_window`` seconds (``inf``: to infinity, in closed form):

      Delta w_e = c_e(t_r) [ -s (tau_s / tau_n) (1 - exp(-W / tau_s))
                             - b tau_c (1 - exp(-W / tau_c)) ],

  with ``c_e(t_r) = c_e(T) exp(-reward_delay / tau_c)``; then clipped to ``[w_min, w_max]``.
  The ``b`` term is integrated over the window only (the trial and the reward delay, where
  ``n = 0``, would add ``-b int c dt``; with NEST's default ``b = 0`` this is exact). A
  zero signal is no dopamine event and changes nothing (the ``b`` term included).
- Inhibitory edges (as in :mod:`spikesim.plasticity.mstdpet`): the network learns weight
  magnitudes with fixed signs ``sign_e``; the rule's trace is ``sign_e c_e(t_r)`` and the
  update acts on the magnitude so that the *signed* weight follows ``dW = c (n - b)``.
- Christensen-Kallsen presentations: the trainer's ``noise_scale`` multiplies ``tau_plus``
  and ``tau_minus``; ``tau_c`` and ``tau_n`` are not scaled.

The rule keeps no state across trials (:class:`DopamineState` is empty).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from numba import njit

from spikesim.engines.ticks import from_ticks, seconds_of, tick_of, ticks_of, to_ticks
from spikesim.errors import ValidationError
from spikesim.plasticity.base import Rule, register_rule

_LATE = 2**62  # ticks: "no more events" (after every arrival and spike)

__all__ = ["DopamineKernel", "DopamineSTDP", "DopamineState", "synapse_weights"]


class DopamineKernel(NamedTuple):
    """The rule's parameters as the kernels read them (seconds; STDP windows already
    multiplied by the trainer's Christensen-Kallsen noise scale)."""

    tau_plus: float
    tau_minus: float
    A_plus: float
    A_minus: float
    tau_c: float
    tau_n: float
    b: float
    reward_delay: float
    reward_window: float
    w_min: float
    w_max: float


class DopamineState(NamedTuple):
    """No per-edge state between trials (all traces restart at 0)."""


_NUMBERS = (
    "tau_plus", "tau_minus", "A_plus", "A_minus", "tau_c", "tau_n", "b",
    "reward_delay", "reward_window", "w_min", "w_max",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DopamineSTDP(Rule):
    """NEST's ``stdp_dopamine_synapse`` (Izhikevich 2007; Potjans et al. 2010), the trial's
    reward delivered as one dopamine event ``reward_delay`` after the trial.

    See the module docstring for the equations.

    Parameters
    ----------
    tau_plus, tau_minus : float
        Pre and post trace time constants, s, > 0 (NEST: 20 ms; ``tau_minus`` is the post
        neuron's in NEST).
    A_plus, A_minus : float
        Eligibility jumps per post spike (times ``K+``) and per arrival (times ``K-``),
        >= 0 (NEST: 1, 1.5).
    tau_c, tau_n : float
        Eligibility and dopamine time constants, s, > 0 (NEST: 1 s, 0.2 s).
    b : float
        Dopamine baseline, 1/s (NEST: 0; NEST's ``b`` is per ms).
    reward_delay : float
        Time from the end of the trial to the dopamine event, s, >= 0.
    reward_window : float
        Integration window of ``dw`` after the dopamine event, s, > 0 (``inf``: closed form
        to infinity).
    w_min, w_max : float
        Clipping of the weight magnitudes, ``0 <= w_min <= w_max`` (NEST: 0, 200).
    """

    tau_plus: float = dataclasses.field(
        default=0.02, metadata={"doc": "pre trace K+ time constant, s (NEST: 20 ms)"}
    )
    tau_minus: float = dataclasses.field(
        default=0.02, metadata={"doc": "post trace K- time constant, s (NEST: 20 ms)"}
    )
    A_plus: float = dataclasses.field(
        default=1.0, metadata={"doc": "c jump per post spike, times K+ (NEST: 1)"}
    )
    A_minus: float = dataclasses.field(
        default=1.5, metadata={"doc": "c drop per arrival, times K- (NEST: 1.5)"}
    )
    tau_c: float = dataclasses.field(
        default=1.0, metadata={"doc": "eligibility c time constant, s (NEST: 1000 ms)"}
    )
    tau_n: float = dataclasses.field(
        default=0.2, metadata={"doc": "dopamine n time constant, s (NEST: 200 ms)"}
    )
    b: float = dataclasses.field(
        default=0.0, metadata={"doc": "dopamine baseline, 1/s (NEST: 0, per ms there)"}
    )
    reward_delay: float = dataclasses.field(
        default=0.0, metadata={"doc": "dopamine event this long after the trial, s"}
    )
    reward_window: float = dataclasses.field(
        default=np.inf,
        metadata={"doc": "dw integrated this long after the dopamine event, s (1e9: to inf)",
                  "config_default": 1e9},
    )  # fmt: skip
    w_min: float = dataclasses.field(default=0.0, metadata={"doc": "weight floor (NEST Wmin)"})
    w_max: float = dataclasses.field(
        default=200.0, metadata={"doc": "weight ceiling (NEST Wmax: 200)"}
    )

    name = "dopamine-stdp"
    signal = "scalar"
    State = DopamineState

    def validate(self) -> None:
        for key in _NUMBERS:
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValidationError(f"rule.{key} must be a number, got {v!r}")
            if np.isnan(v):
                raise ValidationError(f"rule.{key} must be a number, got {v!r}")
        for key in ("tau_plus", "tau_minus", "tau_c", "tau_n"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v > 0):
                raise ValidationError(f"rule.{key} must be positive, got {v!r}")
        if not self.reward_window > 0:
            raise ValidationError(
                f"rule.reward_window must be positive, got {self.reward_window!r}"
            )
        for key in ("A_plus", "A_minus", "reward_delay"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v >= 0):
                raise ValidationError(f"rule.{key} must be a non-negative number, got {v!r}")
        if not np.isfinite(self.b):
            raise ValidationError(f"rule.b must be finite, got {self.b!r}")
        if not 0.0 <= self.w_min <= self.w_max:
            raise ValidationError(
                f"rule.w_min and rule.w_max must satisfy 0 <= w_min <= w_max, "
                f"got {self.w_min!r}, {self.w_max!r}"
            )

    def kernel_params(self, *, noise_scale: float = 1.0) -> DopamineKernel:
        window = float(self.reward_window)
        if window >= 1e9:
            window = np.inf
        return DopamineKernel(
            float(self.tau_plus) * float(noise_scale),
            float(self.tau_minus) * float(noise_scale),
            float(self.A_plus),
            float(self.A_minus),
            float(self.tau_c),
            float(self.tau_n),
            float(self.b),
            float(self.reward_delay),
            window,
            float(self.w_min),
            float(self.w_max),
        )

    def weight_bounds(self) -> tuple[float, float]:
        return float(self.w_min), float(self.w_max)

    def init_state(self, n_edges: int) -> DopamineState:
        return DopamineState()

    def trace_reference(self, network, record, *, noise_scale: float = 1.0) -> np.ndarray:
        """``sign_e c_e(t_r)`` of every edge by integrating the ODEs event by event (pure
        Python): arrivals and post spikes in one time-sorted list (an arrival first at a
        tie), ``K+``, ``K-`` and ``c`` decayed exactly between events, ``c`` then decayed to
        ``t_r = duration + reward_delay``."""
        kp = self.kernel_params(noise_scale=noise_scale)
        trains = [[int(n) for n in to_ticks(tr)] for tr in record.trains()]
        T = float(record.duration)
        end = int(to_ticks(T))
        out = np.zeros(network.n_edges)
        for e in range(network.n_edges):
            d = int(to_ticks(network.delay[e]))  # exact time: integer ticks
            events = [(t + d, 0) for t in trains[int(network.pre[e])]]
            events = [ev for ev in events if ev[0] < end]
            events += [(t, 1) for t in trains[int(network.post[e])]]
            events.sort()
            events = [(float(from_ticks(t)), kind) for t, kind in events]
            k_plus = k_minus = c = 0.0
            now = 0.0
            for t, kind in events:
                dt = t - now
                k_plus *= math.exp(-dt / kp.tau_plus)
                k_minus *= math.exp(-dt / kp.tau_minus)
                c *= math.exp(-dt / kp.tau_c)
                now = t
                if kind == 0:  # arrival: depression by K-, then K+ jumps
                    c -= kp.A_minus * k_minus
                    k_plus += 1.0
                else:  # post spike: facilitation by K+, then K- jumps
                    c += kp.A_plus * k_plus
                    k_minus += 1.0
            c *= math.exp(-(T + kp.reward_delay - now) / kp.tau_c)
            out[e] = float(network.sign[e]) * c
        return out


@njit(cache=True, nogil=True)
def _weight_factor(kp, signal):
    """``Delta w / c(t_r)`` for a dopamine event of multiplicity ``-signal`` at ``t_r``."""
    tau_s = kp.tau_c * kp.tau_n / (kp.tau_c + kp.tau_n)
    n0 = -signal / kp.tau_n
    W = kp.reward_window
    return n0 * tau_s * (-np.expm1(-W / tau_s)) - kp.b * kp.tau_c * (-np.expm1(-W / kp.tau_c))


@njit(cache=True, nogil=True)
def _edge_c(kp, tbuf, i0, ni, d, j0, nj, duration, end):
    """``c(t_r)`` of one edge: arrivals ``tbuf[i0:i0+ni] + d`` (those before ``end``)
    merged with the post spikes ``tbuf[j0:j0+nj]``, each jump of ``c`` decayed to ``t_r``.
    Times are exact ticks (the spikes', the delay's, the duration's;
    :mod:`spikesim.engines.ticks`), converted to seconds for the decays."""
    t_r = duration + kp.reward_delay
    c = 0.0
    k_plus = 0.0  # K+ just after the last arrival, at t_plus
    t_plus = 0.0
    k_minus = 0.0  # K- just after the last post spike, at t_minus
    t_minus = 0.0
    a = 0
    p = 0
    while True:
        ka = tbuf[i0 + a] + d if a < ni else _LATE
        if ka >= end:
            ka = _LATE
        kpost = tbuf[j0 + p] if p < nj else _LATE
        if ka == _LATE and kpost == _LATE:
            break
        if ka <= kpost:  # an arrival (first at a tie)
            ta = seconds_of(ka)
            km = k_minus * np.exp(-(ta - t_minus) / kp.tau_minus)
            c -= kp.A_minus * km * np.exp(-(t_r - ta) / kp.tau_c)
            k_plus = k_plus * np.exp(-(ta - t_plus) / kp.tau_plus) + 1.0
            t_plus = ta
            a += 1
        else:
            tp = seconds_of(kpost)
            kpl = k_plus * np.exp(-(tp - t_plus) / kp.tau_plus)
            c += kp.A_plus * kpl * np.exp(-(t_r - tp) / kp.tau_c)
            k_minus = k_minus * np.exp(-(tp - t_minus) / kp.tau_minus) + 1.0
            t_minus = tp
            p += 1
    return c


@njit(cache=True, nogil=True)
def _dopamine_trace(kp, net, spikes, duration, out):
    """``out[e] = sign_e c_e(t_r)`` for every edge, shape (n_edges,)."""
    start, count, buf = spikes.start, spikes.count, spikes.buf
    in_ptr, in_edges, pre, sign = net.in_ptr, net.in_edges, net.pre, net.sign
    delay = net.delay_ticks
    tbuf = ticks_of(buf)
    end = tick_of(duration)
    out[:] = 0.0
    for j in range(in_ptr.shape[0] - 1):
        for q in range(in_ptr[j], in_ptr[j + 1]):
            e = in_edges[q]
            i = pre[e]
            c = _edge_c(kp, tbuf, start[i], count[i], delay[e], start[j], count[j], duration, end)
            out[e] = sign[e] * c


@njit(cache=True, nogil=True)
def _dopamine_update(kp, ks, w, E, signal, lo, hi):
    """``w_e <- clip(w_e + F(signal) E_e, w_min, w_max)`` on edges ``lo:hi``, with ``F`` the
    closed-form weight change per unit eligibility (module docstring); returns ``sum_e |F
    E_e|`` over the range (before clipping, weight units)."""
    if signal == 0.0:  # no dopamine event: no update (the b term runs from the event)
        return 0.0
    f = _weight_factor(kp, signal)
    if f == 0.0:
        return 0.0
    total = 0.0
    ws = w[lo:hi]
    Es = E[lo:hi]
    for i in range(ws.shape[0]):
        dw = f * Es[i]
        total += abs(dw)
        v = ws[i] + dw
        if v < kp.w_min:
            v = kp.w_min
        elif v > kp.w_max:
            v = kp.w_max
        ws[i] = v
    return total


def synapse_weights(
    rule: DopamineSTDP, pre, post, dopamine, w0: float, times, *, ties: str = "nest"
) -> np.ndarray:
    """The weight of one synapse at ``times`` under the full dynamics (pure Python, closed
    form between events, as NEST's ``stdp_dopamine_synapse``).

    Parameters
    ----------
    rule : DopamineSTDP
        Parameters (``reward_delay`` and ``reward_window`` are not used).
    pre, post, dopamine : array_like of float
        Event times at the synapse, s: presynaptic, postsynaptic, dopamine (multiplicity 1
        each; repeat a time for a larger one).
    w0 : float
        Initial weight.
    times : array_like of float, shape (k,)
        Sorted read-out times, s.
    ties : {"nest", "arrival-first"}
        A pre and a post event at the same time: ``"nest"``: they do not pair (NEST: the
        facilitation of the post event reads ``K+`` before the pre spike, the depression
        of the pre spike reads ``K-`` strictly before ``t``); ``"arrival-first"``: the pre
        event is processed first, so the pair counts as pre-before-post (the trial rule's
        order, see the module docstring).

    Returns
    -------
    ndarray, shape (k,)
        The weight at each time (after the events at that time). Dopamine events at the
        time of a pre or post event come first (NEST processes the dopamine spikes up to
        ``t`` before the event at ``t``). The weight is clipped to ``[w_min, w_max]`` at
        every event; NEST also clips at every volume-transmitter update (each
        ``deliver_interval``), which differs only when ``dw/dt = c (n - b)`` changes sign
        between events at a bound.
    """
    if ties not in ("nest", "arrival-first"):
        raise ValidationError(f"ties must be 'nest' or 'arrival-first', got {ties!r}")
    kp = rule.kernel_params()
    tau_s = kp.tau_c * kp.tau_n / (kp.tau_c + kp.tau_n)
    groups: dict[float, list[int]] = {}
    for kind, train in enumerate((dopamine, post, pre)):
        for t in train:
            groups.setdefault(float(t), [0, 0, 0, 0])[kind] += 1
    for t in times:
        groups.setdefault(float(t), [0, 0, 0, 0])[3] += 1
    k_plus = k_minus = c = n = 0.0
    w = float(w0)
    now = min(0.0, min(groups)) if groups else 0.0
    out = []
    for t in sorted(groups):
        n_dopa, n_post, n_pre, n_read = groups[t]
        h = t - now
        if h > 0:
            w -= c * (
                n * tau_s * math.expm1(-h / tau_s) - kp.b * kp.tau_c * math.expm1(-h / kp.tau_c)
            )
            w = min(max(w, kp.w_min), kp.w_max)
            k_plus *= math.exp(-h / kp.tau_plus)
            k_minus *= math.exp(-h / kp.tau_minus)
            c *= math.exp(-h / kp.tau_c)
            n *= math.exp(-h / kp.tau_n)
            now = t
        n += n_dopa / kp.tau_n
        if ties == "nest":  # both read the traces from before t
            c += n_post * kp.A_plus * k_plus - n_pre * kp.A_minus * k_minus
        else:  # the arrival first: the post event sees its K+ jump
            c += n_post * kp.A_plus * (k_plus + n_pre) - n_pre * kp.A_minus * k_minus
        k_plus += n_pre
        k_minus += n_post
        out.extend([w] * n_read)
    return np.array(out)


register_rule(DopamineSTDP, _dopamine_trace, _dopamine_update, DopamineKernel)
