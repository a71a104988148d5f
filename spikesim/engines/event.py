"""The exact event-driven engine (Numba).

No time step. Between arrivals a potential only decays, so a threshold crossing can only
happen at an arrival time (DESIGN.md, "The spiking model"; Schmidt-Hieber sec. 2). Neurons
are processed once each, in topological order; for neuron ``j`` all arrivals
``(t_i + d_ij, s_ij w_ij)`` from its presynaptic spike trains are sorted by time and scanned:

    V <- V * exp(-(tau - t_last) / tau_syn[j]) + sum of the weights arriving at tau
    if V >= threshold[j]: spike at tau, V <- 0, ignore arrivals in [tau, tau + t_ref[j])

Ties. Arrivals at exactly the same time are summed *before* the threshold comparison (the
potential at ``t`` includes every arrival with ``tau <= t``), so their order never matters;
if they cause a spike, all of them are consumed by it. An arrival at exactly
``t_spike + t_ref`` is no longer refractory. The floating-point sum of a group is taken in
edge order, so results are bit-for-bit deterministic.

Trial window: spikes and arrivals at times ``>= duration`` are dropped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikesim.engines.base import Engine, register
from spikesim.record import SpikeRecord

__all__ = ["EventEngine", "simulate_csr"]


@njit(cache=True, nogil=True)
def _same_sources(in_ptr, in_edges, pre, delay, tau, a, b):
    """True if neurons a and b have the same presynaptic neurons and delays, in the same
    order, and the same tau_syn (then their sorted arrival sequences coincide)."""
    if tau[a] != tau[b]:
        return False
    na = in_ptr[a + 1] - in_ptr[a]
    if na != in_ptr[b + 1] - in_ptr[b]:
        return False
    for q in range(na):
        ea = in_edges[in_ptr[a] + q]
        eb = in_edges[in_ptr[b] + q]
        if pre[ea] != pre[eb] or delay[ea] != delay[eb]:
            return False
    return True


@njit(cache=True, nogil=True)
def _kernel(
    order,
    is_input,
    in_ptr,
    in_edges,
    pre,
    delay,
    w_signed,
    tau,
    thr,
    tref,
    inp_ptr,
    inp_times,
    duration,
    vrow,
    vtimes,
    vout,
):
    """Simulate one trial. Returns (start, count, buf): neuron j's spike times are
    ``buf[start[j] : start[j] + count[j]]`` (sorted).

    Neurons with the same presynaptic neurons, delays and tau_syn as the previously
    processed neuron (every neuron of a dense layer) reuse its sorted arrival sequence, its
    groups of simultaneous arrivals and the decay factor between consecutive groups; only
    the weights differ. Per arrival the work is then one multiply-add and one compare.
    """
    n = order.shape[0]
    start = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    cap = max(1024, 4 * inp_times.shape[0])
    buf = np.empty(cap)
    pos = 0
    wcap = 1024
    at = np.empty(wcap)  # arrival times (unsorted)
    aslot = np.empty(wcap, np.int64)  # incoming-edge slot of each arrival
    sslot = np.empty(wcap, np.int64)  # slots in sorted order
    gstart = np.empty(wcap + 1, np.int64)  # group boundaries in sorted order
    gtime = np.empty(wcap)  # group times
    gdecay = np.empty(wcap)  # decay factor from the previous group to this one
    ng = 0
    wloc = np.empty(16)
    n_grid = vtimes.shape[0]
    last = -1  # neuron whose arrival sequence is cached
    for oi in range(n):
        j = order[oi]
        if is_input[j]:
            k0 = inp_ptr[j]
            k1 = inp_ptr[j + 1]
            need = pos + (k1 - k0)
            if need > cap:
                while cap < need:
                    cap *= 2
                nb = np.empty(cap)
                nb[:pos] = buf[:pos]
                buf = nb
            for k in range(k0, k1):
                buf[pos + k - k0] = inp_times[k]
            start[j] = pos
            count[j] = k1 - k0
            pos += k1 - k0
            continue
        q0 = in_ptr[j]
        fan = in_ptr[j + 1] - q0
        if last < 0 or not _same_sources(in_ptr, in_edges, pre, delay, tau, last, j):
            m = 0
            for q in range(fan):
                m += count[pre[in_edges[q0 + q]]]
            if m > wcap:
                while wcap < m:
                    wcap *= 2
                at = np.empty(wcap)
                aslot = np.empty(wcap, np.int64)
                sslot = np.empty(wcap, np.int64)
                gstart = np.empty(wcap + 1, np.int64)
                gtime = np.empty(wcap)
                gdecay = np.empty(wcap)
            k = 0
            for q in range(fan):
                e = in_edges[q0 + q]
                i = pre[e]
                d = delay[e]
                for s in range(start[i], start[i] + count[i]):
                    t = buf[s] + d
                    if t < duration:
                        at[k] = t
                        aslot[k] = q
                        k += 1
            idx = np.argsort(at[:k], kind="mergesort")
            inv_tau = 1.0 / tau[j]
            ng = 0
            tprev = 0.0
            p = 0
            while p < k:
                t_now = at[idx[p]]
                gstart[ng] = p
                gtime[ng] = t_now
                gdecay[ng] = np.exp(-(t_now - tprev) * inv_tau)
                tprev = t_now
                while p < k and at[idx[p]] == t_now:
                    sslot[p] = aslot[idx[p]]
                    p += 1
                ng += 1
            gstart[ng] = k
            last = j
        if fan > wloc.shape[0]:
            wloc = np.empty(2 * fan)
        for q in range(fan):
            wloc[q] = w_signed[in_edges[q0 + q]]
        need = pos + gstart[ng]
        if need > cap:
            while cap < need:
                cap *= 2
            nb = np.empty(cap)
            nb[:pos] = buf[:pos]
            buf = nb
        c = 0
        v = 0.0
        tlast = 0.0
        refr_end = -np.inf
        s_thr = thr[j]
        t_ref = tref[j]
        r = vrow[j]
        inv_tau = 1.0 / tau[j]
        g = 0
        for gi in range(ng):
            t_now = gtime[gi]
            if r >= 0:
                while g < n_grid and vtimes[g] < t_now:
                    vout[r, g] = v * np.exp(-(vtimes[g] - tlast) * inv_tau)
                    g += 1
            if t_now < refr_end:
                continue  # v is 0 from the reset until the refractory period ends
            s_in = 0.0
            for p in range(gstart[gi], gstart[gi + 1]):
                s_in += wloc[sslot[p]]
            v = v * gdecay[gi] + s_in
            tlast = t_now
            if v >= s_thr:
                buf[pos + c] = t_now
                c += 1
                v = 0.0
                refr_end = t_now + t_ref
        if r >= 0:
            while g < n_grid:
                vout[r, g] = v * np.exp(-(vtimes[g] - tlast) * inv_tau)
                g += 1
        start[j] = pos
        count[j] = c
        pos += c
    return start, count, buf[:pos]


def _prepare(network, weights, times, neurons):
    inp_ptr = np.zeros(network.n_neurons + 1, np.int64)
    np.cumsum(np.bincount(neurons, minlength=network.n_neurons), out=inp_ptr[1:])
    w_signed = network.sign * np.asarray(weights, dtype=np.float64)
    return inp_ptr, np.ascontiguousarray(times, dtype=np.float64), w_signed


def simulate_csr(network, weights, times, neurons, duration, vrow=None, vtimes=None, vout=None):
    """Run the kernel; return spike trains grouped by neuron.

    Parameters
    ----------
    network : Network
    weights : ndarray, shape (n_edges,)
        Weight magnitudes.
    times, neurons : ndarray, shape (n_in,)
        Checked input spikes (seconds; sorted by neuron, then time).
    duration : float
        Trial length, seconds.

    Returns
    -------
    start, count : ndarray of int64, shape (n_neurons,)
    buf : ndarray of float64
        Neuron ``j``'s sorted spike times are ``buf[start[j]:start[j] + count[j]]``.
    """
    inp_ptr, inp_times, w_signed = _prepare(network, weights, times, neurons)
    if vrow is None:
        vrow = np.full(network.n_neurons, -1, np.int64)
        vtimes = np.zeros(0)
        vout = np.zeros((0, 0))
    return _kernel(
        network.order,
        network.is_input,
        network._in_ptr,
        network._in_edges,
        network.pre,
        network.delay,
        w_signed,
        network.tau_syn,
        network.threshold,
        network.t_ref,
        inp_ptr,
        inp_times,
        float(duration),
        vrow,
        vtimes,
        vout,
    )


def to_record(network, start, count, buf, duration, vout=None, vn=None, vt=None):
    """Assemble a :class:`SpikeRecord` from the kernel's per-neuron output."""
    order = network.order
    neurons = np.repeat(order, count[order])
    srt = np.lexsort((neurons, buf))
    return SpikeRecord(
        times=buf[srt],
        neurons=neurons[srt],
        n_neurons=network.n_neurons,
        duration=float(duration),
        voltage=vout,
        voltage_neurons=vn,
        voltage_times=vt,
    )


@register("event")
class EventEngine(Engine):
    """Exact event-driven engine in Numba (no time step; see the module docstring)."""

    name = "event"
    dt = None

    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        vrow = vt = vout = None
        if voltage_neurons is not None:
            vrow = np.full(network.n_neurons, -1, np.int64)
            uniq = np.unique(voltage_neurons)
            vrow[uniq] = np.arange(uniq.size)
            vt = voltage_times
            vout = np.zeros((uniq.size, vt.size))
        start, count, buf = simulate_csr(network, weights, times, neurons, duration, vrow, vt, vout)
        volt = None
        if voltage_neurons is not None:
            volt = vout[vrow[voltage_neurons]]
        return to_record(network, start, count, buf, duration, volt, voltage_neurons, vt)
