"""Exact coincidences (issue 18, docs/model.md "Exact time"): ties do not depend on float64
rounding in any event-engine path (simulate, batch, dense blocks, voltages, the trainer's
forward pass, eligibilities, MSTDPET traces).

Independent reference: a slow simulator on :class:`fractions.Fraction` times, in which the
grid delays are the decimals the user meant (``k / 10000`` s) and the input times are
their picosecond ticks, so every coincidence is decided in exact rational arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.engines.event import EventEngine, event_net
from spikesim.engines.ticks import MAX_TIME, from_ticks, to_ticks
from spikesim.errors import ValidationError
from spikesim.graph import Network
from spikesim.plasticity.eligibility import eligibility, eligibility_reference
from spikesim.plasticity.forward import NO_TABLES, Task, Trials, forward_trials, spike_offsets
from spikesim.plasticity.mstdpet import MSTDPET
from spikesim.testing.reference import simulate as tick_reference

T0S = [k / 3 * 1e-3 for k in range(60)]  # input times t0 = k/3 ms (off every grid)
DURATION = 0.05


def case_double(copies: int = 1) -> Network:
    """input 0 -> A (0.5 ms), 0 -> X (0.2 ms), A -> X (1.7 ms), weights 1.5, t_ref 2 ms:
    A's spike reaches X exactly when X's refractory period ends (X must spike twice).
    ``copies`` identical X neurons (4: a dense block, scanned vectorised)."""
    pre, post, delay = [0], [1], [0.0005]
    for c in range(copies):
        pre += [0, 1]
        post += [2 + c, 2 + c]
        delay += [0.0002, 0.0017]
    return Network(
        2 + copies, pre=pre, post=post, weight=1.5, delay=delay, inputs=[0],
        outputs=list(range(2, 2 + copies)), t_ref=0.002,
    )  # fmt: skip


def case_cancel(copies: int = 1) -> Network:
    """0 -> X (+1.2, 0.9 ms); 0 -> A (1.5, 0.2 ms), A -> X (-0.5, 0.7 ms): both reach X at
    t0 + 0.9 ms and sum to 0.7 < 1 (X stays silent)."""
    pre, post, delay, weight, sign = [0], [1], [0.0002], [1.5], [1]
    for c in range(copies):
        pre += [0, 1]
        post += [2 + c, 2 + c]
        delay += [0.0009, 0.0007]
        weight += [1.2, 0.5]
        sign += [1, -1]
    return Network(
        2 + copies, pre=pre, post=post, weight=weight, delay=delay, sign=sign, inputs=[0],
        outputs=list(range(2, 2 + copies)),
    )  # fmt: skip


CASES = [(case_double, 2), (case_cancel, 0)]  # network, spikes of each X


def _inp(t0):
    return np.array([t0]), np.array([0])


@pytest.mark.parametrize("copies", [1, 4])
@pytest.mark.parametrize("build,want", CASES)
def test_issue_cases_simulate_and_batch(build, want, copies):
    net = build(copies)
    xs = net.outputs
    batch = EventEngine(n_threads=2).run_batch(net, [_inp(t0) for t0 in T0S], DURATION)
    for t0, rec_b in zip(T0S, batch, strict=True):
        rec = spikesim.simulate(net, _inp(t0), DURATION)
        assert rec.counts()[xs].tolist() == [want] * copies, f"t0 = {t0}"
        assert rec_b.counts()[xs].tolist() == [want] * copies, f"batch, t0 = {t0}"
        if want == 2:  # at t0 + 0.2 ms and exactly t0 + 2.2 ms (to the picosecond)
            got = rec.spikes_of(int(xs[0]))
            ticks = to_ticks(got) - to_ticks(t0)
            assert ticks.tolist() == [200_000_000, 2_200_000_000]


@pytest.mark.parametrize("build,want", CASES)
def test_issue_cases_with_voltages(build, want):
    """Recording a potential moves a neuron out of the vectorised block: same spikes; the
    potential sampled at the tie (t0 + 0.9 ms) includes both arrivals."""
    net = build(4)
    x = int(net.outputs[1])
    for t0 in T0S:
        vt = np.array([t0 + 0.0009, t0 + 0.0012])
        rec = spikesim.simulate(net, _inp(t0), DURATION, voltage_neurons=[x], voltage_times=vt)
        assert rec.counts()[net.outputs].tolist() == [want] * 4, f"t0 = {t0}"
        if want == 0:
            np.testing.assert_allclose(rec.voltage[0, 0], 0.7, rtol=1e-12)


@pytest.mark.parametrize("build,want", CASES)
def test_issue_cases_trainer_forward_pass(build, want):
    """The trainer's compiled forward pass (the kernel path of training and evaluation)."""
    net = build(4)
    k = len(T0S)
    counts = np.ones((k, 1), np.int64)
    trials = Trials(
        np.zeros(k, np.int64), np.zeros(k, np.int64), counts, np.array(T0S),
        spike_offsets(counts), np.zeros(k, np.int64), np.zeros(k),
    )  # fmt: skip
    task = Task(
        np.ascontiguousarray(net.inputs, np.int64), np.ascontiguousarray(net.outputs, np.int64),
        np.zeros((1, 4)), np.full(1, -1, np.int64), DURATION, 0, 1.0, 1.0, 1, 0,
    )  # fmt: skip
    losses, preds = np.empty(k), np.empty(k, np.int64)
    sc = np.zeros((k, net.n_neurons), np.int64)
    w = net.signed_weight
    forward_trials(event_net(net), w, *NO_TABLES, task, trials, 0, k, losses, preds, sc)
    assert np.all(sc[:, net.outputs] == want)


def test_issue_case_eligibility_closed_form():
    """Every arrival in the double-spike case coincides with a post spike it causes (T_plus
    = tau: contribution -1); A's arrival at X also has T_minus = X's first spike 2 ms
    earlier: E = exp(-2 ms c) - 1."""
    net = case_double(1)
    c = 300.0
    want = np.array([-1.0, -1.0, math.exp(-0.002 * c) - 1.0])  # edges 0->A, 0->X, A->X
    for t0 in T0S:
        rec = spikesim.simulate(net, _inp(t0), DURATION)
        np.testing.assert_allclose(eligibility(net, rec, c), want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(eligibility_reference(net, rec, c), want, rtol=0, atol=1e-12)


def test_issue_case_mstdpet_tie_order():
    """MSTDPET orders an arrival before a post spike at the same time; with exact ticks the
    compiled trace equals the event-by-event reference for every t0."""
    net = case_double(1)
    rule = MSTDPET()
    for t0 in T0S:
        rec = spikesim.simulate(net, _inp(t0), DURATION)
        ptr, times = rec.csr()
        fast = rule.trace(net, ptr[:-1], np.diff(ptr), times, DURATION)
        np.testing.assert_allclose(fast, rule.trace_reference(net, rec), rtol=1e-12, atol=1e-15)


def test_tick_round_trip_and_range():
    n = np.random.default_rng(0).integers(0, 2**51, 100_000)
    assert np.array_equal(to_ticks(from_ticks(n)), n)
    assert to_ticks(0.0017) == 1_700_000_000 and to_ticks(3 * 1e-4) == 300_000_000
    net = case_double(1)
    with pytest.raises(ValidationError, match="duration"):
        spikesim.simulate(net, _inp(0.0), 2 * MAX_TIME)


# -- random DAGs with grid delays against an exact rational reference ---------------------
def fraction_reference(n, pre, post, k_delay, weight, sign, inputs, t_ref_k, in_t, in_n, dur):
    """Exact slow simulator: delays ``k / 10000`` s and ``t_ref_k / 10000`` s as fractions,
    input times their picosecond ticks as fractions; spikes as fractions."""
    tref = Fraction(t_ref_k, 10_000)
    end = Fraction(int(to_ticks(dur)), 10**12)
    trains = [[] for _ in range(n)]
    for t, k in zip(in_t, in_n, strict=True):
        trains[int(k)].append(Fraction(int(to_ticks(t)), 10**12))
    for tr in trains:
        tr.sort()
    for j in range(n):  # pre < post: index order is topological
        if j in inputs:
            continue
        groups: dict[Fraction, float] = {}
        for e in range(len(pre)):
            if post[e] != j:
                continue
            for t in trains[pre[e]]:
                tau = t + Fraction(k_delay[e], 10_000)
                if tau < end:
                    groups[tau] = groups.get(tau, 0.0) + sign[e] * weight[e]
        v, last, refr_end = 0.0, Fraction(0), None
        for tau in sorted(groups):
            if refr_end is not None and tau < refr_end:
                continue
            v = v * math.exp(-float(tau - last) / 0.01) + groups[tau]
            last = tau
            if v >= 1.0:
                trains[j].append(tau)
                v, refr_end = 0.0, tau + tref
    return trains


@st.composite
def grid_dag(draw):
    n_in = draw(st.integers(1, 2))
    n = draw(st.integers(n_in + 2, 8))
    edges = [(i, j) for j in range(n_in, n) for i in range(j) if draw(st.booleans())]
    if not edges:
        edges = [(0, n - 1)]
    pre = [i for i, _ in edges]
    post = [j for _, j in edges]
    m = len(edges)
    # delays on a 0.1 ms grid from few values: many paths of equal total delay
    k_delay = draw(st.lists(st.integers(0, 6), min_size=m, max_size=m))
    weight = draw(st.lists(st.sampled_from([0.3, 0.5, 0.7, 1.0, 1.2]), min_size=m, max_size=m))
    sign = draw(st.lists(st.sampled_from([1, 1, -1]), min_size=m, max_size=m))
    t_ref_k = draw(st.sampled_from([0, 2, 5, 10, 20]))
    k = draw(st.integers(1, 12))
    thirds = draw(st.booleans())  # input times k/3 ms (off the grid) or on the 0.1 ms grid
    ks = draw(st.lists(st.integers(0, 120), min_size=k, max_size=k))
    in_t = [q / 3 * 1e-3 if thirds else q * 1e-4 for q in ks]
    in_n = draw(st.lists(st.integers(0, n_in - 1), min_size=k, max_size=k))
    return n, n_in, pre, post, k_delay, weight, sign, t_ref_k, in_t, in_n


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=grid_dag())
def test_grid_dags_equal_the_exact_reference(case):
    n, n_in, pre, post, k_delay, weight, sign, t_ref_k, in_t, in_n = case
    dur = 0.03
    net = Network(
        n, pre=pre, post=post, weight=weight, sign=sign, delay=[k * 1e-4 for k in k_delay],
        inputs=list(range(n_in)), outputs=[n - 1], t_ref=t_ref_k * 1e-4, tau_syn=0.01,
        threshold=1.0,
    )  # fmt: skip
    want = fraction_reference(
        n, pre, post, k_delay, weight, sign, set(range(n_in)), t_ref_k, in_t, in_n, dur
    )
    inp = (np.array(in_t), np.array(in_n))
    rec = spikesim.simulate(net, inp, dur)
    ticks_ref, _, _ = tick_reference(net, net.weight, inp[0], inp[1], dur)
    (rec_b,) = EventEngine(n_threads=1).run_batch(net, [inp], dur)
    for j in range(n_in, n):
        exact = [Fraction(int(x), 10**12) for x in to_ticks(rec.spikes_of(j))]
        assert exact == want[j], f"neuron {j}: {rec.spikes_of(j)} vs {[float(x) for x in want[j]]}"
        assert rec.spikes_of(j).tolist() == ticks_ref[j], f"neuron {j} vs the tick reference"
        assert np.array_equal(rec_b.spikes_of(j), rec.spikes_of(j))


def test_input_spikes_reported_on_the_tick_clock():
    """An input spike and the spike it causes through a zero delay: the same time."""
    net = Network(2, pre=[0], post=[1], weight=1.5, delay=0.0, inputs=[0], outputs=[1])
    t = np.array([1 / 3 * 1e-3 + 1e-14])
    rec = spikesim.simulate(net, (t, np.array([0])), DURATION)
    assert (
        rec.spikes_of(0).tolist() == rec.spikes_of(1).tolist() == from_ticks(to_ticks(t)).tolist()
    )
    assert abs(rec.spikes_of(0)[0] - t[0]) <= 0.5e-12
