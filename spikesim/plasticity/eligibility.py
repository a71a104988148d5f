"""STDP eligibilities of every edge after one trial (Numba).

Schmidt-Hieber (2023), eq. (2.4)/(4.1): for edge ``e = (i, j)`` with delay ``d_e`` every spike
``t`` of ``i`` arrives at ``j`` at ``tau = t + d_e`` and contributes

    E_e += exp(-c (tau - T_minus)) - exp(-c (T_plus - tau)),

``T_minus`` = ``j``'s last spike strictly before ``tau``, ``T_plus`` = ``j``'s first spike at or
after ``tau`` (a spike caused by the arrival itself is at ``tau`` and counts as after it); a
missing ``T_minus`` or ``T_plus`` contributes 0.

Time is exact (:mod:`spikesim.engines.ticks`): ``tau`` is the spike's ticks plus the
delay's ticks, compared with ``j``'s spike ticks, so an arrival coincident with a post spike
(equal total delays) is "at" it, whatever float64 rounding would have said.

Which arrivals count (consistent with the event engine): every arrival with
``0 <= tau < duration``; arrivals at or after the end of the trial are dropped (the engine
never delivers them). Arrivals during ``j``'s refractory period count like any other (the
rule looks at spike times only, not at whether the arrival moved the potential).

Cost. Neurons that share their presynaptic neurons and delays (a dense layer; the engine's
"blocks") share one sorted arrival sequence; it is walked once, merged with the block's post
spikes, and every arrival updates the eligibilities of the whole block in one vectorised
pass. The work is one sort of the arrivals per block plus O(1) per (arrival, target neuron)
pair, i.e. linear in the number of synaptic events; no post train is rescanned per edge.
The sorts are the engine's stable bucket sort (O(n) for spread-out times, the same order as
a merge sort); only the rows of presynaptic neurons that spiked are zeroed and written
back, so silent inputs (dark pixels) cost nothing. A block whose edges are numbered in
scan order (:func:`spikesim.engines.event.laid_out`, the trainer's numbering) has no
accumulator and no write-back: its sums accumulate in the output itself (bitwise the same
values).
The exponentials are factorised, ``exp(-c (tau - T)) = exp(-c tau) exp(c T)``, so each
arrival costs two exponentials per block; when ``c * duration > 600`` (overflow risk) the
direct form with two exponentials per (arrival, target) pair is used instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikesim.engines.event import (
    SCAN_CHUNK,
    _stable_argsort,
    count_arrivals,
    event_net,
    gather_arrivals,
    no_arrivals,
)
from spikesim.engines.ticks import seconds_of, tick_of, ticks_of, to_ticks
from spikesim.errors import ValidationError

__all__ = ["eligibility", "eligibility_csr", "eligibility_reference"]

_FACTOR_LIMIT = 600.0


@njit(cache=True, nogil=True)
def _sorted_arrivals(oi, order, in_ptr, in_edges, pre, dtick, start, count, tbuf, end):
    """The arrivals at the block starting at ``order[oi]``, sorted as the event kernel sorts
    them (:func:`~spikesim.engines.event.gather_arrivals`, then the stable sort):
    ``(ticks, slots)``, int64 arrays."""
    j0 = order[oi]
    q0 = in_ptr[j0]
    fan = in_ptr[j0 + 1] - q0
    m = count_arrivals(q0, fan, in_edges, pre, count)
    at = np.empty(m, np.int64)
    aslot = np.empty(m, np.int64)
    k = gather_arrivals(q0, fan, in_edges, pre, dtick, start, count, tbuf, end, at, aslot)
    idx = _stable_argsort(at[:k])
    st = np.empty(k, np.int64)
    ss = np.empty(k, np.int64)
    for a in range(k):
        st[a] = at[idx[a]]
        ss[a] = aslot[idx[a]]
    return st, ss


@njit(cache=True, nogil=True)
def _block_eligibility(
    oi, ob, order, in_ptr, in_edges, start, count, buf, tbuf, st, ss, c, end, lay, out
):
    """Eligibilities of the incoming edges of the block ``order[oi:ob]``, added to ``out``.

    ``buf`` holds the spike times in seconds (on the tick clock), ``tbuf`` their ticks;
    ``st``, ``ss`` the block's arrivals (ticks, incoming slots) in the event kernel's
    sorted order (:func:`_sorted_arrivals`, or the kernel's own
    :class:`~spikesim.engines.event.Arrivals`); the before/after comparisons are in ticks
    (exact), the exponentials in seconds. ``lay``: the block's
    :attr:`~spikesim.engines.event.EventNet.layout` (its edges in scan order from there:
    the sums accumulate in ``out`` itself, which must hold zeros there) or -1 (a
    ``(fan, nb)`` accumulator, then written to the edges)."""
    j0 = order[oi]
    fan = in_ptr[j0 + 1] - in_ptr[j0]
    nb = ob - oi
    k = st.shape[0]
    if fan == 0 or k == 0:
        return
    # post spikes of the block, merged in time order
    n_post = 0
    for jj in range(nb):
        n_post += count[order[oi + jj]]
    pt = np.empty(n_post, np.int64)
    pj = np.empty(n_post, np.int64)
    p = 0
    for jj in range(nb):
        jn = order[oi + jj]
        for s in range(start[jn], start[jn] + count[jn]):
            pt[p] = tbuf[s]
            pj[p] = jj
            p += 1
    pidx = _stable_argsort(pt)
    ptr = np.zeros(nb, np.int64)
    laid = lay >= 0
    # laid out: chunks of SCAN_CHUNK neurons, each (fan, nc) in ``out``; ``nfull`` full
    # chunks, then ``nlast`` neurons from ``cl``
    nfull = nb // SCAN_CHUNK if laid else 0
    cl = nfull * SCAN_CHUNK
    nlast = nb - cl if laid else 0
    l0 = lay if laid else 0
    full = out[l0 : l0 + fan * cl].reshape((nfull, fan, SCAN_CHUNK))
    last = out[l0 + fan * cl : l0 + fan * (cl + nlast)].reshape((fan, nlast))
    # not laid out: row q zeroed at its first arrival (``touched``)
    eb = np.empty((0 if laid else fan, nb))
    touched = np.zeros(fan, np.bool_)
    factor = c * seconds_of(end) <= _FACTOR_LIMIT
    xm = np.zeros(nb)  # exp(c T_minus) (factorised) or T_minus (direct); 0 / -inf if none
    xp = np.zeros(nb)  # exp(-c T_plus) (factorised) or T_plus (direct); 0 / +inf if none
    for jj in range(nb):
        jn = order[oi + jj]
        if factor:
            xm[jj] = 0.0
            xp[jj] = np.exp(-c * buf[start[jn]]) if count[jn] > 0 else 0.0
        else:
            xm[jj] = -np.inf
            xp[jj] = buf[start[jn]] if count[jn] > 0 else np.inf
    # the laid-out loops read xm, xp through views indexed from 0 (chunk, neuron of the
    # chunk): Numba then drops its negative-index handling there and the loops vectorise
    xm_full = xm[:cl].reshape((nfull, SCAN_CHUNK))
    xp_full = xp[:cl].reshape((nfull, SCAN_CHUNK))
    xm_last = xm[cl:]
    xp_last = xp[cl:]
    pp = 0
    for a in range(k):
        tau_t = st[a]
        tau = seconds_of(tau_t)
        row = ss[a]
        if not laid and not touched[row]:
            touched[row] = True
            eb[row, :] = 0.0
        # post spikes strictly before tau become T_minus of their neuron
        while pp < n_post and pt[pidx[pp]] < tau_t:
            jj = pj[pidx[pp]]
            jn = order[oi + jj]
            tm = buf[start[jn] + ptr[jj]]
            ptr[jj] += 1
            if factor:
                xm[jj] = np.exp(c * tm)
                xp[jj] = np.exp(-c * buf[start[jn] + ptr[jj]]) if ptr[jj] < count[jn] else 0.0
            else:
                xm[jj] = tm
                xp[jj] = buf[start[jn] + ptr[jj]] if ptr[jj] < count[jn] else np.inf
            pp += 1
        if laid:  # the block's edges in scan order: ``full`` and ``last`` view ``out``
            if factor:
                en = np.exp(-c * tau)
                ep = np.exp(c * tau)
                for ch in range(nfull):
                    for jj in range(SCAN_CHUNK):
                        full[ch, row, jj] += en * xm_full[ch, jj] - ep * xp_full[ch, jj]
                for jj in range(nlast):
                    last[row, jj] += en * xm_last[jj] - ep * xp_last[jj]
            else:
                for ch in range(nfull):
                    for jj in range(SCAN_CHUNK):
                        full[ch, row, jj] += np.exp(-c * (tau - xm_full[ch, jj])) - np.exp(
                            -c * (xp_full[ch, jj] - tau)
                        )
                for jj in range(nlast):
                    last[row, jj] += np.exp(-c * (tau - xm_last[jj])) - np.exp(
                        -c * (xp_last[jj] - tau)
                    )
        elif factor:
            en = np.exp(-c * tau)
            ep = np.exp(c * tau)
            for jj in range(nb):
                eb[row, jj] += en * xm[jj] - ep * xp[jj]
        else:
            for jj in range(nb):
                eb[row, jj] += np.exp(-c * (tau - xm[jj])) - np.exp(-c * (xp[jj] - tau))
    if laid:
        return
    for jj in range(nb):
        qn = in_ptr[order[oi + jj]]
        for q in range(fan):
            if touched[q]:  # an untouched row's edges keep their 0
                out[in_edges[qn + q]] += eb[q, jj]


@njit(cache=True, nogil=True)
def _eligibility_kernel(net, start, count, buf, duration, c, out):
    """Fill ``out`` (n_edges,) with the eligibilities of one trial (zeroed first).

    ``net`` is the network's :class:`~spikesim.engines.event.EventNet` record; ``start``,
    ``count`` (n_neurons,) and ``buf`` the event kernel's spikes by neuron; ``duration`` in
    seconds; ``c`` the STDP rate (1/s). The arrivals are gathered and sorted here
    (:func:`eligibility_kernel` takes the kernel's).
    """
    eligibility_kernel(net, start, count, buf, no_arrivals(), duration, c, out)


@njit(cache=True, nogil=True)
def eligibility_kernel(net, start, count, buf, arrivals, duration, c, out):
    """:func:`_eligibility_kernel` with the event kernel's sorted arrivals ``arrivals``
    (:class:`~spikesim.engines.event.Arrivals` of the same trial, from
    :func:`~spikesim.engines.event.simulate_trial` with ``keep``): no gathering and no
    sorting again (bitwise the same result, which is the same order). Empty
    ``arrivals.ptr``: gathered here."""
    order, blk, is_input = net.order, net.blocks, net.is_input
    in_ptr, in_edges, pre, dtick = net.in_ptr, net.in_edges, net.pre, net.delay_ticks
    out[:] = 0.0
    tbuf = ticks_of(buf)
    sbuf = np.empty(tbuf.shape[0])  # the spike times on the tick clock, seconds
    for p in range(tbuf.shape[0]):
        sbuf[p] = seconds_of(tbuf[p])
    end = tick_of(duration)
    kept = arrivals.ptr.shape[0] > 0
    for b in range(blk.shape[0] - 1):
        oi = blk[b]
        if is_input[order[oi]]:
            continue
        if kept:
            a0, a1 = arrivals.ptr[b], arrivals.ptr[b + 1]
            st, ss = arrivals.tick[a0:a1], arrivals.slot[a0:a1]
        else:
            st, ss = _sorted_arrivals(
                oi, order, in_ptr, in_edges, pre, dtick, start, count, tbuf, end
            )
        _block_eligibility(
            oi, blk[b + 1], order, in_ptr, in_edges, start, count, sbuf, tbuf, st, ss, c, end,
            net.layout[b], out,
        )  # fmt: skip


def _check_c(c) -> float:
    c = float(c)
    if not np.isfinite(c) or c <= 0:
        raise ValidationError(f"the STDP rate c must be a positive number (1/s), got {c!r}")
    return c


def eligibility_csr(network, start, count, buf, duration: float, c: float, out=None) -> np.ndarray:
    """Eligibilities from the event engine's per-neuron output (the fast path for training).

    Parameters
    ----------
    network : Network
    start, count : ndarray of int64, shape (n_neurons,)
        Neuron ``j``'s sorted spike times are ``buf[start[j]:start[j] + count[j]]``.
    buf : ndarray of float64
        Spike times in seconds.
    duration : float
        Trial length in seconds; arrivals at or after it are ignored.
    c : float
        STDP rate in 1/s (the STDP time constant is ``1 / c``).
    out : ndarray of float64, shape (n_edges,), optional
        Output buffer (overwritten).

    Returns
    -------
    ndarray of float64, shape (n_edges,)
        ``E_e`` as defined in the module docstring (SH eq. 2.4).
    """

    c = _check_c(c)
    if out is None:
        out = np.empty(network.n_edges)
    net = event_net(network)
    _eligibility_kernel(
        net,
        np.ascontiguousarray(start, dtype=np.int64),
        np.ascontiguousarray(count, dtype=np.int64),
        np.ascontiguousarray(buf, dtype=np.float64),
        float(duration),
        c,
        out,
    )
    return out


def eligibility(network, record, c: float) -> np.ndarray:
    """STDP eligibility of every edge after one trial (Schmidt-Hieber eq. 2.4).

    ``E_e = sum over arrivals tau of exp(-c (tau - T_minus)) - exp(-c (T_plus - tau))`` for
    edge ``e = (i, j)``, over the arrivals ``tau = t_i + d_e`` of ``i``'s spikes with
    ``tau < record.duration`` (later arrivals are dropped, as in the engine); ``T_minus`` is
    ``j``'s last spike strictly before ``tau``, ``T_plus`` its first spike at or after ``tau``
    (a spike the arrival causes counts as after it); a missing one contributes 0. Arrivals in
    ``j``'s refractory period count.

    Parameters
    ----------
    network : Network
    record : SpikeRecord
        The trial's spikes (all neurons, inputs included).
    c : float
        STDP rate in 1/s.

    Returns
    -------
    ndarray of float64, shape (n_edges,)
    """
    if record.n_neurons != network.n_neurons:
        raise ValidationError(
            f"the record has {record.n_neurons} neurons, the network {network.n_neurons}"
        )
    ptr, times = record.csr()
    return eligibility_csr(network, ptr[:-1], np.diff(ptr), times, record.duration, c)


def eligibility_reference(network, record, c: float) -> np.ndarray:
    """Slow, obvious pure-Python eligibilities (for tests): one edge, one arrival at a time,
    times in exact integer ticks (:mod:`spikesim.engines.ticks`)."""
    c = _check_c(c)
    trains = [[int(n) for n in to_ticks(tr)] for tr in record.trains()]
    end = int(to_ticks(record.duration))
    out = np.zeros(network.n_edges)
    for e in range(network.n_edges):
        post = trains[int(network.post[e])]
        d = int(to_ticks(network.delay[e]))
        total = 0.0
        for t in trains[int(network.pre[e])]:
            tau = t + d
            if tau >= end:
                continue
            before = [s for s in post if s < tau]
            after = [s for s in post if s >= tau]
            if before:
                total += float(np.exp(-c * ((tau - max(before)) / 1e12)))
            if after:
                total -= float(np.exp(-c * ((min(after) - tau) / 1e12)))
        out[e] = total
    return out
