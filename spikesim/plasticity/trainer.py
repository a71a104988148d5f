"""The trainer: a thin stateful shell around the pure rule (simulate, eligibility, update).

One trial: the sample's intensities ``x`` become Poisson input spike trains (a fresh draw
every trial: this spike-time noise is what the rule learns from, SH sec. 4), the exact
event engine simulates the network, the output spike counts give the trial's loss, the
kernel of :mod:`spikesim.plasticity.eligibility` gives ``E``, and the weights take one step
of SH eq. (4.1) (:mod:`spikesim.plasticity.rule`). With ``batch = 1`` (default) the whole
trial loop runs inside Numba, trial after trial, exactly as eq. (4.1) prescribes.

``batch = B > 1`` (for several cores): B consecutive trials are simulated in parallel
threads with the *same* weights; their losses, baselines and eligibilities are computed as
usual and their B updates are then applied one after another in trial order (each edge's
factors multiplied in order, so the result does not depend on the number of threads).
It differs from ``batch = 1`` only in that trials 2..B of a batch see weights that are up
to B-1 updates old. Threads take the batch's trials one at a time from a shared counter
(a thread slowed down by other work holds up no one); edges never interact, so the
update is split over the threads by ranges of edges, each range taking the B updates in
trial order.

Randomness. Everything random is derived from the one ``seed``: the sample order (a fresh
permutation of the training set per epoch, ``default_rng([seed, 2, epoch])``), the input
spikes of training chunk ``i`` (``default_rng([seed, 1, i])``) and the evaluation spikes
(``default_rng([seed, 3])``, the same at every evaluation). The trainer's state is
therefore just ``(weights, baseline state, step)``: a run resumed from a checkpoint at a
chunk boundary is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from spikesim.engines.event import _kernel as _simulate_kernel
from spikesim.engines.event import blocks
from spikesim.errors import DivergenceError, ValidationError
from spikesim.plasticity._atomic import fetch_add
from spikesim.plasticity.eligibility import _eligibility_kernel
from spikesim.plasticity.loss import LOSSES, TIE_BREAKS, loss_nb, predict_nb
from spikesim.plasticity.rule import (
    BASELINES,
    SCHEDULES,
    apply_update,
    baseline_observe_nb,
    baseline_value_nb,
    center_nb,
    new_baseline_state,
    schedule_factor,
)

__all__ = ["Trainer"]


@njit(cache=True, nogil=True)
def _input_trains(inputs, n_neurons, counts_row, times, t0):
    """Input spikes of one trial: ``inp_ptr (n_neurons+1,)`` and times sorted per neuron.

    ``counts_row[k]`` spikes of input ``inputs[k]`` (inputs sorted ascending) at the
    (unsorted) times ``times[t0:]``; returns the number of times consumed too.
    """
    n_in = inputs.shape[0]
    cnt = np.zeros(n_neurons, np.int64)
    total = 0
    for k in range(n_in):
        cnt[inputs[k]] = counts_row[k]
        total += counts_row[k]
    ptr = np.zeros(n_neurons + 1, np.int64)
    for j in range(n_neurons):
        ptr[j + 1] = ptr[j] + cnt[j]
    out = times[t0 : t0 + total].copy()
    for k in range(n_in):
        a = ptr[inputs[k]]
        b = ptr[inputs[k] + 1]
        for p in range(a + 1, b):  # insertion sort within the neuron
            x = out[p]
            q = p - 1
            while q >= a and out[q] > x:
                out[q + 1] = out[q]
                q -= 1
            out[q + 1] = x
    return ptr, out, total


@njit(cache=True, nogil=True)
def _forward(net, w_signed, inputs, outputs, counts_row, times, t0, duration):
    """Simulate one trial; returns (start, count, buf, output counts, first spikes, used)."""
    (order, blk, is_input, in_ptr, in_edges, pre, delay, tau, thr, tref) = net
    n = order.shape[0]
    ptr, itimes, used = _input_trains(inputs, n, counts_row, times, t0)
    start, count, buf = _simulate_kernel(
        order,
        blk,
        is_input,
        in_ptr,
        in_edges,
        pre,
        delay,
        w_signed,
        tau,
        thr,
        tref,
        ptr,
        itimes,
        duration,
        np.full(n, -1, np.int64),
        np.zeros(0),
        np.zeros((0, 0)),
    )
    n_out = outputs.shape[0]
    oc = np.empty(n_out)
    first = np.empty(n_out)
    for o in range(n_out):
        j = outputs[o]
        oc[o] = count[j]
        first[o] = buf[start[j]] if count[j] > 0 else np.inf
    return start, count, buf, oc, first, used


@njit(cache=True, nogil=True)
def _train_sequential(
    net,
    w,
    sign,
    inputs,
    outputs,
    samples,
    pres,
    counts,
    times,
    targets,
    labels,
    duration,
    c,
    loss_code,
    rate_scale,
    temperature,
    base_code,
    beta,
    bstate,
    alpha,
    sched_code,
    k0,
    gamma,
    C,
    max_change,
    w_min,
    w_max,
    step0,
    losses,
    preds,
    rel_change,
    shuffle,
    shuf,
    ring,
    ring_n,
    center,
    center_beta,
    e_mean,
    pop,
    tie_code,
    tie_u,
):
    """Train trial after trial (batch = 1). Returns the number of trials done; stops early
    (returning the index of the offending trial) at a non-finite loss."""
    (order, blk, is_input, in_ptr, in_edges, pre, delay, tau, thr, tref) = net
    m = w.shape[0]
    w_signed = np.empty(m)
    for e in range(m):
        w_signed[e] = sign[e] * w[e]
    E = np.empty(m)
    t0 = 0
    for t in range(samples.shape[0]):
        s = samples[t]
        start, count, buf, oc, first, used = _forward(
            net, w_signed, inputs, outputs, counts[t], times, t0, duration
        )
        t0 += used
        L = loss_nb(loss_code, oc, duration, targets[s], labels[s], rate_scale, temperature)
        losses[t] = L
        preds[t] = predict_nb(oc, first, pop, tie_code, tie_u[t])
        if not np.isfinite(L):
            return t
        if shuffle:
            L = _shuffled(L, shuf[t], ring, ring_n)
        if pres[t] > 0:
            Lbar = bstate[0]
        else:
            Lbar = baseline_value_nb(base_code, bstate, s)
        rel_change[t] = 0.0
        if not np.isnan(L) and not np.isnan(Lbar) and L != Lbar:
            a = alpha * schedule_factor(sched_code, step0 + t, k0, gamma) * (L - Lbar) * C
            _eligibility_kernel(
                order,
                blk,
                is_input,
                in_ptr,
                in_edges,
                pre,
                delay,
                start,
                count,
                buf,
                duration,
                c,
                E,
            )
            if center:
                center_nb(E, e_mean, center_beta, 0, m)
            acc = 0.0
            for e in range(m):
                acc += abs(a * E[e])
            rel_change[t] = acc / m
            apply_update(w, E, a, max_change, w_min, w_max, 0, m)
            for e in range(m):
                w_signed[e] = sign[e] * w[e]
        if not np.isnan(L):
            baseline_observe_nb(bstate, s, L, beta)
    return samples.shape[0]


@njit(cache=True, nogil=True)
def _shuffled(L, u, ring, ring_n):
    """Shuffled-reward control: return the loss of a random one of the last ``len(ring)``
    trials (NaN before any) and remember ``L``; ``ring_n[0]`` counts the trials seen."""
    r = ring.shape[0]
    n = ring_n[0]
    out = np.nan if n == 0 else ring[u % min(n, r)]
    ring[n % r] = L
    ring_n[0] = n + 1
    return out


@njit(cache=True, nogil=True)
def _forward_many(
    lo,
    hi,
    want_e,
    spike_counts,
    net,
    w_signed,
    inputs,
    outputs,
    samples,
    counts,
    times,
    offsets,
    targets,
    labels,
    duration,
    c,
    loss_code,
    rate_scale,
    temperature,
    E2,
    losses,
    preds,
    pop,
    tie_code,
    tie_u,
):
    """Trials ``lo:hi`` of a batch with fixed weights: losses, predictions, eligibilities
    (``want_e``) and spike counts (if ``spike_counts`` has rows). The arguments after
    ``spike_counts`` describe the batch; :func:`_forward_worker` takes them as one tuple."""
    (order, blk, is_input, in_ptr, in_edges, pre, delay, tau, thr, tref) = net
    for t in range(lo, hi):
        s = samples[t]
        start, count, buf, oc, first, used = _forward(
            net, w_signed, inputs, outputs, counts[t], times, offsets[t], duration
        )
        losses[t] = loss_nb(loss_code, oc, duration, targets[s], labels[s], rate_scale, temperature)
        preds[t] = predict_nb(oc, first, pop, tie_code, tie_u[t])
        if spike_counts.shape[0] > 0:
            for j in range(count.shape[0]):
                spike_counts[t, j] = count[j]
        if want_e:
            _eligibility_kernel(
                order,
                blk,
                is_input,
                in_ptr,
                in_edges,
                pre,
                delay,
                start,
                count,
                buf,
                duration,
                c,
                E2[t],
            )


@njit(cache=True, nogil=True)
def _batch_factors(
    samples,
    pres,
    losses,
    base_code,
    beta,
    bstate,
    alpha,
    sched_code,
    k0,
    gamma,
    C,
    step0,
    a_out,
    shuffle,
    shuf,
    ring,
    ring_n,
):
    """Baselines and update amplitudes ``a_t = alpha_t (L_t - L_bar_t) C`` of a batch, in
    trial order; returns the index of a non-finite loss or -1."""
    for t in range(samples.shape[0]):
        L = losses[t]
        if not np.isfinite(L):
            return t
        s = samples[t]
        if shuffle:
            L = _shuffled(L, shuf[t], ring, ring_n)
        Lbar = bstate[0] if pres[t] > 0 else baseline_value_nb(base_code, bstate, s)
        a_out[t] = 0.0
        if not np.isnan(L) and not np.isnan(Lbar):
            a_out[t] = alpha * schedule_factor(sched_code, step0 + t, k0, gamma) * (L - Lbar) * C
        if not np.isnan(L):
            baseline_observe_nb(bstate, s, L, beta)
    return -1


@njit(cache=True, nogil=True)
def _abs_sum(x, a, lo, hi):
    """``sum_e |a x_e|`` over ``lo:hi``, in four interleaved partial sums (not one serial
    chain of additions, which would cost a floating-point latency per edge)."""
    xs = x[lo:hi]  # indexed from 0 (see rule.apply_update)
    n = xs.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    for i in range(0, n - 3, 4):
        s0 += abs(a * xs[i])
        s1 += abs(a * xs[i + 1])
        s2 += abs(a * xs[i + 2])
        s3 += abs(a * xs[i + 3])
    for i in range(n - n % 4, n):
        s0 += abs(a * xs[i])
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, nogil=True)
def _update_edges(
    w, w_signed, sign, E2, a, max_change, w_min, w_max, lo, hi, rel, center, center_beta, e_mean
):
    """Apply a batch's updates (SH eq. 4.1) to edges ``lo:hi``, trial after trial.

    Edges never interact, so each edge goes through exactly the operations of the
    sequential loop, in the same order (centring if ``center``, factor, clipping): the
    weights do not depend on how the edges are split into ranges. Afterwards ``w_signed =
    sign * w`` on the range and ``rel[t] = sum_e |a_t E_te|`` over it (0 where ``a_t = 0``).

    Parameters
    ----------
    w, w_signed, sign : ndarray, shape (n_edges,)
        Weight magnitudes (updated in place), signed weights (written), edge signs.
    E2 : ndarray, shape (batch, n_edges)
        The batch's eligibilities (centred in place if ``center``).
    a : ndarray, shape (batch,)
        Update amplitudes ``alpha_t (L_t - L_bar_t) C``; 0 means no update.
    rel : ndarray, shape (batch,)
        Output.
    """
    for t in range(a.shape[0]):
        rel[t] = 0.0
        if a[t] == 0.0:
            continue
        if center:
            center_nb(E2[t], e_mean, center_beta, lo, hi)
        apply_update(w, E2[t], a[t], max_change, w_min, w_max, lo, hi)
        rel[t] = _abs_sum(E2[t], a[t], lo, hi)
    ws, ss, wo = w[lo:hi], sign[lo:hi], w_signed[lo:hi]
    for i in range(ws.shape[0]):
        wo[i] = ss[i] * ws[i]


@njit(cache=True, nogil=True)
def _forward_worker(counter, batch):
    """One thread's share of a batch's trials (fixed weights, eligibilities wanted): takes
    the next trial from the shared ``counter`` until none is left (every trial writes only
    its own slots). ``batch``: the arguments of :func:`_forward_many` after
    ``spike_counts``."""
    no_counts = np.zeros((0, 0), np.int64)
    n = batch[4].shape[0]  # samples
    while True:
        t = fetch_add(counter, 0)
        if t >= n:
            return
        _forward_many(t, t + 1, True, no_counts, *batch)


def _net_tuple(network):
    return (
        network.order,
        blocks(network),
        network.is_input,
        network._in_ptr,
        network._in_edges,
        network.pre,
        network.delay,
        network.tau_syn,
        network.threshold,
        network.t_ref,
    )


class Trainer:
    """Train a spiking network with reward-modulated STDP (SH eq. 4.1).

    Parameters
    ----------
    network : Network
        The network; its ``inputs`` (sorted) receive the columns of ``x``, its ``outputs``
        are decoded.
    x : ndarray, shape (n_samples, n_inputs)
        Training intensities in [0, 1] (one column per input neuron).
    targets : ndarray, shape (n_samples, n_outputs)
        Target output rates in hertz (``mse`` loss).
    labels : ndarray of int, shape (n_samples,)
        Class labels (``cross-entropy`` loss, accuracy); -1 for regression.
    duration : float
        Trial length, seconds.
    max_rate : float
        Input rate (hertz) of an intensity of 1.
    c : float
        STDP rate, 1/s (time constant ``1/c``).
    alpha : float
        Learning rate.
    C : float
        STDP amplitude of eq. (2.1).
    baseline : {"previous", "ema", "per-sample", "same-sample"}
    beta : float
        Averaging weight of the ``ema`` and ``per-sample`` baselines, in (0, 1].
    schedule : {"constant", "inverse", "step"}
    k0, gamma : float
        Schedule parameters (see :func:`spikesim.plasticity.rule.learning_rate`).
    presentations : int
        Christensen-Kallsen: each sample shown this many times in a row (baseline of
        presentations 2..n: the previous presentation's loss).
    ck_noise_scaling : {"sqrt", "none"}
        ``sqrt``: the STDP rate is divided by ``sqrt(presentations)``, so the spread of the
        scaled arrival positions ``U = c (tau - (T_+ + T_-)/2)`` shrinks like
        ``A_n = A / sqrt(n)`` (CK's proof; see the plasticity guide).
    max_change, w_min, w_max : float
        Positivity and clipping of the update (see :mod:`spikesim.plasticity.rule`).
    loss : {"mse", "cross-entropy"}
    rate_scale : float
        Hertz dividing rate errors in ``mse``.
    temperature : float
        Softmax temperature (spikes) of ``cross-entropy``.
    chunk : int
        Trials per chunk (the unit of input-spike generation and of checkpoints).
    batch : int
        Trials simulated in parallel with the same weights (see the module docstring).
    n_threads : int, optional
        Threads for ``batch > 1`` (default: Numba's ``NUMBA_NUM_THREADS``, i.e. the
        number of cores unless that environment variable says otherwise).
    shuffle_reward : bool
        Control: every update uses the loss of a random one of the previous ``chunk``
        trials instead of its own.
    center_eligibility : bool
        Off by default (SH eq. 4.1 as written). On: each edge's eligibility is centred by
        its running mean (:func:`spikesim.plasticity.rule.center_eligibility`).
    center_beta : float
        Averaging weight of that running mean, in (0, 1].
    population : int
        Output neurons per class (classification): ``n_outputs = n_classes * population``,
        class ``c`` owning outputs ``c*population .. c*population+population-1``; the
        prediction sums their counts (:func:`spikesim.plasticity.loss.predict`).
    tie_break : {"first-spike", "random"}
        How tied (and all-silent) trials are decoded (:mod:`spikesim.plasticity.loss`);
        ``random`` draws one uniform per trial from the trial's chunk (or evaluation) seed.
    seed : int
    """

    def __init__(
        self,
        network,
        x,
        targets,
        labels,
        *,
        duration: float = 0.1,
        max_rate: float = 100.0,
        c: float = 100.0,
        alpha: float = 0.01,
        C: float = 1.0,
        baseline: str = "ema",
        beta: float = 0.05,
        schedule: str = "constant",
        k0: float = 1e4,
        gamma: float = 0.5,
        presentations: int = 1,
        ck_noise_scaling: str = "none",
        max_change: float = 0.5,
        w_min: float = 0.0,
        w_max: float = np.inf,
        loss: str = "mse",
        rate_scale: float = 1.0,
        temperature: float = 1.0,
        chunk: int = 1000,
        batch: int = 1,
        n_threads: int | None = None,
        shuffle_reward: bool = False,
        center_eligibility: bool = False,
        center_beta: float = 0.01,
        population: int = 1,
        tie_break: str = "first-spike",
        seed: int = 0,
    ):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != network.inputs.size:
            raise ValidationError(
                f"x must have shape (n_samples, {network.inputs.size}), got {x.shape}"
            )
        if np.any(~np.isfinite(x)) or np.any((x < 0) | (x > 1)):
            raise ValidationError("x must be finite intensities in [0, 1]")
        n = x.shape[0]
        targets = np.ascontiguousarray(targets, dtype=np.float64)
        if targets.shape != (n, network.outputs.size) or not np.all(np.isfinite(targets)):
            raise ValidationError(
                f"targets must be finite rates of shape ({n}, {network.outputs.size}), "
                f"got {targets.shape}"
            )
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        if labels.shape != (n,):
            raise ValidationError(f"labels must have shape ({n},), got {labels.shape}")
        if loss == "cross-entropy" and np.any((labels < 0) | (labels >= network.outputs.size)):
            raise ValidationError("cross-entropy needs labels in 0 .. n_outputs-1")
        for name, value, choices in (
            ("baseline", baseline, BASELINES),
            ("schedule", schedule, SCHEDULES),
            ("loss", loss, LOSSES),
            ("ck_noise_scaling", ck_noise_scaling, ("sqrt", "none")),
        ):
            if value not in choices:
                raise ValidationError(f"{name} = {value!r} is not one of {', '.join(choices)}")
        for name, value in (
            ("duration", duration),
            ("max_rate", max_rate),
            ("c", c),
            ("rate_scale", rate_scale),
            ("temperature", temperature),
            ("k0", k0),
        ):
            if not np.isfinite(value) or value <= 0:
                raise ValidationError(f"{name} must be a positive number, got {value!r}")
        if not 0.0 <= max_change < 1.0:
            raise ValidationError(f"max_change must be in [0, 1), got {max_change!r}")
        if not 0.0 < beta <= 1.0:
            raise ValidationError(f"beta must be in (0, 1], got {beta!r}")
        if not 0.0 < center_beta <= 1.0:
            raise ValidationError(f"center_beta must be in (0, 1], got {center_beta!r}")
        if tie_break not in TIE_BREAKS:
            raise ValidationError(f"tie_break {tie_break!r} is not one of {', '.join(TIE_BREAKS)}")
        if population < 1 or network.outputs.size % population:
            raise ValidationError(
                f"{network.outputs.size} outputs are not a multiple of population {population!r}"
            )
        if presentations < 1 or chunk < 1 or batch < 1:
            raise ValidationError("presentations, chunk and batch must be >= 1")
        if baseline == "same-sample" and presentations < 2:
            raise ValidationError(
                f"baseline = 'same-sample' needs presentations >= 2, got {presentations}"
            )
        if chunk % presentations or chunk % batch:
            raise ValidationError(
                f"chunk ({chunk}) must be a multiple of presentations ({presentations}) "
                f"and of batch ({batch})"
            )
        self.network = network
        self.x, self.targets, self.labels = x, targets, labels
        self.duration, self.max_rate = float(duration), float(max_rate)
        self.c = float(c)
        self.c_eff = self.c / np.sqrt(presentations) if ck_noise_scaling == "sqrt" else self.c
        self.alpha, self.C = float(alpha), float(C)
        self.baseline, self.beta = baseline, float(beta)
        self.schedule, self.k0, self.gamma = schedule, float(k0), float(gamma)
        self.presentations = int(presentations)
        self.max_change, self.w_min, self.w_max = float(max_change), float(w_min), float(w_max)
        self.loss, self.rate_scale, self.temperature = loss, float(rate_scale), float(temperature)
        self.chunk, self.batch = int(chunk), int(batch)
        self.n_threads = int(n_threads or numba.config.NUMBA_NUM_THREADS)
        self.seed = int(seed)
        self.shuffle_reward = bool(shuffle_reward)
        self.center_eligibility = bool(center_eligibility)
        self.center_beta = float(center_beta)
        self.population = int(population)
        self.tie_break = tie_break
        self._net = _net_tuple(network)
        self._sign = network.sign.astype(np.float64)
        self._inputs = np.ascontiguousarray(network.inputs, dtype=np.int64)
        self._outputs = np.ascontiguousarray(network.outputs, dtype=np.int64)
        # state
        self.w = np.array(network.weight, dtype=np.float64)
        self.bstate = new_baseline_state(n)
        self.step = 0
        self.ring = np.zeros(self.chunk)
        self.ring_n = np.zeros(1, np.int64)
        self.e_mean = np.zeros(network.n_edges)
        self._perm_cache: tuple[int, np.ndarray] | None = None
        self._e2: np.ndarray | None = None  # eligibilities of a batch (scratch)

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The complete training state (arrays and the step)."""
        return {
            "w": self.w.copy(),
            "bstate": self.bstate.copy(),
            "step": int(self.step),
            "ring": self.ring.copy(),
            "ring_n": self.ring_n.copy(),
            "e_mean": self.e_mean.copy(),
        }

    def load_state_dict(self, state: dict) -> None:
        w = np.asarray(state["w"], dtype=np.float64)
        if w.shape != self.w.shape:
            raise ValidationError(
                f"checkpoint weights have shape {w.shape}, expected {self.w.shape}"
            )
        self.w = w.copy()
        self.bstate = np.asarray(state["bstate"], dtype=np.float64).copy()
        self.step = int(state["step"])
        self.ring = np.asarray(state["ring"], dtype=np.float64).copy()
        self.ring_n = np.asarray(state["ring_n"], dtype=np.int64).copy()
        if "e_mean" in state:
            self.e_mean = np.asarray(state["e_mean"], dtype=np.float64).copy()
        else:  # a checkpoint from before centred eligibilities existed
            self.e_mean = np.zeros_like(self.w)

    # -- randomness ---------------------------------------------------------------------------
    def _samples(self, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample index and presentation number of global trials ``first .. first+n-1``."""
        trials = np.arange(first, first + n)
        slot = trials // self.presentations
        pres = trials % self.presentations
        n_train = self.x.shape[0]
        if n_train == 1:  # every epoch's permutation is [0]: no generator to build
            return np.zeros(n, np.int64), pres.astype(np.int64)
        out = np.empty(n, np.int64)
        for epoch in np.unique(slot // n_train):
            if self._perm_cache is None or self._perm_cache[0] != epoch:
                rng = np.random.default_rng([self.seed, 2, int(epoch)])
                self._perm_cache = (int(epoch), rng.permutation(n_train))
            sel = slot // n_train == epoch
            out[sel] = self._perm_cache[1][slot[sel] % n_train]
        return out, pres.astype(np.int64)

    def _spikes(self, x_rows: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
        counts = rng.poisson(x_rows * (self.max_rate * self.duration)).astype(np.int64, copy=False)
        times = rng.uniform(0.0, self.duration, int(counts.sum()))
        return counts, times

    def _tie_draws(self, rng, n: int) -> np.ndarray:
        """One uniform per trial for ``random`` ties (drawn after everything else, so the
        other draws, and ``first-spike`` runs, are unchanged)."""
        return rng.random(n) if self.tie_break == "random" else np.zeros(n)

    # -- training -------------------------------------------------------------------------------
    def _codes(self):
        return (
            LOSSES.index(self.loss),
            BASELINES.index(self.baseline),
            SCHEDULES.index(self.schedule),
        )

    def train_chunk(self) -> dict:
        """Run the next chunk of ``chunk`` trials; returns per-trial losses, predictions,
        labels and mean relative weight changes.

        Raises
        ------
        DivergenceError
            A trial's loss is NaN or infinite, or the weights became non-finite (the trainer's
            state is left as it was before the chunk).
        """
        if self.step % self.chunk:
            raise ValidationError(f"step {self.step} is not at a chunk boundary ({self.chunk})")
        ci = self.step // self.chunk
        samples, pres = self._samples(self.step, self.chunk)
        rng = np.random.default_rng([self.seed, 1, ci])
        counts, times = self._spikes(self.x[samples], rng)
        k = self.chunk
        shuf = rng.integers(0, 2**62, k) if self.shuffle_reward else np.zeros(k, np.int64)
        tie_u = self._tie_draws(rng, k)
        ring, ring_n = self.ring.copy(), self.ring_n.copy()
        losses = np.full(k, np.nan)
        preds = np.full(k, -1, np.int64)
        rel = np.zeros(k)
        w = self.w.copy()
        bstate = self.bstate.copy()
        e_mean = self.e_mean.copy()
        loss_code, base_code, sched_code = self._codes()
        if self.batch == 1:
            done = _train_sequential(
                self._net,
                w,
                self._sign,
                self._inputs,
                self._outputs,
                samples,
                pres,
                counts,
                times,
                self.targets,
                self.labels,
                self.duration,
                self.c_eff,
                loss_code,
                self.rate_scale,
                self.temperature,
                base_code,
                self.beta,
                bstate,
                self.alpha,
                sched_code,
                self.k0,
                self.gamma,
                self.C,
                self.max_change,
                self.w_min,
                self.w_max,
                self.step,
                losses,
                preds,
                rel,
                self.shuffle_reward,
                shuf,
                ring,
                ring_n,
                self.center_eligibility,
                self.center_beta,
                e_mean,
                self.population,
                TIE_BREAKS.index(self.tie_break),
                tie_u,
            )
            bad = -1 if done == k else int(done)
        else:
            bad = self._train_batched(
                samples,
                pres,
                counts,
                times,
                w,
                bstate,
                losses,
                preds,
                rel,
                shuf,
                ring,
                ring_n,
                e_mean,
                tie_u,
            )
        if bad >= 0:
            raise DivergenceError(
                f"the loss became {losses[bad]!r} at step {self.step + bad} "
                f"(trial {bad} of the chunk starting at step {self.step})",
                step=self.step + bad,
            )
        if not np.all(np.isfinite(w)):
            raise DivergenceError(
                f"the weights became non-finite in the chunk ending at step {self.step + k}",
                step=self.step + k,
            )
        self.w, self.bstate, self.e_mean = w, bstate, e_mean
        self.ring, self.ring_n = ring, ring_n
        self.step += k
        return {
            "losses": losses,
            "preds": preds,
            "labels": self.labels[samples],
            "rel_change": rel,
        }

    def _train_batched(
        self,
        samples,
        pres,
        counts,
        times,
        w,
        bstate,
        losses,
        preds,
        rel,
        shuf,
        ring,
        ring_n,
        e_mean=None,
        tie_u=None,
    ):
        if e_mean is None:
            e_mean = self.e_mean.copy()
        if tie_u is None:
            tie_u = np.zeros(self.chunk)
        k, b = self.chunk, self.batch
        m = w.shape[0]
        offsets = np.zeros(k, np.int64)
        np.cumsum(counts.sum(axis=1)[:-1], out=offsets[1:])
        if self._e2 is None or self._e2.shape != (b, m):
            self._e2 = np.empty((b, m))  # kept: its pages are not faulted in every chunk
        E2 = self._e2
        a = np.empty(b)
        loss_code, base_code, sched_code = self._codes()
        tie_code = TIE_BREAKS.index(self.tie_break)
        nt = min(self.n_threads, b)
        eb = np.linspace(0, m, nt + 1).astype(np.int64)  # thread q updates edges eb[q]:eb[q+1]
        rel_q = np.zeros((nt, b))
        w_signed = self._sign * w
        counter = np.zeros(1, np.int64)
        pool = ThreadPoolExecutor(max_workers=nt - 1) if nt > 1 else None

        def on_all_threads(work):
            # ``work(q)`` for q = 0 .. nt-1, q = 0 on this thread; returns when all are done
            counter[0] = 0
            futures = [pool.submit(work, q) for q in range(1, nt)] if pool is not None else []
            work(0)
            for f in futures:
                f.result()

        try:
            for b0 in range(0, k, b):
                sl = slice(b0, b0 + b)

                def fwd(_q, sl=sl):
                    _forward_worker(
                        counter,
                        (
                            self._net,
                            w_signed,
                            self._inputs,
                            self._outputs,
                            samples[sl],
                            counts[sl],
                            times,
                            offsets[sl],
                            self.targets,
                            self.labels,
                            self.duration,
                            self.c_eff,
                            loss_code,
                            self.rate_scale,
                            self.temperature,
                            E2,
                            losses[sl],
                            preds[sl],
                            self.population,
                            tie_code,
                            tie_u[sl],
                        ),
                    )

                on_all_threads(fwd)
                bad = _batch_factors(
                    samples[sl],
                    pres[sl],
                    losses[sl],
                    base_code,
                    self.beta,
                    bstate,
                    self.alpha,
                    sched_code,
                    self.k0,
                    self.gamma,
                    self.C,
                    self.step + b0,
                    a,
                    self.shuffle_reward,
                    shuf[sl],
                    ring,
                    ring_n,
                )
                if bad >= 0:
                    return b0 + bad

                def upd(q):
                    _update_edges(
                        w,
                        w_signed,
                        self._sign,
                        E2,
                        a,
                        self.max_change,
                        self.w_min,
                        self.w_max,
                        eb[q],
                        eb[q + 1],
                        rel_q[q],
                        self.center_eligibility,
                        self.center_beta,
                        e_mean,
                    )

                on_all_threads(upd)
                rel[sl] = rel_q.sum(axis=0)
            rel /= m
        finally:
            if pool is not None:
                pool.shutdown()
        return -1

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, x, targets, labels, *, repeats: int = 1, record_counts: bool = False):
        """Loss and accuracy on held-out data with the current weights.

        Every sample is simulated ``repeats`` times with input spikes from
        ``default_rng([seed, 3])`` (the same at every evaluation).

        Returns
        -------
        dict
            ``loss`` (mean trial loss), ``rate_loss`` (``mse`` only: mean squared error,
            in units of ``rate_scale``, of the output rates averaged over the repeats; the
            function error with the Poisson noise of single trials averaged out),
            ``accuracy`` (fraction correct; NaN for regression), and with ``record_counts``
            the mean spike count of every neuron, shape (n_neurons,).
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        targets = np.ascontiguousarray(targets, dtype=np.float64)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        n = x.shape[0]
        samples = np.repeat(np.arange(n), repeats)
        rng = np.random.default_rng([self.seed, 3])
        counts, times = self._spikes(x[samples], rng)
        tie_u = self._tie_draws(rng, samples.size)
        offsets = np.zeros(samples.size, np.int64)
        np.cumsum(counts.sum(axis=1)[:-1], out=offsets[1:])
        losses = np.empty(samples.size)
        preds = np.empty(samples.size, np.int64)
        sc = np.zeros((samples.size, self.network.n_neurons), np.int64)
        loss_code = LOSSES.index(self.loss)
        _forward_many(
            0,
            samples.size,
            False,
            sc,
            self._net,
            self._sign * self.w,
            self._inputs,
            self._outputs,
            samples,
            counts,
            times,
            offsets,
            targets,
            labels,
            self.duration,
            self.c_eff,
            loss_code,
            self.rate_scale,
            self.temperature,
            np.zeros((0, 0)),
            losses,
            preds,
            self.population,
            TIE_BREAKS.index(self.tie_break),
            tie_u,
        )
        out = {
            "loss": float(np.mean(losses)),
            "rate_loss": np.nan,
            "accuracy": float(np.mean(preds == labels[samples])) if labels.min() >= 0 else np.nan,
        }
        oc_sum = sc[:, self._outputs].astype(np.float64)
        if self.loss == "mse":
            # the error of the mean output rates over the repeats (Poisson noise averaged out)
            mean_rates = oc_sum.reshape(n, repeats, -1).mean(axis=1) / self.duration
            out["rate_loss"] = float(np.mean(((mean_rates - targets) / self.rate_scale) ** 2))
        if record_counts:
            out["mean_counts"] = sc.mean(axis=0)
        return out
