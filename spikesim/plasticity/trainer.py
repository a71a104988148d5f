"""The trainer: a thin stateful shell around a plasticity rule and the forward pass.

One trial: the sample's intensities ``x`` become Poisson input spike trains (a fresh draw
every trial: this spike-time noise is what the rule learns from, SH sec. 4), the exact
event engine simulates the network and the output spike counts give the trial's loss
(:mod:`spikesim.plasticity.forward`); the rule (:mod:`spikesim.plasticity.base`; default
SH, :mod:`spikesim.plasticity.sh`) turns the trial's spikes into a per-edge trace (SH: the
eligibility ``E`` of eq. 2.4) and takes one update step with the trial's learning signal
``s_k = alpha_k (L_k - L_bar_k)`` (SH eq. 4.1: ``w <- w * clip(1 + s_k C E)``).

Shared machinery, not part of a rule: the baselines ``L_bar`` and learning-rate schedules
``alpha_k`` (:mod:`spikesim.plasticity.rule`), Christensen-Kallsen presentations (CK eq.
3.1: presentations 2..n of a sample take the previous presentation's loss as baseline),
the shuffled-reward control, the losses and their decoding.

One training loop, in batches of ``batch = B`` trials: the B trials of a batch are
simulated with the *same* weights (and their traces computed); then, in trial order, their
learning signals and baselines; then the B updates one after another in trial order (each
edge's factors multiplied in order). ``batch = 1`` (default) is exactly trial-by-trial
eq. (4.1); with ``B > 1`` trials 2..B of a batch see weights up to B-1 updates old. With one
thread the whole chunk runs inside Numba (:func:`_train_serial`); with several, each phase
of a batch is split over threads (trials taken one at a time from a shared counter; the
update split by ranges of edges, which never interact), so the weights do not depend on
the number of threads.

Edge numbering. Inside a chunk the kernels number the edges so that every dense layer is
laid out in the engine's scan order (:func:`spikesim.engines.event.laid_out`): the forward
pass reads a layer's weights in place and the eligibilities are written in place, with no
transpose either way. Spikes, traces and weights are those of the network's own numbering,
bit for bit; the trainer's state (``w``, the rule state, checkpoints, ``simulate``'s
traces) is always in the network's numbering. A perturbing rule keeps the network's
numbering (its noise is drawn edge by edge).

Randomness. Everything random is derived from the one ``seed``: the sample order (a fresh
permutation of the training set per epoch, ``default_rng([seed, 2, epoch])``), the input
spikes of training chunk ``i`` (``default_rng([seed, 1, i])``) and the evaluation spikes
(``default_rng([seed, 3])``, the same at every evaluation), and a perturbing rule's noise
of global trial ``k`` (Numba's generator seeded with
:func:`~spikesim.plasticity.base.trial_seed` ``(seed, k)`` before the trial; evaluation
trials are not perturbed). The trainer's state is
therefore just ``(weights, baseline state, rule state, step)``: a run resumed from a
checkpoint at a chunk boundary is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from numba import njit

from spikesim.encoding import ENCODINGS, draw
from spikesim.engines.event import TABLE_LIMIT, _block_tables, event_net, laid_out
from spikesim.errors import DivergenceError, ValidationError
from spikesim.plasticity._atomic import fetch_add
from spikesim.plasticity.base import Rule, rule_trace, rule_update, rule_weights
from spikesim.plasticity.forward import (
    NO_TABLES,
    Task,
    Trials,
    forward_trial,
    forward_trials,
    spike_offsets,
)
from spikesim.plasticity.loss import LOSSES, TIE_BREAKS
from spikesim.plasticity.rule import (
    BASELINES,
    SCHEDULES,
    baseline_observe_nb,
    baseline_value_nb,
    new_baseline_state,
    schedule_factor,
)
from spikesim.plasticity.sh import SH

__all__ = ["Trainer"]

_SAME_SAMPLE = BASELINES.index("same-sample")
_LEAVE_ONE_OUT = BASELINES.index("leave-one-out")
_SAMPLE_MEAN = BASELINES.index("sample-mean")


class Signal(NamedTuple):
    """How the learning signal ``s_t = alpha_t (L_t - L_bar_t)`` is formed (kernel record).

    ``base_code``/``sched_code``: indices in ``BASELINES``/``SCHEDULES``; ``step0``: the
    global step of the chunk's first trial; ``shuffle``: the shuffled-reward control;
    ``seed``: the run's seed (a perturbing rule's per-trial noise); ``presentations``:
    Christensen-Kallsen presentations per sample (the ``leave-one-out`` baseline's ``n``).
    """

    base_code: int
    beta: float
    learning_rate: float
    sched_code: int
    k0: float
    gamma: float
    step0: int
    shuffle: bool
    seed: int
    presentations: int


class Progress(NamedTuple):
    """The shared (rule-free) training state a chunk updates in place (kernel record):
    baseline state ``bstate``, the shuffled-reward ring and its trial count ``ring_n``."""

    bstate: np.ndarray
    ring: np.ndarray
    ring_n: np.ndarray


class Weights(NamedTuple):
    """Weights as the kernels read and write them: magnitudes ``w``, ``signed = sign * w``
    (what the engine uses) and the edge signs, each shape (n_edges,); ``frozen``: the
    sorted indices of the edges the rule must not change (int64, often empty) and
    ``frozen_w`` their fixed weights; ``excitatory``: every sign is +1, and ``signed`` is
    ``w`` itself (the same array: nothing to copy after an update). Make it with
    :func:`weights_record`."""

    w: np.ndarray
    signed: np.ndarray
    sign: np.ndarray
    frozen: np.ndarray
    frozen_w: np.ndarray
    excitatory: bool


def weights_record(w, sign, frozen, frozen_w) -> Weights:
    """The :class:`Weights` record of magnitudes ``w`` (kernel order, updated in place by the
    kernels) and signs ``sign`` (float64, +1 or -1): with every sign +1 ``signed`` is ``w``
    itself, otherwise a new array ``sign * w``."""
    excitatory = bool(np.all(sign > 0))
    return Weights(w, w if excitatory else sign * w, sign, frozen, frozen_w, excitatory)


class Outcome(NamedTuple):
    """Per-trial outputs of a chunk, each shape (n_trials,): ``losses``, ``preds``, the
    learning signals ``signal`` (with a split loss: their sum over the modules) and the
    rule's summed changes ``rel``; ``glosses`` and ``gsignal`` (n_trials, n_modules): the
    modules' loss terms and signals (one module, the whole network, without a split);
    ``lseen`` (n_trials, n_modules): the terms the signals saw (shuffled for the control),
    which the ``sample-mean`` baseline averages."""

    losses: np.ndarray
    preds: np.ndarray
    signal: np.ndarray
    rel: np.ndarray
    glosses: np.ndarray
    gsignal: np.ndarray
    lseen: np.ndarray


class Modules(NamedTuple):
    """The split of the loss into modules (kernel record, :class:`Trainer` ``loss_split``).

    ``of_output`` (n_outputs,): the module (class) of each output; ``reach`` (n_edges,):
    the index of the set of modules whose outputs edge ``e`` can reach (through its target
    neuron), a row of ``sets`` (n_sets, n_modules; 1.0 for a member). Empty arrays: no
    split (one module, the whole loss)."""

    of_output: np.ndarray
    reach: np.ndarray
    sets: np.ndarray


@njit(cache=True, nogil=True)
def _shuffled(L, u, ring, ring_n, out):
    """Shuffled-reward control: ``out`` (n_modules,) becomes the loss terms of a random one
    of the last ``len(ring)`` trials (NaN before any) and ``L`` (n_modules,), this trial's,
    is remembered; ``ring`` (r, n_modules); ``ring_n[0]`` counts the trials seen."""
    r = ring.shape[0]
    n = ring_n[0]
    for g in range(L.shape[0]):
        out[g] = np.nan if n == 0 else ring[u % min(n, r), g]
    for g in range(L.shape[0]):
        ring[n % r, g] = L[g]
    ring_n[0] = n + 1


@njit(cache=True, nogil=True)
def _signals(sig, trials, lo, hi, prog, out):
    """Baselines and learning signals ``out.signal[t] = alpha_t (L_t - L_bar_t)`` of trials
    ``lo:hi`` in trial order (0 where there is no baseline; SH eq. 4.1 without its ``C``,
    CK eq. 3.1 for presentations after the first; with the ``leave-one-out`` baseline
    :func:`_loo_signals`, which needs whole samples in ``lo:hi``); returns the index of the
    first non-finite loss or -1."""
    G = out.glosses.shape[1]
    loo = sig.base_code == _LEAVE_ONE_OUT
    Lall = np.empty((hi - lo if loo else 0, G))
    Ls = np.empty(G)
    for t in range(lo, hi):
        if not np.isfinite(out.losses[t]):
            return t
        if G == 1:
            out.glosses[t, 0] = out.losses[t]
        s = trials.samples[t]
        if sig.shuffle:
            _shuffled(out.glosses[t], trials.shuf[t], prog.ring, prog.ring_n, Ls)
        else:
            Ls[:] = out.glosses[t]
        out.lseen[t] = Ls
        if loo:
            Lall[t - lo] = Ls
            for g in range(G):
                if not np.isnan(Ls[g]):
                    baseline_observe_nb(prog.bstate[g], s, Ls[g], sig.beta)
            continue
        f = schedule_factor(sig.sched_code, sig.step0 + t, sig.k0, sig.gamma)
        total = 0.0
        for g in range(G):
            L = Ls[g]
            row = prog.bstate[g]
            if trials.pres[t] > 0 and sig.base_code == _SAMPLE_MEAN:
                Lbar = 0.0  # the mean of the sample's earlier presentations
                for q in range(t - trials.pres[t], t):
                    Lbar += out.lseen[q, g]
                Lbar /= trials.pres[t]
            elif trials.pres[t] > 0:
                Lbar = row[0]  # CK eq. 3.1: the previous presentation's loss
            else:
                Lbar = baseline_value_nb(sig.base_code, row, s)
            sg = 0.0
            if not np.isnan(L) and not np.isnan(Lbar):
                sg = sig.learning_rate * f * (L - Lbar)
            out.gsignal[t, g] = sg
            total += sg
            if not np.isnan(L):
                baseline_observe_nb(row, s, L, sig.beta)
        out.signal[t] = total
    if loo:
        _loo_signals(sig, trials, lo, hi, Lall, out)
    return -1


@njit(cache=True, nogil=True)
def _loo_signals(sig, trials, lo, hi, Lall, out):
    """The ``leave-one-out`` baseline's signals of trials ``lo:hi`` (whole samples):
    presentation ``p`` of a sample gets ``alpha_t (L_p - (sum_q L_q - L_p) / (n - 1))``,
    the sum over the sample's ``n`` presentations (module by module with a split loss;
    ``Lall`` (hi - lo, n_modules): the losses the signals see, shuffled for the control).
    """
    n = sig.presentations
    G = Lall.shape[1]
    for t in range(lo, hi):
        t0 = t - trials.pres[t]  # the sample's first presentation
        f = schedule_factor(sig.sched_code, sig.step0 + t, sig.k0, sig.gamma)
        total = 0.0
        for g in range(G):
            ssum = 0.0
            for q in range(t0, t0 + n):
                ssum += Lall[q - lo, g]
            L = Lall[t - lo, g]
            Lbar = (ssum - L) / (n - 1)
            sg = 0.0
            if not np.isnan(Lbar) and not np.isnan(L):
                sg = sig.learning_rate * f * (L - Lbar)
            out.gsignal[t, g] = sg
            total += sg
        out.signal[t] = total


@njit(cache=True, nogil=True)
def _updates(out, t):
    """Whether trial ``t`` changes any weight (a nonzero signal of any module)."""
    for g in range(out.gsignal.shape[1]):
        if out.gsignal[t, g] != 0.0:
            return True
    return False


@njit(cache=True, nogil=True)
def _module_losses(task, mods, trials, t, count, gl):
    """The modules' terms of trial ``t``'s ``mse`` loss, ``gl`` (n_modules,): module ``g``
    gets ``sum_{o in g} ((r_o - target_o) / rate_scale)^2 / n_outputs``, so the terms add
    up to the trial's loss."""
    gl[:] = 0.0
    n_out = task.outputs.shape[0]
    tgt = task.targets[trials.samples[t]]
    for o in range(n_out):
        d = (count[task.outputs[o]] / task.duration - tgt[o]) / task.rate_scale
        gl[mods.of_output[o]] += d * d / n_out


@njit(cache=True, nogil=True)
def _may_update(sig, trials, t):
    """False if trial ``t`` certainly gets no update (a first presentation under the
    ``same-sample`` or ``sample-mean`` baseline), so its trace need not be computed."""
    return trials.pres[t] > 0 or (sig.base_code != _SAME_SAMPLE and sig.base_code != _SAMPLE_MEAN)


@njit(cache=True, nogil=True)
def _forward(kp, net, wt, tabs, task, mods, sig, trials, t, out, E):
    """Trial ``t`` with the current weights (a perturbing rule's perturbation of them, its
    noise written to the trace row ``E``); records its loss (and its modules' terms),
    and its prediction in ``out``. ``tabs``: ``(tables, table_ptr)`` of ``wt.signed`` for
    a batch that shares them (a rule that does not perturb), or empty arrays."""
    signed = rule_weights(kp, sig.seed, sig.step0 + t, net, wt.w, wt.sign, wt.signed, E)
    spikes, loss, pred = forward_trial(net, signed, tabs[0], tabs[1], task, trials, t, True)
    out.losses[t] = loss
    out.preds[t] = pred
    if mods.of_output.shape[0] > 0:
        _module_losses(task, mods, trials, t, spikes.count, out.glosses[t])
    return spikes


@njit(cache=True, nogil=True)
def _modulate(E, mods, gsig, lo, hi):
    """A split loss folded into the trace on edges ``lo:hi``: ``E_e <- s_e E_e`` with
    ``s_e`` the sum of the signals ``gsig`` (n_modules,) of the modules edge ``e`` can
    reach. Exact for rules whose update depends on the signal and the trace only through
    their product (``Rule.separable``), which then run with signal 1."""
    n_sets, G = mods.sets.shape
    set_sig = np.zeros(n_sets)
    for q in range(n_sets):
        for g in range(G):
            if mods.sets[q, g] != 0.0:
                set_sig[q] += gsig[g]
    Es = E[lo:hi]
    rs = mods.reach[lo:hi]
    for i in range(Es.shape[0]):
        Es[i] *= set_sig[rs[i]]


@njit(cache=True, nogil=True)
def _update_range(kp, ks, wt, mods, E2, signal, gsig, lo, hi, rel):
    """A batch's updates on edges ``lo:hi``, trial after trial: trial ``i`` of the batch
    with trace ``E2[i]`` and signal ``signal[i]`` (none if 0; with a split loss the
    modules' signals ``gsig[i]`` folded into the trace, :func:`_modulate`); ``rel[i]``: the
    rule's summed change over the range. Frozen edges are reset to their fixed weights
    after each update (whatever the rule did to them). Afterwards ``wt.signed = sign * w``
    on the range."""
    split = mods.of_output.shape[0] > 0
    for i in range(rel.shape[0]):
        rel[i] = 0.0
        s = signal[i]
        if split:
            s = 0.0
            for g in range(gsig.shape[1]):
                if gsig[i, g] != 0.0:
                    s = 1.0
            if s != 0.0:
                _modulate(E2[i], mods, gsig[i], lo, hi)
        if s != 0.0:
            rel[i] = rule_update(kp, ks, wt.w, E2[i], s, lo, hi)
            for q in range(wt.frozen.shape[0]):
                e = wt.frozen[q]
                if lo <= e < hi:
                    wt.w[e] = wt.frozen_w[q]
    if wt.excitatory:  # ``signed`` is ``w``
        return
    ws, ss, wo = wt.w[lo:hi], wt.sign[lo:hi], wt.signed[lo:hi]  # 0-based: see apply_update
    for i in range(ws.shape[0]):
        wo[i] = ss[i] * ws[i]


@njit(cache=True, nogil=True)
def _train_serial(kp, ks, net, task, mods, sig, trials, prog, wt, out, E2, tabled):
    """A chunk of training on one thread, in batches of ``E2.shape[0]`` trials: forward
    passes (and traces) with the batch's weights, the signals in trial order, the updates in
    trial order. Returns the index of the first trial with a non-finite loss, or -1. With
    batch 1 the trace is computed after the signal, and only if the trial updates.
    ``tabled`` (batch > 1, a rule that does not perturb): the batch's transposed weights
    are made once per batch instead of once per trial (the same spikes)."""
    n = trials.samples.shape[0]
    b = E2.shape[0]
    m = wt.w.shape[0]
    none = (np.zeros(0), np.zeros(0, np.int64))
    for b0 in range(0, n, b):
        if b == 1:
            spikes = _forward(kp, net, wt, none, task, mods, sig, trials, b0, out, E2[0])
            if _signals(sig, trials, b0, b0 + 1, prog, out) >= 0:
                return b0
            if _updates(out, b0):
                rule_trace(kp, net, spikes, task.duration, E2[0])
        else:
            tabs = _block_tables(net, wt.signed, TABLE_LIMIT) if tabled else none
            for t in range(b0, b0 + b):
                spikes = _forward(kp, net, wt, tabs, task, mods, sig, trials, t, out, E2[t - b0])
                if _may_update(sig, trials, t):
                    rule_trace(kp, net, spikes, task.duration, E2[t - b0])
            bad = _signals(sig, trials, b0, b0 + b, prog, out)
            if bad >= 0:
                return bad
        sl = slice(b0, b0 + b)
        _update_range(kp, ks, wt, mods, E2, out.signal[sl], out.gsignal[sl], 0, m, out.rel[sl])
    return -1


@njit(cache=True, nogil=True)
def _forward_worker(counter, kp, net, tabs, task, mods, sig, trials, b0, b1, wt, out, E2):
    """One thread's share of a batch's trials ``b0:b1`` (fixed weights, ``tabs`` as in
    :func:`_forward`): takes the next trial from the shared ``counter`` until none is left;
    every trial writes only its own slots (``out.*[t]``, ``E2[t - b0]``)."""
    while True:
        t = b0 + fetch_add(counter, 0)
        if t >= b1:
            return
        spikes = _forward(kp, net, wt, tabs, task, mods, sig, trials, t, out, E2[t - b0])
        if _may_update(sig, trials, t):
            rule_trace(kp, net, spikes, task.duration, E2[t - b0])


@njit(cache=True, nogil=True)
def _simulate_traces(kp, net, w_signed, tabs, task, trials, losses, preds, spike_counts, E2):
    """Every trial with fixed weights (``tabs``: their tables): losses, predictions, spike
    counts and traces."""
    for t in range(trials.samples.shape[0]):
        spikes, loss, pred = forward_trial(net, w_signed, tabs[0], tabs[1], task, trials, t, True)
        losses[t] = loss
        preds[t] = pred
        for j in range(spikes.count.shape[0]):
            spike_counts[t, j] = spikes.count[j]
        rule_trace(kp, net, spikes, task.duration, E2[t])


LOSS_SPLITS = ("none", "class", "output")


def _modules(network, outputs: np.ndarray, population: int, split: str) -> Modules:
    """The :class:`Modules` record of a loss split (empty arrays for ``none``): which
    classes' outputs each neuron can reach, found backwards through the DAG."""
    if split == "none":
        return Modules(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0)))
    of_output = np.arange(outputs.size, dtype=np.int64)
    if split == "class":
        of_output //= population
    G = int(of_output.max()) + 1
    reach = np.zeros((network.n_neurons, G), dtype=bool)
    reach[outputs, of_output] = True
    arr = network.arrays()
    for j in arr.order[::-1]:  # reverse topological: a neuron reaches what its targets do
        targets = arr.post[arr.out_edges[arr.out_ptr[j] : arr.out_ptr[j + 1]]]
        if targets.size:
            reach[j] |= reach[targets].any(axis=0)
    edge_sets = reach[network.post]
    sets, reach_id = np.unique(edge_sets, axis=0, return_inverse=True)
    return Modules(of_output, reach_id.astype(np.int64).ravel(), sets.astype(np.float64))


_SH_KEYS = ("c", "C", "max_change", "w_min", "w_max", "center_eligibility", "center_beta")


class Trainer:
    """Train a spiking network with a local plasticity rule (default: SH eq. 4.1).

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
    rule : Rule, optional
        The plasticity rule with its parameters (default: :class:`~spikesim.plasticity.sh.SH`
        built from the keywords ``c, C, max_change, w_min, w_max, center_eligibility,
        center_beta``, which may only be given when ``rule`` is not).
    duration : float
        Trial length, seconds.
    max_rate : float
        Input rate (hertz) of an intensity of 1.
    encoding : {"poisson", "regular"}
        How a trial's input spikes are drawn (:data:`spikesim.encoding.ENCODINGS`):
        ``poisson`` (default) Poisson trains, ``regular`` regular trains with a fresh
        random phase per input and trial (:func:`spikesim.encoding.regular_draw`: the same
        mean counts, the spike times still random, the counts nearly fixed).
    learning_rate : float
        ``alpha`` of SH eq. (4.1), before the schedule (default 0.01). ``alpha`` is an old
        name for it.
    baseline : {"previous", "ema", "per-sample", "same-sample", "leave-one-out", "sample-mean"}
        ``L_bar`` (:mod:`spikesim.plasticity.rule`); ``leave-one-out`` needs ``batch`` a
        multiple of ``presentations``.
    beta : float
        Averaging weight of the ``ema`` and ``per-sample`` baselines, in (0, 1].
    schedule : {"constant", "inverse", "step"}
    k0, gamma : float
        Schedule parameters (see :func:`spikesim.plasticity.rule.learning_rate`).
    presentations : int
        Christensen-Kallsen: each sample shown this many times in a row (baseline of
        presentations 2..n: the previous presentation's loss, CK eq. 3.1).
    ck_noise_scaling : {"sqrt", "none"}
        ``sqrt``: the rule's spike-time noise scale is ``sqrt(presentations)`` (SH: the
        STDP rate is divided by it, so the spread of the scaled arrival positions ``U = c
        (tau - (T_+ + T_-)/2)`` shrinks like ``A_n = A / sqrt(n)``; CK's proof).
    loss : {"mse", "cross-entropy"}
    loss_split : {"none", "class", "output"}
        ``class`` (``mse`` classification only): the outputs are grouped into one module
        per class (the class's ``population`` output neurons); ``output``: every output
        neuron is a module of its own. The trial's loss is the sum of the modules' terms
        (each output's squared error belongs to its module), each term has its own
        baseline, and every edge learns from the terms of the modules whose outputs it
        can reach: an edge into an output of module ``m`` gets the signal ``alpha_k (L_k^m
        - L_bar_k^m)``, an edge into a hidden neuron the sum over the modules it reaches
        (in a fully connected network: all of them, the whole loss's ``alpha_k (L_k -
        L_bar_k)``). The terms of outputs an edge cannot reach do not depend on it: they
        only add noise to its update. In a single-layer network the modules share no
        edge and this is SH eq. (4.1), unchanged, applied to each module's subnetwork with
        its own loss. Needs a rule whose update depends on signal and trace only through
        their product (``Rule.separable``).
    rate_scale : float
        Hertz dividing rate errors in ``mse``.
    temperature : float
        Softmax temperature (spikes) of ``cross-entropy``.
    chunk : int
        Trials per chunk (the unit of input-spike generation and of checkpoints).
    batch : int
        Trials simulated with the same weights (see the module docstring).
    n_threads : int, optional
        Threads for ``batch > 1`` (default: Numba's ``NUMBA_NUM_THREADS``).
    shuffle_reward : bool
        Control: every update uses the loss of a random one of the previous ``chunk``
        trials instead of its own.
    plastic : ndarray of bool, shape (n_edges,), optional
        The edges the rule may change (default: all); the others keep their initial
        weights (e.g. a hidden layer frozen at its random initial weights, the control of
        a trained hidden layer).
    population : int
        Output neurons per class (classification): ``n_outputs = n_classes * population``.
    tie_break : {"first-spike", "random"}
        How tied (and all-silent) trials are decoded (:mod:`spikesim.plasticity.loss`).
    seed : int
    c, C, max_change, w_min, w_max, center_eligibility, center_beta : optional
        The parameters of the default SH rule (:class:`~spikesim.plasticity.sh.SH`).

    Attributes
    ----------
    w : ndarray, shape (n_edges,)
        Current weight magnitudes.
    rule_state : Rule.State
        The rule's per-edge state (SH: ``e_mean``).
    step : int
        Trials trained so far.

    The rule's parameters are readable as attributes too (``trainer.c``, ``trainer.C``, ...).
    """

    def __init__(
        self,
        network,
        x,
        targets,
        labels,
        *,
        rule: Rule | None = None,
        duration: float = 0.1,
        max_rate: float = 100.0,
        encoding: str = "poisson",
        learning_rate: float | None = None,
        baseline: str = "ema",
        beta: float = 0.05,
        schedule: str = "constant",
        k0: float = 1e4,
        gamma: float = 0.5,
        presentations: int = 1,
        ck_noise_scaling: str = "none",
        loss: str = "mse",
        loss_split: str = "none",
        rate_scale: float = 1.0,
        temperature: float = 1.0,
        chunk: int = 1000,
        batch: int = 1,
        n_threads: int | None = None,
        shuffle_reward: bool = False,
        plastic=None,
        population: int = 1,
        tie_break: str = "first-spike",
        seed: int = 0,
        c: float | None = None,
        C: float | None = None,
        max_change: float | None = None,
        w_min: float | None = None,
        w_max: float | None = None,
        center_eligibility: bool | None = None,
        center_beta: float | None = None,
        alpha: float | None = None,
    ):
        sh_kw = {
            k: v
            for k, v in zip(
                _SH_KEYS,
                (c, C, max_change, w_min, w_max, center_eligibility, center_beta),
                strict=True,
            )
            if v is not None
        }
        if rule is None:
            rule = SH(**sh_kw)
        elif sh_kw:
            raise ValidationError(
                f"{', '.join(sh_kw)}: parameters of the default SH rule; with rule= given, "
                "set them on the rule"
            )
        if not isinstance(rule, Rule):
            raise ValidationError(f"rule must be a Rule (e.g. SH(...)), got {rule!r}")
        if rule.signal != "scalar":
            raise ValidationError(
                f"rule {rule.name!r} needs a {rule.signal!r} learning signal; the trainer "
                "provides scalar signals only"
            )
        if alpha is not None and learning_rate is not None:
            raise ValidationError("give learning_rate only (alpha is its old name)")
        learning_rate = 0.01 if learning_rate is None and alpha is None else learning_rate
        learning_rate = alpha if learning_rate is None else learning_rate
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
            ("tie_break", tie_break, TIE_BREAKS),
            ("encoding", encoding, tuple(ENCODINGS)),
            ("loss_split", loss_split, LOSS_SPLITS),
        ):
            if value not in choices:
                raise ValidationError(f"{name} = {value!r} is not one of {', '.join(choices)}")
        for name, value in (
            ("duration", duration),
            ("max_rate", max_rate),
            ("learning_rate", learning_rate),
            ("rate_scale", rate_scale),
            ("temperature", temperature),
            ("k0", k0),
        ):
            if not np.isfinite(value) or value <= 0:
                raise ValidationError(f"{name} must be a positive number, got {value!r}")
        if not 0.0 < beta <= 1.0:
            raise ValidationError(f"beta must be in (0, 1], got {beta!r}")
        if population < 1 or network.outputs.size % population:
            raise ValidationError(
                f"{network.outputs.size} outputs are not a multiple of population {population!r}"
            )
        if loss_split != "none":
            if loss != "mse" or labels.size == 0 or labels.min() < 0:
                raise ValidationError(
                    f"loss_split = {loss_split!r} needs the mse loss of a classification "
                    f"task, got loss {loss!r}"
                    + (" and regression labels" if labels.size and labels.min() < 0 else "")
                )
            if not rule.separable:
                raise ValidationError(
                    f"loss_split = {loss_split!r}: rule {rule.name!r} is not separable (its "
                    "update does not depend on signal and trace only through their product)"
                )
        if presentations < 1 or chunk < 1 or batch < 1:
            raise ValidationError("presentations, chunk and batch must be >= 1")
        if baseline in ("same-sample", "leave-one-out", "sample-mean") and presentations < 2:
            raise ValidationError(
                f"baseline = {baseline!r} needs presentations >= 2, got {presentations}"
            )
        if baseline == "leave-one-out" and batch % presentations:
            raise ValidationError(
                f"baseline = 'leave-one-out' needs batch ({batch}) to be a multiple of "
                f"presentations ({presentations}): a sample's presentations are simulated "
                "with the same weights"
            )
        if chunk % presentations or chunk % batch:
            raise ValidationError(
                f"chunk ({chunk}) must be a multiple of presentations ({presentations}) "
                f"and of batch ({batch})"
            )
        self.network = network
        self.rule = rule
        self.x, self.targets, self.labels = x, targets, labels
        self.duration, self.max_rate = float(duration), float(max_rate)
        self.encoding = encoding
        self.loss_split = loss_split
        self.learning_rate = float(learning_rate)
        self.baseline, self.beta = baseline, float(beta)
        self.schedule, self.k0, self.gamma = schedule, float(k0), float(gamma)
        self.presentations = int(presentations)
        self.ck_noise_scaling = ck_noise_scaling
        self.noise_scale = np.sqrt(presentations) if ck_noise_scaling == "sqrt" else 1.0
        self.loss, self.rate_scale, self.temperature = loss, float(rate_scale), float(temperature)
        self.chunk, self.batch = int(chunk), int(batch)
        self.n_threads = int(n_threads or numba.config.NUMBA_NUM_THREADS)
        self.seed = int(seed)
        self.shuffle_reward = bool(shuffle_reward)
        self.population = int(population)
        self.tie_break = tie_break
        self._kp = rule.kernel_params(noise_scale=self.noise_scale)
        # the kernels' edge numbering: dense blocks laid out in scan order (no transposes,
        # engines.event.laid_out), except for a perturbing rule, whose noise is drawn edge
        # by edge in the network's order; the trainer's public state stays in that order
        if rule.perturbs is None:
            self._net, perm = laid_out(network)
        else:
            self._net, perm = event_net(network), np.arange(network.n_edges)
        self._edge_perm = perm
        self._edge_inv = np.empty_like(perm)
        self._edge_inv[perm] = np.arange(perm.size)
        self._sign = network.sign.astype(np.float64)[perm]  # kernel order
        if plastic is None:
            self._frozen = np.zeros(0, np.int64)
        else:
            mask = np.asarray(plastic)
            if mask.dtype != np.bool_ or mask.shape != (network.n_edges,):
                raise ValidationError(
                    f"plastic must be a boolean mask of shape ({network.n_edges},), "
                    f"got {mask.dtype} {mask.shape}"
                )
            self._frozen = np.flatnonzero(~mask[perm]).astype(np.int64)  # kernel order
        self._inputs = np.ascontiguousarray(network.inputs, dtype=np.int64)
        self._outputs = np.ascontiguousarray(network.outputs, dtype=np.int64)
        mods = _modules(network, self._outputs, self.population, loss_split)
        self._mods = mods._replace(reach=mods.reach[perm] if mods.reach.size else mods.reach)
        self.n_modules = max(1, int(self._mods.of_output.max(initial=-1)) + 1)
        # state
        self.w = np.array(network.weight, dtype=np.float64)
        self._frozen_w = self.w[perm][self._frozen]
        self.bstate = np.stack([new_baseline_state(n)] * self.n_modules)
        self.rule_state = rule.init_state(network.n_edges)
        self.step = 0
        self.ring = np.zeros((self.chunk, self.n_modules))
        self.ring_n = np.zeros(1, np.int64)
        self._perm_cache: tuple[int, np.ndarray] | None = None
        self._e2: np.ndarray | None = None  # traces of a batch (scratch)

    def __getattr__(self, name: str):
        # the rule's parameters read as the trainer's (trainer.c, trainer.max_change, ...)
        rule = self.__dict__.get("rule")
        if rule is not None and name in rule.keys():
            return getattr(rule, name)
        if rule is not None and name in rule.State._fields:
            return getattr(self.__dict__["rule_state"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def alpha(self) -> float:
        """Old name of :attr:`learning_rate`."""
        return self.learning_rate

    @property
    def c_eff(self) -> float:
        """SH's STDP rate as the kernels use it (1/s): ``c / noise_scale``."""
        return self._kp.c

    # -- state ------------------------------------------------------------------------------
    def _kernel_order(self, a: np.ndarray) -> np.ndarray:
        """A per-edge array (n_edges,) of the network's order in the kernels' (a copy)."""
        return a[self._edge_perm]

    def _network_order(self, a: np.ndarray) -> np.ndarray:
        """A per-edge array (..., n_edges) of the kernels' order in the network's (a copy)."""
        return a[..., self._edge_inv]

    def state_dict(self) -> dict:
        """The complete training state: ``w``, ``bstate`` (n_modules, 2 + n_samples),
        ``step``, ``ring`` (chunk, n_modules), ``ring_n`` and the rule's state arrays under
        their names (SH: ``e_mean``)."""
        out = {
            "w": self.w.copy(),
            "bstate": self.bstate.copy(),
            "step": int(self.step),
            "ring": self.ring.copy(),
            "ring_n": self.ring_n.copy(),
        }
        for name, arr in zip(self.rule.State._fields, self.rule_state, strict=True):
            out[name] = arr.copy()
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output (missing rule-state entries, as in checkpoints
        from before they existed, start from the rule's initial state)."""
        w = np.asarray(state["w"], dtype=np.float64)
        if w.shape != self.w.shape:
            raise ValidationError(
                f"checkpoint weights have shape {w.shape}, expected {self.w.shape}"
            )
        self.w = w.copy()
        # checkpoints from before the loss split hold one module's state as 1-d arrays
        bstate = np.asarray(state["bstate"], dtype=np.float64)
        ring = np.asarray(state["ring"], dtype=np.float64)
        bstate = bstate.reshape(1, -1) if bstate.ndim == 1 else bstate
        ring = ring.reshape(-1, 1) if ring.ndim == 1 else ring
        if bstate.shape != self.bstate.shape or ring.shape != self.ring.shape:
            raise ValidationError(
                f"checkpoint baseline state has shapes {bstate.shape} / {ring.shape}, expected "
                f"{self.bstate.shape} / {self.ring.shape} (a different loss split or chunk?)"
            )
        self.bstate = bstate.copy()
        self.step = int(state["step"])
        self.ring = ring.copy()
        self.ring_n = np.asarray(state["ring_n"], dtype=np.int64).copy()
        self.rule_state = self.rule.state_from(state, self.w.shape[0])

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
        """Input spike counts (n_trials, n_inputs) and unsorted times of trials ``x_rows``."""
        return draw(self.encoding, x_rows * (self.max_rate * self.duration), self.duration, rng)

    def _tie_draws(self, rng, n: int) -> np.ndarray:
        """One uniform per trial for ``random`` ties (drawn after everything else, so the
        other draws, and ``first-spike`` runs, are unchanged)."""
        return rng.random(n) if self.tie_break == "random" else np.zeros(n)

    # -- records ----------------------------------------------------------------------------------
    def _task(self, targets, labels) -> Task:
        return Task(
            self._inputs,
            self._outputs,
            targets,
            labels,
            self.duration,
            LOSSES.index(self.loss),
            self.rate_scale,
            self.temperature,
            self.population,
            TIE_BREAKS.index(self.tie_break),
        )

    def _signal(self) -> Signal:
        return Signal(
            BASELINES.index(self.baseline),
            self.beta,
            self.learning_rate,
            SCHEDULES.index(self.schedule),
            self.k0,
            self.gamma,
            int(self.step),
            self.shuffle_reward,
            self.seed,
            self.presentations,
        )

    # -- training -------------------------------------------------------------------------------
    def train_chunk(self) -> dict:
        """Run the next chunk of ``chunk`` trials; returns per-trial losses, predictions,
        labels and mean relative weight changes (``rel_change``).

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
        trials = Trials(
            samples, pres, counts, times, spike_offsets(counts), shuf, self._tie_draws(rng, k)
        )
        prog = Progress(self.bstate.copy(), self.ring.copy(), self.ring_n.copy())
        ks = self.rule.State(*(self._kernel_order(a) for a in self.rule_state))
        out = self._outcome(np.full(k, np.nan), np.full(k, -1, np.int64), np.zeros(k), np.zeros(k))
        w = self._kernel_order(self.w)
        wt = weights_record(w, self._sign, self._frozen, self._frozen_w)
        bad = self._run_chunk(trials, prog, ks, wt, out)
        losses, rel = out.losses, out.rel
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
        self.w = self._network_order(w)
        self.rule_state = self.rule.State(*(self._network_order(a) for a in ks))
        self.bstate, self.ring, self.ring_n = prog
        self.step += k
        return {
            "losses": losses,
            "preds": out.preds,
            "labels": self.labels[samples],
            "rel_change": rel,
        }

    def _outcome(self, losses, preds, signal, rel) -> Outcome:
        k, G = losses.shape[0], self.n_modules
        return Outcome(
            losses, preds, signal, rel, np.full((k, G), np.nan), np.zeros((k, G)), np.zeros((k, G))
        )

    def _run_chunk(self, trials, prog, ks, wt, out, *, force_threads: bool = False) -> int:
        """Train on ``trials`` (state records updated in place; ``out.rel`` becomes the mean
        over edges); returns the index of a trial with a non-finite loss or -1. One thread:
        :func:`_train_serial`; several (or ``force_threads``): its phases split over threads,
        with the same result."""
        b, m = self.batch, wt.w.shape[0]
        if self._e2 is None or self._e2.shape != (b, m):
            self._e2 = np.empty((b, m))  # kept: its pages are not faulted in every chunk
        kp, net, E2, mods = self._kp, self._net, self._e2, self._mods
        task = self._task(self.targets, self.labels)
        sig = self._signal()
        nt = max(1, min(self.n_threads, b))
        tabled = b > 1 and self.rule.perturbs is None  # the batch shares its weights
        if nt == 1 and not force_threads:
            bad = int(
                _train_serial(kp, ks, net, task, mods, sig, trials, prog, wt, out, E2, tabled)
            )
            out.rel[:] /= m
            return bad
        eb = np.linspace(0, m, nt + 1).astype(np.int64)  # thread q: edges eb[q]:eb[q+1]
        rel_q = np.zeros((nt, b))
        counter = np.zeros(1, np.int64)
        with ThreadPoolExecutor(max_workers=max(nt - 1, 1)) as pool:

            def on_all_threads(work):
                # ``work(q)`` for q = 0 .. nt-1, q = 0 on this thread; returns when all are done
                counter[0] = 0
                futures = [pool.submit(work, q) for q in range(1, nt)]
                work(0)
                for f in futures:
                    f.result()

            for b0 in range(0, trials.samples.shape[0], b):
                b1 = b0 + b
                tabs = _block_tables(net, wt.signed, TABLE_LIMIT) if tabled else NO_TABLES
                on_all_threads(
                    lambda _q, b0=b0, b1=b1, tabs=tabs: _forward_worker(
                        counter, kp, net, tabs, task, mods, sig, trials, b0, b1, wt, out, E2
                    )
                )
                bad = _signals(sig, trials, b0, b1, prog, out)
                if bad >= 0:
                    return bad
                on_all_threads(
                    lambda q, b0=b0, b1=b1: _update_range(
                        kp,
                        ks,
                        wt,
                        mods,
                        E2,
                        out.signal[b0:b1],
                        out.gsignal[b0:b1],
                        eb[q],
                        eb[q + 1],
                        rel_q[q],
                    )
                )
                out.rel[b0:b1] = rel_q.sum(axis=0)
        out.rel[:] /= m
        return -1

    def _train_batched(
        self, samples, pres, counts, times, w, bstate, losses, preds, rel, shuf, ring, ring_n
    ) -> int:
        """One chunk through the phase-by-phase (threaded) loop even with one thread, on the
        given arrays (updated in place; ``rel`` as in :meth:`train_chunk`); returns the index
        of a trial with a non-finite loss or -1. For tests: it must equal
        :func:`_train_serial`."""
        k = self.chunk
        trials = Trials(samples, pres, counts, times, spike_offsets(counts), shuf, np.zeros(k))
        ks = self.rule.State(*(self._kernel_order(a) for a in self.rule_state))
        wk = self._kernel_order(w)
        wt = weights_record(wk, self._sign, self._frozen, self._frozen_w)
        out = self._outcome(losses, preds, np.zeros(k), rel)
        bstate = bstate.reshape(self.n_modules, -1) if bstate.ndim == 1 else bstate
        ring = ring.reshape(-1, self.n_modules) if ring.ndim == 1 else ring
        bad = self._run_chunk(
            trials, Progress(bstate, ring, ring_n), ks, wt, out, force_threads=True
        )
        w[:] = self._network_order(wk)
        return bad

    # -- evaluation -------------------------------------------------------------------------------
    def _trials(self, x, rng, samples) -> Trials:
        counts, times = self._spikes(x[samples], rng)
        tie_u = self._tie_draws(rng, samples.size)
        zeros = np.zeros(samples.size, np.int64)
        return Trials(samples, zeros, counts, times, spike_offsets(counts), zeros, tie_u)

    def simulate(self, x, targets, labels, *, rng, samples=None, eligibility: bool = False):
        """Trials with the current weights and no learning (for diagnostics).

        Parameters
        ----------
        x, targets, labels : ndarray
            Shapes (n, n_inputs), (n, n_outputs), (n,).
        rng : numpy.random.Generator
            Source of the input spikes (then of the tie-break uniforms).
        samples : ndarray of int, optional
            Row of ``x`` shown in each trial (default: every row once).
        eligibility : bool
            Also return the rule's per-trial traces (SH: the eligibilities, eq. 2.4).

        Returns
        -------
        dict
            ``losses`` (n_trials,), ``preds`` (n_trials,), ``spike_counts`` (n_trials,
            n_neurons) and with ``eligibility`` ``traces`` (n_trials, n_edges).
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        targets = np.ascontiguousarray(targets, dtype=np.float64)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        samples = np.arange(x.shape[0]) if samples is None else np.asarray(samples, np.int64)
        trials = self._trials(x, rng, samples)
        n = samples.size
        losses = np.empty(n)
        preds = np.empty(n, np.int64)
        sc = np.zeros((n, self.network.n_neurons), np.int64)
        task = self._task(targets, labels)
        w_signed = self._sign * self._kernel_order(self.w)
        # fixed weights: the transposes of blocks not laid out made once
        tabs = _block_tables(self._net, w_signed, TABLE_LIMIT) if n > 1 else NO_TABLES
        out = {"losses": losses, "preds": preds, "spike_counts": sc}
        if eligibility:
            E2 = np.zeros((n, self.network.n_edges))
            _simulate_traces(
                self._kp, self._net, w_signed, tabs, task, trials, losses, preds, sc, E2
            )
            out["traces"] = self._network_order(E2)
        else:
            forward_trials(self._net, w_signed, *tabs, task, trials, 0, n, losses, preds, sc)
        return out

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
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        targets = np.ascontiguousarray(targets, dtype=np.float64)
        n = np.shape(x)[0]
        samples = np.repeat(np.arange(n), repeats)
        r = self.simulate(
            x, targets, labels, rng=np.random.default_rng([self.seed, 3]), samples=samples
        )
        preds, sc = r["preds"], r["spike_counts"]
        out = {
            "loss": float(np.mean(r["losses"])),
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
