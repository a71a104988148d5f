"""Florian's MSTDPET (Florian 2007) as a :class:`Rule`: reward-modulated STDP with an
eligibility trace, the reward applied once at the end of the trial.

R. V. Florian (2007), "Reinforcement learning through modulation of spike-timing-dependent
synaptic plasticity", Neural Computation 19:1468-1502, section "MSTDP with eligibility
trace" (written from the paper as recalled; the equation numbers are not quoted). For a
synapse from ``i`` to ``j``, with ``Phi_i`` and ``Phi_j`` the spike trains (sums of delta
pulses) of the presynaptic arrivals and of the postsynaptic neuron:

    dP+/dt = -P+ / tau_plus  + A_plus  Phi_i(t)        (pre trace, jumps +A_plus)
    dP-/dt = -P- / tau_minus - A_minus Phi_j(t)        (post trace, jumps -A_minus)
    zeta(t) = P+(t) Phi_j(t) + P-(t) Phi_i(t)           (the STDP pulses)
    dz/dt  = -z / tau_z + zeta(t)                       (eligibility trace)
    dW/dt  = gamma r(t) z(t)                            (MSTDPET)

Florian writes the depression amplitude as ``A_- < 0`` (``P-`` jumps by ``A_-``); here
``A_minus = -A_-  > 0``. His simulations used ``tau_+ = tau_- = 20 ms``, ``A_+ = 1``,
``A_- = -1`` and ``tau_z = 25 ms`` (the defaults below); his learning rates ``gamma``
depended on the experiment and are replaced here by the trainer's ``learning_rate`` times
``gamma_scale``.

Trial-based reading (this module's choices):

- Presynaptic events are *arrivals* at the post neuron, ``tau = t_pre + d_e`` (as in SH),
  counted if ``0 <= tau < duration``; post spikes are all of ``j``'s spikes of the trial.
  An arrival and a post spike at the same time: the arrival is processed first (a spike
  the arrival causes is after it, as in SH), so the pair counts as pre-before-post.
- All traces start at 0 at the start of every trial; the trace of the trial is the
  eligibility at its end, ``z(T)`` (``T = duration``):

      z_e(T) = sum_{a <= p} A_plus exp(-(p - a)/tau_plus) exp(-(T - p)/tau_z)
             - sum_{p < a} A_minus exp(-(a - p)/tau_minus) exp(-(T - a)/tau_z)

  over the edge's arrivals ``a`` and the post neuron's spikes ``p``.
- The reward is one pulse at the end of the trial, ``r = -(L - L_bar)``; with the
  trainer's learning signal ``s = learning_rate_k (L - L_bar)`` (SH's sign convention:
  positive when the loss was worse than the baseline) the update is additive,

      w_e <- clip(w_e - gamma_scale * s * sign_e * z_e(T), w_min, w_max)

  (``sign_e``: see inhibitory edges below).

- Inhibitory edges. The network learns weight *magnitudes* ``w >= 0`` with fixed signs
  ``sign_e`` (the signed weight is ``W_e = sign_e w_e``); Florian's rule is written for
  the signed weight (an arrival's effect on the potential is proportional to ``W``, so
  ``z`` is the eligibility of ``W`` whatever its sign). The update acts on the magnitude
  so that the signed weight follows Florian's ``dW``: the rule's per-trial trace is
  ``sign_e z_e(T)`` and ``Delta w_e = -gamma_scale s sign_e z_e(T)``, i.e. ``Delta W_e =
  -gamma_scale s z_e(T) = gamma r z_e(T)``. An inhibitory edge whose arrivals precede
  rewarded post spikes thus loses magnitude (its inhibition weakens). With E/I pairs the
  pair's effective weight ``w_plus - w_minus`` moves by twice Florian's ``dW``.
- Christensen-Kallsen presentations: the trainer's ``noise_scale`` multiplies the STDP
  windows ``tau_plus`` and ``tau_minus`` (as SH's ``c`` is divided by it); ``tau_z`` is
  not scaled.

The rule has no state carried across trials (:class:`MSTDPETState` is empty).
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

__all__ = ["MSTDPET", "MSTDPETKernel", "MSTDPETState"]


class MSTDPETKernel(NamedTuple):
    """MSTDPET's parameters as the kernels read them (time constants in seconds, the STDP
    windows already multiplied by the trainer's Christensen-Kallsen noise scale)."""

    tau_plus: float
    tau_minus: float
    A_plus: float
    A_minus: float
    tau_z: float
    gamma_scale: float
    w_min: float
    w_max: float


class MSTDPETState(NamedTuple):
    """MSTDPET keeps no per-edge state between trials (all traces restart at 0)."""


_NUMBERS = ("tau_plus", "tau_minus", "A_plus", "A_minus", "tau_z", "gamma_scale", "w_min", "w_max")


@dataclasses.dataclass(frozen=True)
class MSTDPET(Rule):
    """Florian's (2007) MSTDP with eligibility trace, the reward applied at the trial's end.

    See the module docstring for the equations.

    Parameters
    ----------
    tau_plus, tau_minus : float
        Time constants of the pre trace ``P+`` and the post trace ``P-``, seconds, > 0
        (Florian: 20 ms each).
    A_plus, A_minus : float
        Jump of ``P+`` at an arrival and (downwards) of ``P-`` at a post spike, >= 0
        (Florian: ``A_+ = 1``, ``A_- = -1``, i.e. ``A_minus = 1``).
    tau_z : float
        Time constant of the eligibility trace ``z``, seconds, > 0 (Florian: 25 ms).
    gamma_scale : float
        Factor of the update (Florian's ``gamma`` is ``learning_rate * gamma_scale``), > 0.
    w_min, w_max : float
        Clipping of the weight magnitudes, ``0 <= w_min <= w_max``.
    """

    tau_plus: float = dataclasses.field(
        default=0.02, metadata={"doc": "pre trace P+ time constant, s (Florian: 0.02)"}
    )
    tau_minus: float = dataclasses.field(
        default=0.02, metadata={"doc": "post trace P- time constant, s (Florian: 0.02)"}
    )
    A_plus: float = dataclasses.field(
        default=1.0, metadata={"doc": "P+ jump at each arrival, >= 0 (Florian: 1)"}
    )
    A_minus: float = dataclasses.field(
        default=1.0, metadata={"doc": "P- drop at each post spike, >= 0 (Florian: A_- = -1)"}
    )
    tau_z: float = dataclasses.field(
        default=0.025, metadata={"doc": "eligibility trace z time constant, s (Florian: 0.025)"}
    )
    gamma_scale: float = dataclasses.field(
        default=1.0,
        metadata={"doc": "update factor: dw = -learning_rate (L - L_bar) gamma_scale z"},
    )
    w_min: float = dataclasses.field(default=0.0, metadata={"doc": "weight floor"})
    w_max: float = dataclasses.field(
        default=np.inf, metadata={"doc": "weight ceiling", "config_default": 1e9}
    )

    name = "mstdpet"
    signal = "scalar"
    State = MSTDPETState

    def validate(self) -> None:
        for key in _NUMBERS:
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValidationError(f"rule.{key} must be a number, got {v!r}")
            if np.isnan(v):
                raise ValidationError(f"rule.{key} must be a number, got {v!r}")
        for key in ("tau_plus", "tau_minus", "tau_z", "gamma_scale"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v > 0):
                raise ValidationError(f"rule.{key} must be positive, got {v!r}")
        for key in ("A_plus", "A_minus"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v >= 0):
                raise ValidationError(f"rule.{key} must be a non-negative number, got {v!r}")
        if not 0.0 <= self.w_min <= self.w_max:
            raise ValidationError(
                f"rule.w_min and rule.w_max must satisfy 0 <= w_min <= w_max, "
                f"got {self.w_min!r}, {self.w_max!r}"
            )

    def kernel_params(self, *, noise_scale: float = 1.0) -> MSTDPETKernel:
        return MSTDPETKernel(
            float(self.tau_plus) * float(noise_scale),
            float(self.tau_minus) * float(noise_scale),
            float(self.A_plus),
            float(self.A_minus),
            float(self.tau_z),
            float(self.gamma_scale),
            float(self.w_min),
            float(self.w_max),
        )

    def weight_bounds(self) -> tuple[float, float]:
        return float(self.w_min), float(self.w_max)

    def init_state(self, n_edges: int) -> MSTDPETState:
        return MSTDPETState()

    def trace_reference(self, network, record, *, noise_scale: float = 1.0) -> np.ndarray:
        """``sign_e z_e(T)`` of every edge, ``z`` by integrating Florian's ODEs event by event (pure
        Python): the edge's arrivals and post spikes in one time-sorted list (an arrival
        before a post spike at the same time), ``P+``, ``P-`` and ``z`` decayed exactly
        between consecutive events, then ``z`` decayed to the end of the trial."""
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
            p_plus = p_minus = z = 0.0
            now = 0.0
            for t, kind in events:
                dt = t - now
                p_plus *= math.exp(-dt / kp.tau_plus)
                p_minus *= math.exp(-dt / kp.tau_minus)
                z *= math.exp(-dt / kp.tau_z)
                now = t
                if kind == 0:  # arrival: zeta pulse P-, then P+ jumps
                    z += p_minus
                    p_plus += kp.A_plus
                else:  # post spike: zeta pulse P+, then P- drops
                    z += p_plus
                    p_minus -= kp.A_minus
            out[e] = float(network.sign[e]) * z * math.exp(-(T - now) / kp.tau_z)
        return out


@njit(cache=True, nogil=True)
def _edge_z(kp, tbuf, i0, ni, d, j0, nj, duration, end):
    """``z(T)`` of one edge: arrivals ``tbuf[i0:i0+ni] + d`` (those before ``end``)
    merged with the post spikes ``tbuf[j0:j0+nj]``, each STDP pulse weighted by its decay
    ``exp(-(T - t)/tau_z)`` to the end of the trial. Times are exact ticks (``tbuf``: the
    spikes', ``d``, ``end``: the delay's and the duration's; :mod:`spikesim.engines.ticks`),
    converted to seconds for the decays."""
    z = 0.0
    p_plus = 0.0  # P+ just after the last arrival, at time t_plus
    t_plus = 0.0
    p_minus = 0.0  # P- just after the last post spike, at time t_minus
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
        ta = seconds_of(ka)
        tp = seconds_of(kpost)
        if ka <= kpost:  # an arrival (first at a tie)
            pm = p_minus * np.exp(-(ta - t_minus) / kp.tau_minus)
            z += pm * np.exp(-(duration - ta) / kp.tau_z)
            p_plus = p_plus * np.exp(-(ta - t_plus) / kp.tau_plus) + kp.A_plus
            t_plus = ta
            a += 1
        else:
            pp = p_plus * np.exp(-(tp - t_plus) / kp.tau_plus)
            z += pp * np.exp(-(duration - tp) / kp.tau_z)
            p_minus = p_minus * np.exp(-(tp - t_minus) / kp.tau_minus) - kp.A_minus
            t_minus = tp
            p += 1
    return z


@njit(cache=True, nogil=True)
def _mstdpet_trace(kp, net, spikes, duration, out):
    """``out[e] = sign_e z_e(T)`` for every edge (shape (n_edges,)): for each neuron its incoming
    edges, each edge's arrivals merged with the neuron's spikes (cost: the edge's arrivals
    plus its post neuron's spikes, per edge)."""
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
            z = _edge_z(kp, tbuf, start[i], count[i], delay[e], start[j], count[j], duration, end)
            out[e] = sign[e] * z


@njit(cache=True, nogil=True)
def _mstdpet_update(kp, ks, w, E, signal, lo, hi):
    """``w_e <- clip(w_e - gamma_scale * signal * E_e, w_min, w_max)`` on edges ``lo:hi``
    (``E_e = sign_e z_e``); returns ``sum_e |gamma_scale * signal * E_e|`` over the range
    (the absolute change before clipping, weight units: the rule is additive), 0 and no
    change if the signal is 0."""
    a = kp.gamma_scale * signal
    if a == 0.0:
        return 0.0
    total = 0.0
    ws = w[lo:hi]  # slices indexed from 0 (see rule.apply_update)
    Es = E[lo:hi]
    for i in range(ws.shape[0]):
        dw = -a * Es[i]
        total += abs(dw)
        v = ws[i] + dw
        if v < kp.w_min:
            v = kp.w_min
        elif v > kp.w_max:
            v = kp.w_max
        ws[i] = v
    return total


register_rule(MSTDPET, _mstdpet_trace, _mstdpet_update, MSTDPETKernel)
