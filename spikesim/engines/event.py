"""The exact event-driven engine (Numba).

No time step. Between arrivals a potential only decays, so a threshold crossing can only
happen at an arrival time (DESIGN.md, "The spiking model"; Schmidt-Hieber sec. 2). Neurons
are processed once each, in topological order; for neuron ``j`` all arrivals
``(t_i + d_ij, s_ij w_ij)`` from its presynaptic spike trains are sorted by time and scanned:

    V <- V * exp(-(tau - t_last) / tau_syn[j]) + sum of the weights arriving at tau
    if V >= threshold[j]: spike at tau, V <- 0, ignore arrivals in [tau, tau + t_ref[j])

Ties. Time is kept in integer ticks of 1 ps (:mod:`spikesim.engines.ticks`): an arrival
is the spike's ticks plus the delay's ticks, so paths of equal total delay arrive at
exactly the same time whatever float64 rounding would have done. Arrivals at the same tick
are summed *before* the threshold comparison (the potential at ``t`` includes every
arrival with ``tau <= t``), so their order never matters; if they cause a spike, all of
them are consumed by it. An arrival at exactly ``t_spike + t_ref`` (in ticks) is no longer
refractory. The floating-point sum of a group is taken in edge order, so results are
bit-for-bit deterministic.

Trial window: spikes and arrivals at times ``>= duration`` are dropped.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from numba import njit

from spikesim.engines.base import Engine, register
from spikesim.engines.ticks import _TPS, NEVER, check_time_range, tick_of, to_ticks
from spikesim.record import SpikeRecord, _stable_argsort

__all__ = [
    "Arrivals",
    "EventEngine",
    "EventNet",
    "TrialSpikes",
    "event_net",
    "laid_out",
    "simulate_csr",
    "simulate_trial",
]

#: Neurons of a block scanned together at most (:func:`_scan_block`): bounds the block's
#: transposed weights to ``fan_in x SCAN_CHUNK`` float64 per trial.
SCAN_CHUNK = 256

#: The count of one crossing in :func:`_scan_block`'s packed sum (2**32).
_CROSSED = 1 << 32


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
def _grow(arr, need):
    cap = arr.shape[0]
    while cap < need:
        cap *= 2
    out = np.empty(cap, arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True, nogil=True)
def _scan_one(
    ng, gstart, gtime, gdecay, sslot, wloc, s_thr, t_ref, inv_tau, buf, pos, r, vticks, vout
):
    """Scan one neuron's arrival groups; write its spike ticks to ``buf[pos:]``; return count.

    ``gtime`` (ticks) are the groups' times, ``t_ref`` the refractory period in ticks,
    ``vticks`` the voltage sample times in ticks. Per group: V <- V * decay + (sum of the
    group's weights); spike if V >= threshold. During the refractory period V stays 0 and
    arrivals are ignored; the period ends exactly ``t_ref`` ticks after the spike.
    """
    c = 0
    v = 0.0
    tlast = 0
    refr_end = NEVER
    n_grid = vticks.shape[0]
    g = 0
    for gi in range(ng):
        t_now = gtime[gi]
        if r >= 0:
            while g < n_grid and vticks[g] < t_now:
                vout[r, g] = v * np.exp(-((vticks[g] - tlast) / _TPS) * inv_tau)
                g += 1
        if t_now < refr_end:
            continue
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
            vout[r, g] = v * np.exp(-((vticks[g] - tlast) / _TPS) * inv_tau)
            g += 1
    return c


@njit(cache=True, nogil=True, error_model="numpy")
def _scan_block(ng, gstart, gtime, gdecay, sslot, wt, thr_b, tref_b):
    """Scan the arrival groups of a block of neurons that share them (a dense layer).

    ``wt`` has shape (fan_in, n_block): row ``q`` holds the signed weight of incoming slot
    ``q`` for every neuron of the block, so each arrival is one pass over a contiguous row.
    The arithmetic is the same as :func:`_scan_one`, operation for operation, so the spikes
    are bit-identical. Times and ``tref_b`` are ticks. Returns spike (ticks, block-local
    neuron) pairs in time order.
    """
    nb = wt.shape[1]
    v = np.zeros(nb)
    refr = np.full(nb, NEVER, np.int64)
    s = np.empty(nb)
    et = np.empty(64, np.int64)
    en = np.empty(64, np.int64)
    ne = 0
    for gi in range(ng):
        t_now = gtime[gi]
        dec = gdecay[gi]
        p0 = gstart[gi]
        p1 = gstart[gi + 1]
        row = sslot[p0]
        # one sum for two counts: _CROSSED per crossing neuron plus its index, so
        # ``acc >> 32`` is the number of crossings and the low 32 bits the sum of the
        # crossing neurons' indices, the neuron itself when there is one crossing (one
        # reduction in the vector loop instead of two; exact: nb <= SCAN_CHUNK)
        acc = 0
        if p1 - p0 == 1:
            # branch-free update (vectorisable): refractory neurons keep V = 0
            for jj in range(nb):
                x = v[jj] * dec + wt[row, jj]
                x = x if t_now >= refr[jj] else 0.0
                v[jj] = x
                up = x >= thr_b[jj]
                acc += (_CROSSED + jj) if up else 0
        else:
            for jj in range(nb):
                s[jj] = wt[row, jj]
            for p in range(p0 + 1, p1):
                r2 = sslot[p]
                for jj in range(nb):
                    s[jj] += wt[r2, jj]
            for jj in range(nb):
                x = v[jj] * dec + s[jj]
                x = x if t_now >= refr[jj] else 0.0
                v[jj] = x
                up = x >= thr_b[jj]
                acc += (_CROSSED + jj) if up else 0
        hit = acc >> 32
        first = acc & 0xFFFFFFFF
        if hit == 0:
            continue
        if ne + nb > et.shape[0]:
            et = _grow(et, ne + nb)
            en = _grow(en, ne + nb)
        if hit == 1:
            # one crossing (a quarter of the groups on 784-100-10): the neuron is ``first``,
            # no search along the row (whose branch mispredicts on every spike)
            et[ne] = t_now
            en[ne] = first
            ne += 1
            v[first] = 0.0
            refr[first] = t_now + tref_b[first]
            continue
        for jj in range(nb):  # ascending jj: the spikes in the same order either way
            if v[jj] >= thr_b[jj]:
                et[ne] = t_now
                en[ne] = jj
                ne += 1
                v[jj] = 0.0
                refr[jj] = t_now + tref_b[jj]
    return et[:ne], en[:ne]


@njit(cache=True)
def _find_blocks(order, is_input, in_ptr, in_edges, pre, delay, tau):
    """Block boundaries (positions in ``order``): each input neuron is its own block; runs
    of consecutive non-input neurons with identical sources form one block."""
    n = order.shape[0]
    out = np.empty(n + 1, np.int64)
    nblk = 0
    oi = 0
    while oi < n:
        out[nblk] = oi
        nblk += 1
        j = order[oi]
        ob = oi + 1
        if not is_input[j]:
            while (
                ob < n
                and not is_input[order[ob]]
                and _same_sources(in_ptr, in_edges, pre, delay, tau, j, order[ob])
            ):
                ob += 1
        oi = ob
    out[nblk] = n
    return out[: nblk + 1].copy()


_BLOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def blocks(network) -> np.ndarray:
    """The network's blocks of neurons sharing an arrival sequence (cached per network)."""
    blk = _BLOCKS.get(network)
    if blk is None:
        a = network.arrays()
        blk = _find_blocks(a.order, a.is_input, a.in_ptr, a.in_edges, a.pre, a.delay, a.tau_syn)
        _BLOCKS[network] = blk
    return blk


def signed_weights(network, weights) -> np.ndarray:
    """``sign * weights`` (n_edges,) float64; the weights themselves (no copy) when every
    edge is excitatory."""
    w = np.ascontiguousarray(weights, dtype=np.float64)
    sign = network.sign
    if sign.size and sign.strides == (0,) and sign[0] == 1:
        return w
    return sign * w


def as_float_signs(sign: np.ndarray) -> np.ndarray:
    """Edge signs (n_edges,) as float64; a stride-0 view stays one (uniform signs take no
    memory per edge)."""
    if sign.ndim == 1 and sign.size > 1 and sign.strides == (0,):
        return np.broadcast_to(np.float64(sign[0]), sign.shape)
    return np.ascontiguousarray(sign, dtype=np.float64)


class EventNet(NamedTuple):
    """What the event kernel (and the plasticity kernels built on it) read of a network.

    The arrays of :class:`spikesim.graph.NetworkArrays` plus the engine's ``blocks``
    (positions in ``order`` where a block of neurons sharing one arrival sequence starts,
    shape (n_blocks + 1,)), ``sign`` (n_edges,), the fixed edge signs as float64 (+1
    excitatory, -1 inhibitory; read by rules that update the signed weight, e.g.
    :mod:`spikesim.plasticity.mstdpet`), and the exact clock's integers
    (:mod:`spikesim.engines.ticks`): ``delay_ticks`` (n_edges,) and ``t_ref_ticks``
    (n_neurons,), int64. Weights are not part of it: they change during training.

    ``layout`` (n_blocks,), int64: where a block's incoming edges lie in the kernels' scan
    order, or -1. A block with ``layout[b] = L >= 0`` has its edges numbered exactly as
    :func:`block_tables` would lay out its transposed weights: chunk by chunk of
    :data:`SCAN_CHUNK` neurons, chunk ``c0`` (``nc`` neurons) at ``L + fan * c0``, slot
    ``q`` of its neuron ``jj`` at ``+ q * nc + jj``. The kernels then read the weights of
    such a block as a ``(fan, nc)`` view of ``w_signed`` and write its eligibilities in
    place, with no transpose. :func:`event_net` gives every block -1 (a network's own
    edge order); :func:`laid_out` renumbers the edges so that dense blocks are laid out.
    """

    order: np.ndarray
    blocks: np.ndarray
    is_input: np.ndarray
    in_ptr: np.ndarray
    in_edges: np.ndarray
    pre: np.ndarray
    delay: np.ndarray
    tau_syn: np.ndarray
    threshold: np.ndarray
    t_ref: np.ndarray
    sign: np.ndarray
    delay_ticks: np.ndarray
    t_ref_ticks: np.ndarray
    layout: np.ndarray


def event_net(network) -> EventNet:
    """The :class:`EventNet` record of ``network`` (cached per network: its structure and
    parameters are immutable)."""
    net = _NETS.get(network)
    if net is None:
        a = network.arrays()
        blk = blocks(network)
        net = EventNet(
            a.order,
            blk,
            a.is_input,
            a.in_ptr,
            a.in_edges,
            a.pre,
            a.delay,
            a.tau_syn,
            a.threshold,
            a.t_ref,
            as_float_signs(a.sign),
            to_ticks(a.delay),
            to_ticks(a.t_ref),
            np.full(blk.shape[0] - 1, -1, np.int64),
        )
        _NETS[network] = net
    return net


def laid_out(network) -> tuple[EventNet, np.ndarray]:
    """The network's :class:`EventNet` with its edges renumbered so that every block the
    kernel scans together (4 or more non-input neurons) is laid out in scan order
    (:attr:`EventNet.layout`), and the renumbering.

    The laid-out blocks' edges come first, block after block; the other edges follow in
    their original order. Spikes and eligibilities are those of the original numbering,
    edge for edge, bit for bit (tested); what changes is only where an edge's weight and
    trace sit in the arrays.

    Returns
    -------
    net : EventNet
        Edge ``i`` of ``net`` is edge ``perm[i]`` of ``network``.
    perm : ndarray of int64, shape (n_edges,)
        A per-edge array ``a`` of ``network`` is ``a[perm]`` in the new numbering; ``b[inv]``
        takes one back, with ``inv[perm] = arange(n_edges)``.
    """
    base = event_net(network)
    order, blk, is_input, in_ptr = base.order, base.blocks, base.is_input, base.in_ptr
    in_edges = base.in_edges
    layout = np.full(blk.shape[0] - 1, -1, np.int64)
    parts = []
    pos = 0
    for b in range(blk.shape[0] - 1):
        oi, ob = int(blk[b]), int(blk[b + 1])
        j = int(order[oi])
        fan = int(in_ptr[j + 1] - in_ptr[j])
        if is_input[j] or ob - oi < 4 or fan == 0:
            continue
        layout[b] = pos
        vec = order[oi:ob]
        slots = np.arange(fan)
        for c0 in range(0, ob - oi, SCAN_CHUNK):
            cols = vec[c0 : c0 + SCAN_CHUNK]
            parts.append(in_edges[in_ptr[cols][None, :] + slots[:, None]].ravel())
        pos += fan * (ob - oi)
    m = base.pre.shape[0]
    taken = np.zeros(m, bool)
    for part in parts:
        taken[part] = True
    perm = np.concatenate([*parts, np.flatnonzero(~taken)]).astype(np.int64)
    inv = np.empty(m, np.int64)
    inv[perm] = np.arange(m)
    net = base._replace(
        in_edges=np.ascontiguousarray(inv[in_edges]),
        pre=np.ascontiguousarray(base.pre[perm]),
        delay=np.ascontiguousarray(base.delay[perm]),
        sign=np.ascontiguousarray(base.sign[perm]),
        delay_ticks=np.ascontiguousarray(base.delay_ticks[perm]),
        layout=layout,
    )
    return net, perm


@njit(cache=True, nogil=True)
def count_arrivals(q0, fan, in_edges, pre, count):
    """Upper bound on the arrivals at a neuron: the spikes of its ``fan`` presynaptic
    neurons (incoming slots ``in_edges[q0 : q0 + fan]``)."""
    m = 0
    for q in range(fan):
        m += count[pre[in_edges[q0 + q]]]
    return m


@njit(cache=True, nogil=True)
def gather_arrivals(q0, fan, in_edges, pre, delay_ticks, start, count, tbuf, end, at, aslot):
    """Write the arrivals at a neuron into ``at`` (ticks, int64) and ``aslot`` (incoming
    slot ``q``), unsorted; return their number. An arrival is a presynaptic spike's ticks
    (``tbuf``) plus the edge's delay in ticks, an exact integer sum
    (:mod:`spikesim.engines.ticks`); arrivals at or after ``end`` (the duration's ticks)
    are dropped. This is the one definition of the arrivals, shared by the engine and the
    STDP eligibility kernel."""
    k = 0
    for q in range(fan):
        e = in_edges[q0 + q]
        i = pre[e]
        d = delay_ticks[e]
        for s in range(start[i], start[i] + count[i]):
            t = tbuf[s] + d
            if t < end:
                at[k] = t
                aslot[k] = q
                k += 1
    return k


@njit(cache=True, nogil=True)
def _gather_chunk(w_signed, in_ptr, in_edges, vec, c0, fan, wt):
    """Transposed weights of block neurons ``vec[c0 : c0 + nc]`` into ``wt`` (fan, nc):
    ``wt[q, jj]`` = signed weight of neuron ``vec[c0 + jj]``'s incoming slot ``q``."""
    for jj in range(wt.shape[1]):
        qn = in_ptr[vec[c0 + jj]]
        for q in range(fan):
            wt[q, jj] = w_signed[in_edges[qn + q]]


@njit(cache=True, nogil=True)
def _block_tables(net, w_signed, limit):
    """Every block's transposed weights, as :func:`_kernel` scans them (blocks of 4 or
    more non-input neurons, chunks of :data:`SCAN_CHUNK`, all neurons unrecorded), in one
    array; ``table_ptr[b]`` is block ``b``'s offset (-1: not tabled; so are blocks laid
    out in scan order, :attr:`EventNet.layout`, which need no table). Returns empty arrays
    when they would hold more than ``limit`` values."""
    order, blk, is_input, in_ptr = net.order, net.blocks, net.is_input, net.in_ptr
    nblk = blk.shape[0] - 1
    table_ptr = np.full(nblk, -1, np.int64)
    total = 0
    for b in range(nblk):
        j = order[blk[b]]
        if not is_input[j] and blk[b + 1] - blk[b] >= 4 and net.layout[b] < 0:
            table_ptr[b] = total
            total += (blk[b + 1] - blk[b]) * (in_ptr[j + 1] - in_ptr[j])
    if total > limit:
        return np.zeros(0), np.zeros(0, np.int64)
    tables = np.empty(total)
    for b in range(nblk):
        if table_ptr[b] < 0:
            continue
        oi, ob = blk[b], blk[b + 1]
        j = order[oi]
        fan = in_ptr[j + 1] - in_ptr[j]
        vec = order[oi:ob]
        for c0 in range(0, ob - oi, SCAN_CHUNK):
            nc = min(SCAN_CHUNK, ob - oi - c0)
            t0 = table_ptr[b] + fan * c0
            _gather_chunk(
                w_signed,
                in_ptr,
                net.in_edges,
                vec,
                c0,
                fan,
                tables[t0 : t0 + fan * nc].reshape((fan, nc)),
            )
    return tables, table_ptr


#: Most values :func:`block_tables` makes for a batch (2**25 float64: 256 MiB); a larger
#: network gathers each trial's transposed weights per chunk instead.
TABLE_LIMIT = 2**25


def block_tables(network, w_signed) -> tuple[np.ndarray, np.ndarray]:
    """``(tables, table_ptr)`` for :func:`_kernel`: the transposed weights of every dense
    block for many trials with the same weights (made once, not per trial); empty
    (each trial gathers them) above :data:`TABLE_LIMIT` values."""
    return _block_tables(event_net(network), w_signed, TABLE_LIMIT)


#: No block tables (each trial gathers its transposed weights).
NO_TABLES = (np.zeros(0), np.zeros(0, np.int64))


class Arrivals(NamedTuple):
    """Every block's arrivals as the kernel sorted them (kernel record), for consumers that
    walk them again (the STDP eligibility, :mod:`spikesim.plasticity.eligibility`).

    Block ``b``'s arrivals (non-input blocks; none for input blocks) are
    ``tick[ptr[b]:ptr[b + 1]]`` (int64 ticks, ascending; simultaneous ones in the stable
    order of :func:`gather_arrivals`) and their incoming slots ``slot[...]`` (int64), the
    order of ``_stable_argsort`` over :func:`gather_arrivals`. ``ptr`` (n_blocks + 1,);
    empty when the kernel was not asked to keep them."""

    ptr: np.ndarray
    tick: np.ndarray
    slot: np.ndarray


class TrialSpikes(NamedTuple):
    """One trial's spikes as the kernel returns them (kernel record): neuron ``j``'s sorted
    spike times are ``buf[start[j]:start[j] + count[j]]`` (seconds on the tick clock),
    ``start`` and ``count`` (n_neurons,) int64; ``arrivals``: the sorted arrival sequences
    (:class:`Arrivals`, possibly empty)."""

    start: np.ndarray
    count: np.ndarray
    buf: np.ndarray
    arrivals: Arrivals


@njit(cache=True, nogil=True)
def no_arrivals():
    """An empty :class:`Arrivals` (the kernel kept none)."""
    return Arrivals(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


@njit(cache=True, nogil=True)
def _kernel(net, w_signed, tables, table_ptr, inp_ptr, inp_times, duration, vrow, vtimes, vout):
    """:func:`simulate_trial` without the arrivals: ``(start, count, buf)``."""
    sp = simulate_trial(
        net, w_signed, tables, table_ptr, inp_ptr, inp_times, duration, vrow, vtimes, vout, False
    )
    return sp.start, sp.count, sp.buf


@njit(cache=True, nogil=True)
def simulate_trial(
    net, w_signed, tables, table_ptr, inp_ptr, inp_times, duration, vrow, vtimes, vout, keep
):
    """Simulate one trial. Returns a :class:`TrialSpikes`: neuron j's spike times are
    ``buf[start[j] : start[j] + count[j]]`` (sorted, seconds); with ``keep`` also every
    block's sorted arrivals (:class:`Arrivals`; else empty), which the STDP eligibility
    would otherwise gather and sort again.

    Time runs in integer ticks (:mod:`spikesim.engines.ticks`): input spikes, the
    duration and the voltage sample times are converted once, arrivals and refractory ends
    are exact integer sums, and every spike (inputs included) is reported as ``ticks / 1e12``
    seconds.

    Consecutive neurons of the topological order with the same presynaptic neurons,
    delays and tau_syn (every neuron of a dense layer) form a block: their sorted arrival
    sequence, its groups of simultaneous arrivals and the decay factors between groups are
    computed once; only the weights differ. Such neurons cannot be connected to each other
    (one would be among the other's sources), so they are independent. Blocks of 4 or more
    unrecorded neurons are scanned together (:func:`_scan_block`), others one by one
    (:func:`_scan_one`); both give identical spikes.

    ``net`` is the network's :class:`EventNet` record, ``w_signed`` (n_edges,) the signed
    weights, ``tables`` and ``table_ptr`` the blocks' transposed weights made once for many
    trials (:func:`block_tables`; ``table_ptr`` of length 0: none, each trial gathers
    them; a block laid out in scan order, ``net.layout[b] >= 0``, is read in place),
    ``inp_ptr`` (n_neurons + 1,) and ``inp_times`` the input spikes by neuron (seconds,
    sorted within each), ``duration`` in seconds; ``vrow`` (n_neurons,) names each neuron's
    row of ``vout`` (n_recorded, len(vtimes)) or -1 (voltages not recorded).
    """
    order, blk, is_input = net.order, net.blocks, net.is_input
    in_ptr, in_edges, pre, dtick = net.in_ptr, net.in_edges, net.pre, net.delay_ticks
    tau, thr, tref = net.tau_syn, net.threshold, net.t_ref_ticks
    n = order.shape[0]
    end = tick_of(duration)
    vticks = np.empty(vtimes.shape[0], np.int64)
    for g in range(vtimes.shape[0]):
        vticks[g] = tick_of(vtimes[g])
    start = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    buf = np.empty(max(1024, 4 * inp_times.shape[0]), np.int64)  # spike ticks
    pos = 0
    at = np.empty(1024, np.int64)  # arrival ticks (unsorted)
    aslot = np.empty(1024, np.int64)  # incoming-edge slot of each arrival
    wloc = np.empty(16)
    nblk = blk.shape[0] - 1
    a_ptr = np.zeros(nblk + 1 if keep else 0, np.int64)
    a_tick = np.empty(max(1024, 4 * inp_times.shape[0]) if keep else 0, np.int64)
    a_slot = np.empty(a_tick.shape[0], np.int64)
    for b in range(nblk):
        oi = blk[b]
        ob = blk[b + 1]
        j = order[oi]
        if keep:
            a_ptr[b + 1] = a_ptr[b]
        if is_input[j]:
            k0 = inp_ptr[j]
            k1 = inp_ptr[j + 1]
            if pos + k1 - k0 > buf.shape[0]:
                buf = _grow(buf, pos + k1 - k0)
            for k in range(k0, k1):
                buf[pos + k - k0] = tick_of(inp_times[k])
            start[j] = pos
            count[j] = k1 - k0
            pos += k1 - k0
            continue
        # -- the block's shared arrival sequence
        q0 = in_ptr[j]
        fan = in_ptr[j + 1] - q0
        m = count_arrivals(q0, fan, in_edges, pre, count)
        if m > at.shape[0]:
            at = np.empty(2 * m, np.int64)
            aslot = np.empty(2 * m, np.int64)
        k = gather_arrivals(q0, fan, in_edges, pre, dtick, start, count, buf, end, at, aslot)
        idx = _stable_argsort(at[:k])
        inv_tau = 1.0 / tau[j]
        sslot = np.empty(k, np.int64)
        gstart = np.empty(k + 1, np.int64)
        gtime = np.empty(k, np.int64)
        gdecay = np.empty(k)
        ng = 0
        tprev = 0
        p = 0
        while p < k:
            t_now = at[idx[p]]
            gstart[ng] = p
            gtime[ng] = t_now
            gdecay[ng] = np.exp(-((t_now - tprev) / _TPS) * inv_tau)
            tprev = t_now
            while p < k and at[idx[p]] == t_now:
                sslot[p] = aslot[idx[p]]
                p += 1
            ng += 1
        gstart[ng] = k
        if keep:
            a0 = a_ptr[b]
            if a0 + k > a_tick.shape[0]:
                a_tick = _grow(a_tick, a0 + k)
                a_slot = _grow(a_slot, a0 + k)
            for p in range(k):
                a_tick[a0 + p] = at[idx[p]]
                a_slot[a0 + p] = sslot[p]
            a_ptr[b + 1] = a0 + k
        # -- neurons scanned together (unrecorded, block of >= 4) or one by one
        n_vec = 0
        if ob - oi >= 4:
            for o in range(oi, ob):
                if vrow[order[o]] < 0:
                    n_vec += 1
        if n_vec >= 4:
            vec = np.empty(n_vec, np.int64)
            jj = 0
            for o in range(oi, ob):
                if vrow[order[o]] < 0:
                    vec[jj] = order[o]
                    jj += 1
            # in chunks of at most SCAN_CHUNK neurons: the transposed weights of one chunk
            # (fan x chunk) instead of the whole layer's; the neurons are independent, so
            # the spikes do not depend on the chunking
            laid = net.layout[b] >= 0 and n_vec == ob - oi
            tabled = table_ptr.shape[0] > 0 and table_ptr[b] >= 0 and n_vec == ob - oi
            for c0 in range(0, n_vec, SCAN_CHUNK):
                nc = min(SCAN_CHUNK, n_vec - c0)
                if laid:  # the edges are in scan order: a view, no copy
                    t0 = net.layout[b] + fan * c0
                    wt = w_signed[t0 : t0 + fan * nc].reshape((fan, nc))
                elif tabled:
                    t0 = table_ptr[b] + fan * c0
                    wt = tables[t0 : t0 + fan * nc].reshape((fan, nc))
                else:
                    wt = np.empty((fan, nc))
                    _gather_chunk(w_signed, in_ptr, in_edges, vec, c0, fan, wt)
                thr_b = np.empty(nc)
                tref_b = np.empty(nc, np.int64)
                for jj in range(nc):
                    jn = vec[c0 + jj]
                    thr_b[jj] = thr[jn]
                    tref_b[jj] = tref[jn]
                et, en = _scan_block(ng, gstart, gtime, gdecay, sslot, wt, thr_b, tref_b)
                ne = et.shape[0]
                if pos + ne > buf.shape[0]:
                    buf = _grow(buf, pos + ne)
                cnt = np.zeros(nc, np.int64)
                for e2 in range(ne):
                    cnt[en[e2]] += 1
                fill = np.empty(nc, np.int64)
                acc = pos
                for jj in range(nc):
                    start[vec[c0 + jj]] = acc
                    count[vec[c0 + jj]] = cnt[jj]
                    fill[jj] = acc
                    acc += cnt[jj]
                for e2 in range(ne):
                    buf[fill[en[e2]]] = et[e2]
                    fill[en[e2]] += 1
                pos = acc
        for o in range(oi, ob):
            jn = order[o]
            if n_vec >= 4 and vrow[jn] < 0:
                continue
            qn = in_ptr[jn]
            if fan > wloc.shape[0]:
                wloc = np.empty(2 * fan)
            for q in range(fan):
                wloc[q] = w_signed[in_edges[qn + q]]
            if pos + ng > buf.shape[0]:
                buf = _grow(buf, pos + ng)
            c = _scan_one(
                ng,
                gstart,
                gtime,
                gdecay,
                sslot,
                wloc,
                thr[jn],
                tref[jn],
                1.0 / tau[jn],
                buf,
                pos,
                vrow[jn],
                vticks,
                vout,
            )
            start[jn] = pos
            count[jn] = c
            pos += c
    # -- seconds: every spike (inputs included) on the tick clock
    out = np.empty(pos)
    for p in range(pos):
        out[p] = buf[p] / _TPS
    na = a_ptr[nblk] if keep else 0
    return TrialSpikes(start, count, out, Arrivals(a_ptr, a_tick[:na], a_slot[:na]))


def _prepare(network, weights, times, neurons):
    inp_ptr = np.zeros(network.n_neurons + 1, np.int64)
    np.cumsum(np.bincount(neurons, minlength=network.n_neurons), out=inp_ptr[1:])
    w_signed = signed_weights(network, weights)
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
    net = event_net(network)
    tables, table_ptr = NO_TABLES
    return _kernel(
        net, w_signed, tables, table_ptr, inp_ptr, inp_times, float(duration), vrow, vtimes, vout
    )


@njit(cache=True, nogil=True)
def _record_csr(start, count, buf):
    """The kernel's spikes grouped by neuron, compacted: ``(ptr (n + 1,), times
    (n_spikes,))``, neuron ``j``'s sorted times in ``times[ptr[j]:ptr[j + 1]]`` (the form
    of :meth:`SpikeRecord.from_csr`; no sort: the kernel emits each neuron's spikes in
    time order)."""
    n = start.shape[0]
    ptr = np.zeros(n + 1, np.int64)
    for j in range(n):
        ptr[j + 1] = ptr[j] + count[j]
    t = np.empty(ptr[n])
    p = 0
    for j in range(n):
        for s in range(start[j], start[j] + count[j]):
            t[p] = buf[s]
            p += 1
    return ptr, t


def to_record(network, start, count, buf, duration, vout=None, vn=None, vt=None):
    """Assemble a :class:`SpikeRecord` from the kernel's per-neuron output (by neuron:
    its time-sorted view is computed on first use)."""
    ptr, times = _record_csr(start, count, buf)
    return SpikeRecord.from_csr(
        ptr,
        times,
        n_neurons=network.n_neurons,
        duration=float(duration),
        voltage=vout,
        voltage_neurons=vn,
        voltage_times=vt,
    )


@njit(cache=True, nogil=True)
def _trial_record(net, w_signed, tables, table_ptr, neurons, times, duration):
    """One trial from checked input spikes (sorted by neuron, then time) to the record's
    spikes grouped by neuron, ``(ptr, times)`` (:func:`_record_csr`), in one compiled call
    (the public ``run_batch`` path: no Python between input and record)."""
    n = net.order.shape[0]
    inp_ptr = np.zeros(n + 1, np.int64)
    for p in range(neurons.shape[0]):
        inp_ptr[neurons[p] + 1] += 1
    for j in range(n):
        inp_ptr[j + 1] += inp_ptr[j]
    none_row = np.full(n, -1, np.int64)
    start, count, buf = _kernel(
        net,
        w_signed,
        tables,
        table_ptr,
        inp_ptr,
        times,
        duration,
        none_row,
        np.zeros(0),
        np.zeros((0, 0)),
    )
    return _record_csr(start, count, buf)


def simulate_many(network, weights, checked_inputs, duration, *, n_threads=None, records=False):
    """Simulate many trials of one network in parallel threads (the kernel releases the GIL).

    Parameters
    ----------
    network : Network
    weights : ndarray, shape (n_edges,)
    checked_inputs : list of (times, neurons)
        Input spikes already checked by :func:`spikesim.record.check_input_spikes`.
    duration : float
        Trial length in seconds.
    n_threads : int, optional
        Worker threads (default: the number of CPU cores).

    records : bool
        Return each trial's spikes grouped by neuron instead, ``(ptr, times)``
        (:func:`_trial_record`).

    Returns
    -------
    list of (start, count, buf), or of (ptr, times) with ``records``
        The kernel's output per trial, in input order.
    """
    n_threads = n_threads or os.cpu_count() or 1
    net = event_net(network)  # the blocks are found once, before the threads start
    w_signed = signed_weights(network, weights)
    # the blocks' transposed weights once for the batch, not once per trial
    tables, table_ptr = block_tables(network, w_signed) if len(checked_inputs) > 1 else NO_TABLES
    n = network.n_neurons
    none_row = np.full(n, -1, np.int64)
    no_t = np.zeros(0)
    no_v = np.zeros((0, 0))
    duration = float(duration)
    if records:
        jobs = [
            (np.ascontiguousarray(nn, np.int64), np.ascontiguousarray(t, np.float64))
            for t, nn in checked_inputs
        ]

        def one(job):
            return _trial_record(net, w_signed, tables, table_ptr, job[0], job[1], duration)

    else:
        jobs = []
        for times, neurons in checked_inputs:
            inp_ptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(neurons, minlength=n), out=inp_ptr[1:])
            jobs.append((inp_ptr, np.ascontiguousarray(times, dtype=np.float64)))

        def one(job):
            return _kernel(
                net, w_signed, tables, table_ptr, job[0], job[1], duration, none_row, no_t, no_v
            )

    if n_threads == 1 or len(jobs) < 2:
        return [one(job) for job in jobs]
    # one contiguous chunk of trials per thread: per-task hand-offs would hold the GIL
    n_threads = min(n_threads, len(jobs))
    bounds = np.linspace(0, len(jobs), n_threads + 1).astype(int)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        parts = pool.map(
            lambda k: [one(job) for job in jobs[bounds[k] : bounds[k + 1]]], range(n_threads)
        )
        return [out for part in parts for out in part]


@register("event")
class EventEngine(Engine):
    """Exact event-driven engine in Numba (no time step; see the module docstring).

    Parameters
    ----------
    n_threads : int, optional
        Threads used by :meth:`run_batch` (default: the number of CPU cores).
    """

    name = "event"
    exact = True
    dt = None
    supports_voltages = True
    supports_batch = True

    def __init__(self, n_threads: int | None = None):
        self.n_threads = n_threads

    def _run_batch(self, network, weights, checked_inputs, duration):
        check_time_range(duration)
        outs = simulate_many(
            network, weights, checked_inputs, duration, n_threads=self.n_threads, records=True
        )
        n = network.n_neurons
        return [
            SpikeRecord.from_csr(ptr, t, n_neurons=n, duration=float(duration)) for ptr, t in outs
        ]

    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        check_time_range(duration)
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
