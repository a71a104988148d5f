"""Weight and node perturbation as :class:`~spikesim.plasticity.base.Rule` s: the textbook
zero-order methods (weight perturbation: the dynamics Schmidt-Hieber's eq. (4.5)
describes; node perturbation: :class:`NodePerturbation` below).

Weight perturbation.

Each trial runs with every learned weight perturbed multiplicatively by independent noise,

    w'_e = w_e exp(sigma xi_e),     xi_e ~ N(0, 1) iid over edges and trials,

so magnitudes stay positive and the signed weight is ``sign_e w'_e``. The trial's loss
``L(w')`` against the baseline ``L_bar`` (the trainer's: any of its baselines, and
Christensen-Kallsen presentations, each presentation with fresh noise) gives the update in
the log-weights ``theta = log w``,

    theta_e <- theta_e - clip((s / sigma) xi_e, -max_step, max_step),
    s = alpha_k (L - L_bar)

(the trainer's learning signal, SH's sign convention), then ``w`` is clipped to ``[w_min,
w_max]``. The step limit ``max_step`` (log units; default 0.5, a factor e^0.5 per trial) is
a safeguard in the role of SH's ``max_change``: it keeps one outlier trial from sending a
weight to 0 or infinity and is inactive at useful learning rates.

To first order in ``sigma``, ``L(w') - L(w) = sigma xi . grad_theta L``, and ``E[xi xi^T] =
I``, so with ``L_bar = L(w)`` the expected step is
``-alpha grad_theta L(w)``: gradient descent on the loss as a function of the log-weights,
estimated from one evaluation per trial (SH eq. 4.5 writes the same zero-order dynamics
for the log-weights with the spike-time noise in the role of ``xi``; here the noise is
drawn, not the network's own). Any constant baseline leaves the step unbiased; a good one
(``same-sample`` with presentations, CK eq. 3.1) removes most of its variance.

The per-trial trace is the noise ``xi`` itself (drawn by the perturb kernel before the
trial from the trainer's per-trial seed, :func:`~spikesim.plasticity.base.trial_seed`);
the trial's spikes add nothing to it. Evaluation trials run unperturbed. Every learned
edge, in any layer, is perturbed and updated: hidden layers need nothing more.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from numba import njit

from spikesim.engines.ticks import from_ticks, seconds_of, tick_of, to_ticks
from spikesim.errors import ValidationError
from spikesim.plasticity.base import Rule, register_rule

__all__ = [
    "NodePerturbation",
    "NodePerturbationKernel",
    "WeightPerturbation",
    "WeightPerturbationKernel",
    "WeightPerturbationState",
]


class WeightPerturbationKernel(NamedTuple):
    """The kernels' parameters: noise scale ``sigma`` (of log w) and the weight bounds."""

    sigma: float
    max_step: float
    w_min: float
    w_max: float


class WeightPerturbationState(NamedTuple):
    """No per-edge state is carried between trials."""


@dataclasses.dataclass(frozen=True)
class WeightPerturbation(Rule):
    """Multiplicative weight perturbation (see the module docstring for the equations).

    Parameters
    ----------
    sigma : float
        Standard deviation of the log-weight perturbation, > 0 (0.05: weights perturbed by
        about 5%).
    max_step : float
        Largest change of one log-weight in one update, > 0.
    w_min, w_max : float
        Clipping of the weight magnitudes after each update, ``0 <= w_min <= w_max``.
    """

    sigma: float = dataclasses.field(
        default=0.05, metadata={"doc": "std of the log-weight perturbation w' = w exp(sigma xi)"}
    )
    max_step: float = dataclasses.field(
        default=0.5, metadata={"doc": "largest change of a log-weight per update, > 0"}
    )
    w_min: float = dataclasses.field(default=0.0, metadata={"doc": "weight floor"})
    w_max: float = dataclasses.field(
        default=np.inf, metadata={"doc": "weight ceiling", "config_default": 1e9}
    )

    name = "weight-perturbation"
    signal = "scalar"
    separable = True  # the update reads signal * trace only
    State = WeightPerturbationState
    perturbs = "weights"

    def validate(self) -> None:
        for key in ("sigma", "max_step", "w_min", "w_max"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValidationError(f"rule.{key} must be a number, got {v!r}")
            if np.isnan(v):
                raise ValidationError(f"rule.{key} must be a number, got {v!r}")
        for key in ("sigma", "max_step"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v > 0):
                raise ValidationError(f"rule.{key} must be positive, got {v!r}")
        if not 0.0 <= self.w_min <= self.w_max:
            raise ValidationError(
                f"rule.w_min and rule.w_max must satisfy 0 <= w_min <= w_max, "
                f"got {self.w_min!r}, {self.w_max!r}"
            )

    def kernel_params(self, *, noise_scale: float = 1.0) -> WeightPerturbationKernel:
        """The noise is the rule's own, not spike-time noise: ``noise_scale`` is ignored."""
        return WeightPerturbationKernel(
            float(self.sigma), float(self.max_step), float(self.w_min), float(self.w_max)
        )

    def weight_bounds(self) -> tuple[float, float]:
        return float(self.w_min), float(self.w_max)

    def init_state(self, n_edges: int) -> WeightPerturbationState:
        return WeightPerturbationState()

    def trace_reference(self, network, record, *, noise_scale: float = 1.0) -> np.ndarray:
        """The spike-dependent part of the trace: none (the noise is the whole trace)."""
        return np.zeros(network.n_edges)

    def perturbed_reference(self, w, sign, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Slow reference of the perturbation: the noise from ``seed`` (via the same
        generator, drawn one value per edge in edge order) and ``sign * w * exp(sigma xi)``
        computed edge by edge with :mod:`math`."""
        xi = _draws(int(seed), len(w))
        signed = np.array(
            [
                float(s) * float(x) * math.exp(self.sigma * float(z))
                for x, s, z in zip(w, sign, xi, strict=True)
            ]
        )
        return signed, xi


@njit(cache=True)
def _draws(seed, n):
    np.random.seed(seed)
    out = np.empty(n)
    for e in range(n):
        out[e] = np.random.standard_normal()
    return out


@njit(cache=True, nogil=True)
def _wp_perturb(kp, seed, w, sign, E):
    """The trial's noise ``E = xi`` (Numba's generator seeded with ``seed``, one standard
    normal per edge in edge order) and the signed weights ``sign * w * exp(sigma xi)``."""
    np.random.seed(seed)
    m = w.shape[0]
    out = np.empty(m)
    for e in range(m):
        z = np.random.standard_normal()
        E[e] = z
        out[e] = sign[e] * (w[e] * np.exp(kp.sigma * z))
    return out


@njit(cache=True, nogil=True)
def _wp_trace(kp, net, spikes, duration, out):
    """No spike-dependent trace: ``out`` keeps the noise the perturb kernel wrote."""
    return


@njit(cache=True, nogil=True)
def _wp_update(kp, ks, w, E, signal, lo, hi):
    """``log w_e -= clip((signal / sigma) xi_e, +-max_step)`` on edges ``lo:hi``, then
    clipping to ``[w_min, w_max]``; returns ``sum_e |signal xi_e / sigma|`` (before the step
    limit) over the range (SH's relative-change measure, in log units)."""
    if signal == 0.0:
        return 0.0
    a = signal / kp.sigma
    rel = 0.0
    for e in range(lo, hi):
        step = a * E[e]
        rel += abs(step)
        step = min(max(step, -kp.max_step), kp.max_step)
        v = w[e] * np.exp(-step)
        w[e] = min(max(v, kp.w_min), kp.w_max)
    return rel


register_rule(
    WeightPerturbation, _wp_trace, _wp_update, WeightPerturbationKernel, perturb_kernel=_wp_perturb
)


# -- node perturbation -------------------------------------------------------------------------
class NodePerturbationKernel(NamedTuple):
    """The kernels' parameters: noise scale ``sigma`` (of each neuron's log input gain), the
    step limit and the weight bounds."""

    sigma: float
    max_step: float
    w_min: float
    w_max: float


@dataclasses.dataclass(frozen=True)
class NodePerturbation(Rule):
    """Node perturbation (Williams 1992, Machine Learning 8:229; Werfel, Xie & Seung 2005,
    Neural Computation 17:2699; for spiking neurons Fiete & Seung 2006, PRL 97:048104):
    each trial perturbs every neuron's input, and each weight is updated by the correlation
    of its neuron's perturbation with the trial's loss, times its presynaptic activity.

    The perturbation (the documented engine option: a per-trial, per-neuron gain). Every
    non-input neuron ``i`` draws ``xi_i ~ N(0, 1)`` (iid over neurons and trials) and the
    trial runs with all its incoming signed weights multiplied by ``g_i = exp(sigma xi_i)``.
    The potential is linear in the weights and resets to 0, so this is *exactly* a
    threshold ``theta_i / g_i`` for the trial, i.e. a potential offset ``delta_i = theta_i
    (1 - 1/g_i) ~ sigma theta_i xi_i`` (tested: the spikes equal those of the network with
    the thresholds changed). Evaluation trials run unperturbed.

    The estimate. To first order the loss changes by ``sum_i delta_i dL/d delta_i``; so with
    the baseline ``L_bar``, ``E[(L - L_bar) xi_i] = sigma theta_i dL/d delta_i``. A weight
    ``W_ij = sign_ij w_ij`` moves the potential of ``i`` by ``dW_ij x_j(t)``, where
    ``x_j(t) = sum_a exp(-(t - a) / tau_i)`` sums ``j``'s arrivals ``a`` at ``i``; replacing
    ``x_j(t)`` by its trial mean

        X_ij = (1/T) int_0^T x_j dt = (1/T) sum_{a < T} tau_i (1 - exp(-(T - a) / tau_i))

    gives ``dL/dW_ij ~ X_ij dL/d delta_i`` (exact for a potential offset; the
    approximation is that ``W_ij`` acts through ``x_j(t)``, not its mean). The trace is

        E_ij = sign_ij xi_i X_ij / theta_i,

    and, as :class:`WeightPerturbation`, the update descends the log-weights,
    ``d log w_ij = w_ij sign_ij dL/dW_ij``:

        log w_ij <- log w_ij - clip((s / sigma) w_ij E_ij, -max_step, max_step),
        s = alpha_k (L - L_bar)

    then ``w`` is clipped to ``[w_min, w_max]``. One scalar per neuron is drawn (not one per
    weight), so the estimate's variance grows with the number of neurons, not of weights
    (Werfel et al. 2005). Every neuron, hidden or output, is perturbed; edges whose
    presynaptic neuron is silent get no update (``X = 0``).

    Parameters
    ----------
    sigma : float
        Standard deviation of each neuron's log input gain, > 0 (0.1: inputs scaled by about
        10% per trial).
    max_step : float
        Largest change of one log-weight in one update, > 0.
    w_min, w_max : float
        Clipping of the weight magnitudes after each update, ``0 <= w_min <= w_max``.
    """

    sigma: float = dataclasses.field(
        default=0.1, metadata={"doc": "std of each neuron's log input gain g = exp(sigma xi)"}
    )
    max_step: float = dataclasses.field(
        default=0.5, metadata={"doc": "largest change of a log-weight per update, > 0"}
    )
    w_min: float = dataclasses.field(default=0.0, metadata={"doc": "weight floor"})
    w_max: float = dataclasses.field(
        default=np.inf, metadata={"doc": "weight ceiling", "config_default": 1e9}
    )

    name = "node-perturbation"
    signal = "scalar"
    separable = True  # the update reads signal * trace only
    State = WeightPerturbationState
    perturbs = "nodes"

    def validate(self) -> None:
        WeightPerturbation.validate(self)

    def kernel_params(self, *, noise_scale: float = 1.0) -> NodePerturbationKernel:
        """The noise is the rule's own, not spike-time noise: ``noise_scale`` is ignored."""
        return NodePerturbationKernel(
            float(self.sigma), float(self.max_step), float(self.w_min), float(self.w_max)
        )

    def weight_bounds(self) -> tuple[float, float]:
        return float(self.w_min), float(self.w_max)

    def init_state(self, n_edges: int) -> WeightPerturbationState:
        return WeightPerturbationState()

    def trace_reference(self, network, record, *, noise_scale: float = 1.0) -> np.ndarray:
        """The trace of a trial without noise (a zero noise row): zeros. The spike-dependent
        factor ``sign_ij X_ij / theta_i`` is :meth:`activity_reference`."""
        return np.zeros(network.n_edges)

    def activity_reference(self, network, record) -> np.ndarray:
        """``sign_ij X_ij / theta_i`` of every edge, shape (n_edges,), summed arrival by
        arrival with :mod:`math` (slow reference of the trace kernel's factor)."""
        trains = [[int(n) for n in to_ticks(tr)] for tr in record.trains()]
        T = float(record.duration)
        end = int(to_ticks(T))
        out = np.zeros(network.n_edges)
        for e in range(network.n_edges):
            i = int(network.post[e])
            tau = float(network.tau_syn[i])
            d = int(to_ticks(network.delay[e]))  # exact time: integer ticks
            total = 0.0
            for t in trains[int(network.pre[e])]:
                if t + d < end:
                    a = float(from_ticks(t + d))
                    total += tau * (1.0 - math.exp(-(T - a) / tau))
            out[e] = float(network.sign[e]) * total / T / float(network.threshold[i])
        return out

    def perturbed_reference(self, network, w, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Slow reference of the perturbation: one draw per neuron with incoming edges, in
        neuron order (the same generator), ``sign * w * exp(sigma xi_post)`` edge by edge."""
        targets = sorted({int(j) for j in network.post})
        xi = dict(zip(targets, _draws(int(seed), len(targets)), strict=True))
        noise = np.array([xi[int(j)] for j in network.post])
        signed = np.array(
            [
                float(s) * float(x) * math.exp(self.sigma * float(z))
                for x, s, z in zip(w, network.sign, noise, strict=True)
            ]
        )
        return signed, noise


@njit(cache=True, nogil=True)
def _np_perturb(kp, seed, net, w, sign, E):
    """One standard normal ``xi_i`` per neuron with incoming edges (neuron order; Numba's
    generator seeded with ``seed``), written to ``E`` on each incoming edge; returns the
    signed weights ``sign * w * exp(sigma xi_post)``."""
    np.random.seed(seed)
    in_ptr, in_edges = net.in_ptr, net.in_edges
    out = np.empty(w.shape[0])
    for i in range(in_ptr.shape[0] - 1):
        if in_ptr[i + 1] == in_ptr[i]:
            continue
        z = np.random.standard_normal()
        g = np.exp(kp.sigma * z)
        for q in range(in_ptr[i], in_ptr[i + 1]):
            e = in_edges[q]
            E[e] = z
            out[e] = sign[e] * (w[e] * g)
    return out


@njit(cache=True, nogil=True)
def _np_trace(kp, net, spikes, duration, out):
    """``out[e] *= sign_e X_e / theta_post(e)`` (the noise already in ``out``), with
    ``X_e`` the trial mean of the presynaptic PSP trace (class docstring)."""
    start, count, buf = spikes.start, spikes.count, spikes.buf
    in_ptr, in_edges, pre, sign = net.in_ptr, net.in_edges, net.pre, net.sign
    delay = net.delay_ticks
    end = tick_of(duration)
    for i in range(in_ptr.shape[0] - 1):
        tau = net.tau_syn[i]
        scale = 1.0 / (duration * net.threshold[i])
        for q in range(in_ptr[i], in_ptr[i + 1]):
            e = in_edges[q]
            j = pre[e]
            d = delay[e]
            total = 0.0
            for k in range(start[j], start[j] + count[j]):
                ka = tick_of(buf[k]) + d  # exact time: the arrival in ticks
                if ka < end:
                    a = seconds_of(ka)
                    total += tau * (-np.expm1(-(duration - a) / tau))
            out[e] *= sign[e] * total * scale


@njit(cache=True, nogil=True)
def _np_update(kp, ks, w, E, signal, lo, hi):
    """``log w_e -= clip((signal / sigma) w_e E_e, +-max_step)`` on edges ``lo:hi``, then
    clipping to ``[w_min, w_max]``; returns ``sum_e |step_e|`` (before the step limit)."""
    if signal == 0.0:
        return 0.0
    a = signal / kp.sigma
    rel = 0.0
    for e in range(lo, hi):
        step = a * w[e] * E[e]
        rel += abs(step)
        step = min(max(step, -kp.max_step), kp.max_step)
        v = w[e] * np.exp(-step)
        w[e] = min(max(v, kp.w_min), kp.w_max)
    return rel


register_rule(
    NodePerturbation, _np_trace, _np_update, NodePerturbationKernel, perturb_kernel=_np_perturb
)
