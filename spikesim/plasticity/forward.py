"""The rule-free forward pass of a training trial (Numba): inputs, simulation, decoding.

One trial: the sample's Poisson input spikes (drawn by :func:`spikesim.encoding.poisson_draw`
as counts per input and unsorted times, here sorted per neuron), the exact event engine
(:func:`spikesim.engines.event._kernel`) on the network record
(:class:`spikesim.engines.event.EventNet`), then the output spike counts and first spike
times, the trial's loss and its prediction (:mod:`spikesim.plasticity.loss`). No
plasticity rule is involved; the trainer and the diagnostics build on it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from spikesim.engines.event import NO_TABLES, simulate_trial
from spikesim.plasticity.loss import loss_nb, predict_nb

__all__ = ["NO_TABLES", "Task", "Trials", "forward_trial", "forward_trials", "spike_offsets"]


class Task(NamedTuple):
    """What a trial is scored against (kernel record).

    Attributes
    ----------
    inputs, outputs : ndarray of int64
        Input neurons (sorted; column ``k`` of ``x`` drives ``inputs[k]``) and outputs.
    targets : ndarray of float64, shape (n_samples, n_outputs)
        Target rates, hertz (``mse``).
    labels : ndarray of int64, shape (n_samples,)
        Class labels (-1: regression).
    duration : float
        Trial length, seconds.
    loss_code : int
        Index in :data:`spikesim.plasticity.loss.LOSSES`.
    rate_scale, temperature : float
        Hertz dividing rate errors (``mse``); softmax temperature, spikes.
    population : int
        Output neurons per class.
    tie_code : int
        Index in :data:`spikesim.plasticity.loss.TIE_BREAKS`.
    """

    inputs: np.ndarray
    outputs: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    duration: float
    loss_code: int
    rate_scale: float
    temperature: float
    population: int
    tie_code: int


class Trials(NamedTuple):
    """A run of trials (kernel record): trial ``t`` shows sample ``samples[t]``.

    Attributes
    ----------
    samples, pres : ndarray of int64, shape (n_trials,)
        Sample index and presentation number (0 = first) of each trial.
    counts : ndarray of int64, shape (n_trials, n_inputs)
        Input spike counts.
    times : ndarray of float64
        All input spike times (seconds), trial after trial, input after input, unsorted.
    offsets : ndarray of int64, shape (n_trials,)
        Where trial ``t``'s times start in ``times``.
    shuf : ndarray of int64, shape (n_trials,)
        Draws of the shuffled-reward control (zeros if off).
    tie_u : ndarray of float64, shape (n_trials,)
        Uniforms of the ``random`` tie break (zeros if off).
    """

    samples: np.ndarray
    pres: np.ndarray
    counts: np.ndarray
    times: np.ndarray
    offsets: np.ndarray
    shuf: np.ndarray
    tie_u: np.ndarray


def spike_offsets(counts: np.ndarray) -> np.ndarray:
    """Start of each trial's input times, shape (n_trials,), from ``counts`` (n_trials, n)."""
    offsets = np.zeros(counts.shape[0], np.int64)
    np.cumsum(counts.sum(axis=1)[:-1], out=offsets[1:])
    return offsets


@njit(cache=True, nogil=True)
def _input_trains(inputs, n_neurons, counts_row, times, t0):
    """Input spikes of one trial: ``inp_ptr (n_neurons+1,)`` and times sorted per neuron.

    ``counts_row[k]`` spikes of input ``inputs[k]`` (inputs sorted ascending) at the
    (unsorted) times ``times[t0:]``.
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
    return ptr, out


@njit(cache=True, nogil=True)
def forward_trial(net, w_signed, tables, table_ptr, task, trials, t, keep):
    """Simulate trial ``t`` of ``trials`` with signed weights ``w_signed`` (n_edges,);
    ``keep``: also keep the kernel's sorted arrivals (for a trace built on them).

    ``tables``, ``table_ptr``: the blocks' transposed weights of ``w_signed``
    (:func:`spikesim.engines.event.block_tables`), made once for trials that share the
    weights; :data:`NO_TABLES` (``table_ptr`` empty): the kernel gathers them per trial.
    The spikes are the same either way.

    Returns
    -------
    spikes : TrialSpikes
        The engine's spikes (neuron ``j``: ``buf[start[j]:start[j]+count[j]]``, seconds)
        and, with ``keep``, its sorted arrivals
        (:class:`spikesim.engines.event.TrialSpikes`).
    loss : float
        The trial's loss (NaN/inf are the caller's business).
    pred : int
        The decoded class (:func:`spikesim.plasticity.loss.predict`).
    """
    n = net.order.shape[0]
    ptr, itimes = _input_trains(task.inputs, n, trials.counts[t], trials.times, trials.offsets[t])
    no_voltages = np.full(n, -1, np.int64)
    spikes = simulate_trial(
        net,
        w_signed,
        tables,
        table_ptr,
        ptr,
        itimes,
        task.duration,
        no_voltages,
        np.zeros(0),
        np.zeros((0, 0)),
        keep,
    )
    start, count, buf = spikes.start, spikes.count, spikes.buf
    outputs = task.outputs
    n_out = outputs.shape[0]
    oc = np.empty(n_out)
    first = np.empty(n_out)
    for o in range(n_out):
        j = outputs[o]
        oc[o] = count[j]
        first[o] = buf[start[j]] if count[j] > 0 else np.inf
    s = trials.samples[t]
    loss = loss_nb(
        task.loss_code,
        oc,
        task.duration,
        task.targets[s],
        task.labels[s],
        task.rate_scale,
        task.temperature,
    )
    pred = predict_nb(oc, first, task.population, task.tie_code, trials.tie_u[t])
    return spikes, loss, pred


@njit(cache=True, nogil=True)
def forward_trials(
    net, w_signed, tables, table_ptr, task, trials, lo, hi, losses, preds, spike_counts
):
    """Trials ``lo:hi`` with fixed weights (and their ``tables``, as :func:`forward_trial`):
    ``losses[t]``, ``preds[t]`` and, if it has rows, ``spike_counts[t]`` (n_neurons,)."""
    for t in range(lo, hi):
        spikes, loss, pred = forward_trial(net, w_signed, tables, table_ptr, task, trials, t, False)
        count = spikes.count
        losses[t] = loss
        preds[t] = pred
        if spike_counts.shape[0] > 0:
            for j in range(count.shape[0]):
                spike_counts[t, j] = count[j]
