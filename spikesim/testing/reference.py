"""A slow, obviously-correct pure-Python simulator of the spiking model (DESIGN.md).

Used as the independent reference of the engine conformance checks
(:func:`spikesim.testing.engine.check_engine`). It follows the model
contract literally: neurons in topological order; for neuron j, all arrivals
``(t_i + d_ij, s_ij w_ij)`` with arrival time < duration, grouped by exact time; the
potential decays between groups, a group's weights are summed before the threshold test;
after a spike V = 0 and arrivals in ``[t_spike, t_spike + t_ref)`` are ignored.

Time is exact: every time is a Python integer number of ticks
(:func:`spikesim.engines.ticks.to_ticks`, 1 ps) and arrivals and refractory ends are
integer sums, so coincidences are decided without rounding (docs/model.md, "Exact time").
Spike times (inputs included) are reported as ``ticks / 1e12`` seconds.

Besides the spikes it reports how *robust* the trial is to a time step ``dt``, so a
clock-driven engine can be compared on inputs that are not near a threshold tie:

- ``margin``: min over all threshold tests of ``|V - S| / S`` (how close any test came to
  the threshold);
- ``gap``: min distance (s) between an arrival and the end of a refractory period, between
  two arrival groups of the same neuron, and between any spike and the end of the trial.
"""

from __future__ import annotations

import math
from collections import defaultdict

from spikesim.engines.ticks import to_ticks

_TPS = 1e12  # ticks per second


def simulate(net, weights, in_times, in_neurons, duration):
    """Simulate one trial literally (see the module docstring).

    Parameters
    ----------
    net : Network
    weights : sequence of float, shape (n_edges,)
        Weight magnitudes.
    in_times, in_neurons : sequence, shape (n,)
        Input spike times (seconds) and their input neurons.
    duration : float
        Trial length (seconds).

    Returns
    -------
    trains : list of list of float
        ``trains[j]``: neuron j's spike times (seconds), increasing.
    margin : float
        Closest relative approach of any threshold test, ``|V - S| / S``.
    gap : float
        Smallest time (s) between arrival groups, refractory ends and the trial's end.
    """
    n = net.n_neurons
    trains = [[] for _ in range(n)]  # ticks (int)
    end = int(to_ticks(duration))
    for t, k in zip(in_times, in_neurons, strict=True):
        if t < duration:
            trains[int(k)].append(int(to_ticks(float(t))))
    for j in range(n):
        trains[j].sort()
    margin = math.inf
    gap = math.inf
    incoming = defaultdict(list)
    for e in range(net.n_edges):
        incoming[int(net.post[e])].append(e)
    inputs = set(int(i) for i in net.inputs)
    for j in [int(x) for x in net.order]:
        if j in inputs:
            continue
        groups = defaultdict(float)
        for e in incoming[j]:
            d = int(to_ticks(float(net.delay[e])))
            for t in trains[int(net.pre[e])]:
                tau = t + d
                if tau < end:
                    groups[tau] += float(net.sign[e]) * float(weights[e])
        inv_tau = 1.0 / float(net.tau_syn[j])
        thr = float(net.threshold[j])
        t_ref = int(to_ticks(float(net.t_ref[j])))
        v, t_last, refr_end = 0.0, 0, None
        times = sorted(groups)
        for a, b in zip(times, times[1:], strict=False):
            gap = min(gap, (b - a) / _TPS)
        for tau in times:
            if refr_end is not None:
                gap = min(gap, abs(tau - refr_end) / _TPS)
                if tau < refr_end:
                    continue
            v = v * math.exp(-((tau - t_last) / _TPS) * inv_tau) + groups[tau]
            t_last = tau
            margin = min(margin, abs(v - thr) / thr)
            if v >= thr:
                trains[j].append(tau)
                gap = min(gap, (end - tau) / _TPS)
                v = 0.0
                refr_end = tau + t_ref
    out = [[t / _TPS for t in trains[j]] for j in range(n)]
    return out, margin, gap
