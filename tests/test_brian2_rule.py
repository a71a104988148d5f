"""Brian2-native STDP eligibilities (spikesim.plasticity.brian2_rule) vs the Numba kernel.

On a binary time grid (dt = 2**-17 s, delays and input times multiples of it) every time
Brian2 sees is exact in floating point, and the clock loses nothing: the Brian2 run's spike
trains are the event engine's, and the eligibilities Brian2 accumulates in its synapses must
equal :func:`spikesim.plasticity.eligibility` on those same spike trains to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.errors import ValidationError
from spikesim.plasticity import eligibility
from spikesim.plasticity.brian2_rule import brian2_eligibility, stdp_extra

pytestmark = pytest.mark.brian2

DT = 2.0**-17  # ~7.6 us; multiples are exact binary fractions
# ~244 us: multiples are exact binary fractions *and* whole picoseconds (2**-12 s =
# 244140625 ps), so the event engine's 1 ps clock (docs/model.md, "Exact time") represents
# Brian2's times exactly and every coincidence is one on both sides
GRID = 2.0**-12


def on_grid(net):
    return spikesim.Network(
        n_neurons=net.n_neurons,
        pre=net.pre,
        post=net.post,
        weight=net.weight,
        delay=np.round(net.delay / GRID) * GRID,
        sign=net.sign,
        inputs=net.inputs,
        outputs=net.outputs,
        t_ref=np.round(net.t_ref / GRID) * GRID,
    )


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(4, 9),
    c=st.sampled_from([20.0, 100.0, 500.0]),
    t_ref=st.sampled_from([0.0, 0.002]),
)
def test_brian2_eligibility_equals_numba_kernel(seed, n, c, t_ref):
    net = on_grid(
        spikesim.random_dag(
            n,
            n_inputs=2,
            n_outputs=1,
            p_edge=0.6,
            weight_range=(0.3, 1.1),
            delay_range=(0.0, 0.002),
            inhibitory_fraction=0.2,
            t_ref=t_ref,
            seed=seed,
        )
    )
    rng = np.random.default_rng(seed)
    k = 30
    inp = (rng.integers(0, int(0.05 / GRID), k) * GRID, rng.choice(net.inputs, k))
    rec, E = brian2_eligibility(net, inp, 0.05, c, dt=GRID)
    np.testing.assert_allclose(E, eligibility(net, rec, c), rtol=1e-9, atol=1e-9)
    # and the spike trains are the exact engine's
    ev = spikesim.simulate(net, inp, 0.05)
    assert np.array_equal(ev.counts(), rec.counts())
    for j in range(net.n_neurons):
        np.testing.assert_array_equal(ev.spikes_of(j), rec.spikes_of(j))


def test_two_neuron_hand_computed():
    """One edge 0 -> 1 (w = 1.2 > threshold: every arrival makes 1 spike at once).

    Input spikes at 1 ms and 3 ms: arrival 1 has no T_minus, T_plus = 1 ms (its own
    spike): -1. Arrival 2: T_minus = 1 ms, T_plus = 3 ms: exp(-2 ms c) - 1.
    """
    net = spikesim.Network(
        n_neurons=2, pre=[0], post=[1], weight=[1.2], inputs=[0], outputs=[1], t_ref=0.0
    )
    c = 200.0
    t1, t2 = 128 * DT, 384 * DT
    rec, E = brian2_eligibility(net, ([t1, t2], [0, 0]), 0.01, c, dt=DT)
    assert rec.spikes_of(1).tolist() == [t1, t2]
    np.testing.assert_allclose(E, [-1.0 + np.exp(-c * (t2 - t1)) - 1.0], rtol=1e-12)


def test_bad_rate_is_named():
    with pytest.raises(ValidationError, match="c must be a positive"):
        stdp_extra(-1.0, 0.1)


def test_rate_times_trial_length_that_would_overflow_is_refused():
    """The factored bookkeeping stores exp(c t) within a trial: c T = 600 passes, above
    it the error says why and what to use instead."""
    assert stdp_extra(6000.0, 0.1)["constants"]["c_stdp"] == 6000.0
    with pytest.raises(ValidationError, match="overflow.*Numba kernel"):
        stdp_extra(6001.0, 0.1)


# The OpenMP build is a second compilation of the same loop (minutes here): slow run only.
@pytest.mark.parametrize(
    "threads",
    [pytest.param(0, id="single-thread"), pytest.param(2, id="openmp-2", marks=pytest.mark.slow)],
)
def test_training_loop_in_one_standalone_run_equals_python_loop(threads):
    """Five trials trained inside one cpp_standalone run (loss, previous-trial baseline and
    SH eq. 4.1 update in generated code) end with the weights of the Python loop (exact
    engine + Numba eligibility + sh_update), single-threaded and with OpenMP; the spike
    records are the event engine's; a second call with new inputs and weights reuses the
    binary and, with ``records=False``, returns no records and the same losses."""
    from spikesim.plasticity.brian2_rule import train_standalone
    from spikesim.plasticity.loss import trial_loss
    from spikesim.plasticity.rule import sh_update

    net = spikesim.layered([6, 4, 2], weight_mean=[0.5, 0.8], t_ref=262 * DT, seed=1)
    n_trials, T = 5, 0.02
    n_steps = int(np.ceil(T / DT))
    kw = dict(c=100.0, learning_rate=0.05, C=1.0, max_change=0.5, rate_scale=100.0)

    def python_loop(inputs, targets, w):
        prev, losses, recs = None, [], []
        for k in range(n_trials):
            rec = spikesim.simulate(net, inputs[k], T, weights=w)
            recs.append(rec)
            E = eligibility(net, rec, kw["c"])
            L = trial_loss(
                rec.counts()[net.outputs], T, kind="mse", target=targets[k], rate_scale=100.0
            )
            losses.append(L)
            if prev is not None:
                w = sh_update(w, E, L, prev, kw["learning_rate"], C=1.0, max_change=0.5)
            prev = L
        return w, np.array(losses), recs

    for seed, w0 in ((0, net.weight), (1, net.weight * 1.2)):
        rng = np.random.default_rng(seed)
        inputs = []
        for _ in range(n_trials):  # distinct (neuron, step) pairs: one spike per step
            ks = rng.choice(n_steps * 6, 30, replace=False)
            inputs.append(((ks % n_steps) * DT, net.inputs[ks // n_steps]))
        targets = rng.uniform(50, 150, (n_trials, 2))
        got = train_standalone(
            net, inputs, targets, T, dt=DT, weights=w0, threads=threads, records=seed == 0, **kw
        )
        w_ref, losses, recs = python_loop(inputs, targets, w0)
        assert np.abs(w_ref - w0).max() > 0.05  # it did learn something
        np.testing.assert_allclose(got["weights"], w_ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got["losses"], losses, rtol=1e-12)
        if seed == 0:
            for rec, ref in zip(got["records"], recs, strict=True):
                np.testing.assert_array_equal(rec.neurons, ref.neurons)
                np.testing.assert_allclose(rec.times, ref.times, rtol=0, atol=1e-12)
        else:
            assert got["records"] is None
            assert not got["compiled"]


@pytest.mark.slow  # two builds of a training loop to check that a timers file exists
def test_profiled_build_leaves_the_timers_of_its_last_run(tmp_path, monkeypatch):
    """SPIKESIM_BRIAN2_PROFILE=1 builds a separate project with Brian2's per-code-object
    timers; after a run its folder holds them (name, seconds) in last_profiling_info.txt."""
    from spikesim.plasticity.brian2_rule import train_standalone

    net = spikesim.layered([4, 3, 2], weight_mean=[0.6, 0.8], seed=2)
    inputs = [(np.array([0.001, 0.002]), net.inputs[:2]) for _ in range(2)]
    kw = dict(c=100.0, learning_rate=0.01, dt=1e-4, cache=tmp_path, records=False)
    train_standalone(net, inputs, np.full((2, 2), 50.0), 0.01, **kw)
    assert not list(tmp_path.glob("*/last_profiling_info.txt"))  # an ordinary build
    monkeypatch.setenv("SPIKESIM_BRIAN2_PROFILE", "1")
    got = train_standalone(net, inputs, np.full((2, 2), 50.0), 0.01, **kw)
    assert got["compiled"]  # a different project
    (path,) = tmp_path.glob("*/last_profiling_info.txt")
    timers = dict(line.split() for line in path.read_text().splitlines() if line.strip())
    assert "syn_in_pre_codeobject" in timers
    assert all(float(v) >= 0 for v in timers.values())
