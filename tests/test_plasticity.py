"""Reward-modulated STDP: eligibility kernel, the update rule, baselines, losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikesim
from spikesim import ValidationError
from spikesim.plasticity import eligibility, eligibility_reference
from spikesim.record import SpikeRecord


def record_from_trains(trains, duration):
    times = np.concatenate([np.asarray(t, float) for t in trains] + [np.zeros(0)])
    neurons = np.concatenate(
        [np.full(len(t), k, np.int64) for k, t in enumerate(trains)] + [np.zeros(0, np.int64)]
    )
    order = np.lexsort((neurons, times))
    return SpikeRecord(times[order], neurons[order], len(trains), duration)


@st.composite
def dag_and_trains(draw):
    n = draw(st.integers(2, 9))
    seed = draw(st.integers(0, 2**31))
    dense = draw(st.booleans())
    rng = np.random.default_rng(seed)
    if dense:
        a, b, c_ = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
        delay = float(rng.choice([0.0, 0.001, 0.0025]))
        net = spikesim.layered([a, b, c_], delay=delay, inhibitory_fraction=0.3, seed=seed % 1000)
        n = net.n_neurons
    else:
        n_in = draw(st.integers(1, max(1, n - 1)))
        net = spikesim.random_dag(
            n, n_inputs=n_in, n_outputs=1, p_edge=0.6, delay_range=(0.0, 0.003), seed=seed % 1000
        )
    duration = 0.05
    # times on a coarse grid so that arrivals coincide with post spikes (ties)
    grid = draw(st.sampled_from([0.0005, 0.001, None]))
    trains = []
    for _ in range(n):
        k = int(rng.integers(0, 8))
        if grid is None:
            t = np.sort(rng.uniform(0, duration, k))
        else:
            t = np.unique(rng.integers(0, int(duration / grid), k) * grid)
        trains.append(t)
    c = draw(st.sampled_from([20.0, 200.0, 3000.0, 20000.0]))
    return net, record_from_trains(trains, duration), c


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=dag_and_trains())
def test_eligibility_matches_reference(case):
    net, rec, c = case
    fast = eligibility(net, rec, c)
    slow = eligibility_reference(net, rec, c)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


def two_neurons(delay=0.0):
    return spikesim.Network(
        n_neurons=2, pre=[0], post=[1], weight=[0.5], delay=delay, inputs=[0], outputs=[1]
    )


def test_eligibility_hand_computed():
    c = 100.0
    net = two_neurons(delay=0.001)
    # pre at 4, 9, 19.5 ms -> arrivals 5, 10, 20.5 ms; post at 3, 10, 15 ms
    rec = record_from_trains([[0.004, 0.009, 0.0195], [0.003, 0.010, 0.015]], 0.02)
    # arrival 5: T- = 3, T+ = 10; arrival 10: T- = 3 (strictly before), T+ = 10 (at);
    # arrival 20.5 ms >= duration 20 ms: dropped
    expect = (math.exp(-c * 0.002) - math.exp(-c * 0.005)) + (math.exp(-c * 0.007) - 1.0)
    assert eligibility(net, rec, c)[0] == pytest.approx(expect, rel=1e-12)
    # missing neighbours contribute 0: no post spikes at all
    rec = record_from_trains([[0.004], []], 0.02)
    assert eligibility(net, rec, c)[0] == 0.0
    # only a post spike before: only the positive term
    rec = record_from_trains([[0.004], [0.001]], 0.02)
    assert eligibility(net, rec, c)[0] == pytest.approx(math.exp(-c * 0.004), rel=1e-12)


def test_eligibility_on_engine_output_and_refractory_arrivals():
    net = spikesim.layered([5, 4, 2], tau_syn=0.01, t_ref=0.004, seed=3)
    inp = spikesim.encoding.poisson(
        np.ones(5), duration=0.1, max_rate=200.0, neurons=net.inputs, seed=1
    )
    rec = spikesim.simulate(net, inp, 0.1)
    assert rec.counts()[5:].sum() > 0
    np.testing.assert_allclose(
        eligibility(net, rec, 150.0), eligibility_reference(net, rec, 150.0), rtol=1e-9, atol=1e-12
    )


def test_eligibility_large_c_duration_uses_direct_form():
    # c * duration > 600: the factorised exponentials would overflow
    net = two_neurons()
    rec = record_from_trains([[0.5, 1.2], [0.49, 1.3]], 2.0)
    c = 1000.0
    np.testing.assert_allclose(
        eligibility(net, rec, c), eligibility_reference(net, rec, c), rtol=1e-12
    )
    assert np.all(np.isfinite(eligibility(net, rec, c)))


def test_eligibility_rejects_bad_c():
    net = two_neurons()
    rec = record_from_trains([[0.001], [0.002]], 0.01)
    with pytest.raises(ValidationError, match="c must be"):
        eligibility(net, rec, -1.0)


# -- the rule ---------------------------------------------------------------------------------
from spikesim.plasticity import rule  # noqa: E402
from spikesim.plasticity.loss import predict, trial_loss  # noqa: E402


def test_update_hand_computed_two_neurons():
    c, alpha, C = 100.0, 0.1, 0.8
    net = two_neurons()
    # pre at 5 ms; post at 3 ms and 10 ms: E = e^{-c 2ms} - e^{-c 5ms}
    rec = record_from_trains([[0.005], [0.003, 0.010]], 0.02)
    E = eligibility(net, rec, c)
    e_hand = math.exp(-0.2) - math.exp(-0.5)
    assert E[0] == pytest.approx(e_hand, rel=1e-12)
    L, Lbar = 1.3, 0.8
    w = rule.sh_update(net.weight, E, L, Lbar, alpha, C=C)
    assert w[0] == pytest.approx(0.5 + alpha * (L - Lbar) * C * 0.5 * e_hand, rel=1e-12)
    # a loss better than expected reverses the sign; equal loss changes nothing
    w2 = rule.sh_update(net.weight, E, 0.3, 0.8, alpha, C=C)
    assert w2[0] == pytest.approx(0.5 + alpha * (-0.5) * C * 0.5 * e_hand, rel=1e-12)
    assert rule.sh_update(net.weight, E, 0.8, 0.8, alpha)[0] == 0.5


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    a=st.floats(-1e6, 1e6, allow_nan=False),
    max_change=st.floats(0.0, 0.99),
)
def test_weights_stay_positive(seed, a, max_change):
    rng = np.random.default_rng(seed)
    w = rng.uniform(1e-6, 2.0, 50)
    E = rng.normal(0, 20, 50)
    new = rule.sh_update(w, E, a, 0.0, 1.0, max_change=max_change)
    assert np.all(new > 0)
    ratio = new / w
    assert np.all(ratio >= 1 - max_change - 1e-12) and np.all(ratio <= 1 + max_change + 1e-12)


def test_update_floor_and_ceiling():
    w = rule.sh_update([1.0, 1.0], [10.0, -10.0], 1.0, 0.0, 1.0, w_min=0.9, w_max=1.2)
    np.testing.assert_allclose(w, [1.2, 0.9])


def test_baselines_by_hand():
    s = rule.new_baseline_state(3)
    assert np.isnan(rule.baseline_value("previous", s, 0))
    s = rule.baseline_observe(s, 0, 2.0, beta=0.5)
    s = rule.baseline_observe(s, 1, 4.0, beta=0.5)
    assert rule.baseline_value("previous", s, 2) == 4.0
    assert rule.baseline_value("ema", s, 2) == pytest.approx(0.5 * 2.0 + 0.5 * 4.0)
    assert rule.baseline_value("per-sample", s, 0) == 2.0
    assert rule.baseline_value("per-sample", s, 1) == 4.0
    # an unseen sample falls back to the ema
    assert rule.baseline_value("per-sample", s, 2) == pytest.approx(3.0)
    with pytest.raises(ValidationError, match="baseline"):
        rule.baseline_value("median", s, 0)


def test_learning_rate_schedules():
    assert rule.learning_rate(0.1, 500) == 0.1
    assert rule.learning_rate(0.1, 500, schedule="inverse", k0=100) == pytest.approx(0.1 / 6)
    assert rule.learning_rate(0.1, 250, schedule="step", k0=100, gamma=0.5) == pytest.approx(0.025)
    with pytest.raises(ValidationError):
        rule.learning_rate(0.1, 1, schedule="cosine")


def test_losses_and_prediction():
    counts = np.array([3.0, 1.0, 0.0])
    target = np.array([40.0, 10.0, 10.0])
    expect = ((30 - 40) ** 2 + (10 - 10) ** 2 + (0 - 10) ** 2) / 20.0**2 / 3
    assert trial_loss(counts, 0.1, target=target, rate_scale=20.0) == pytest.approx(expect)
    z = counts / 2.0
    ce = -z[1] + math.log(np.exp(z).sum())
    assert trial_loss(counts, 0.1, kind="cross-entropy", label=1, temperature=2.0) == (
        pytest.approx(ce)
    )
    assert predict([2, 5, 5], [0.01, 0.03, 0.02]) == 2  # tie -> earliest first spike
    assert predict([0, 0, 0]) == -1


# -- centred eligibility ----------------------------------------------------------------------
def test_center_eligibility_by_hand():
    E, m = rule.center_eligibility([1.0, -2.0, 0.0], [0.5, 0.5, 0.0], beta=0.1)
    np.testing.assert_allclose(E, [0.5, -2.5, 0.0])
    np.testing.assert_allclose(m, [0.9 * 0.5 + 0.1 * 1.0, 0.9 * 0.5 + 0.1 * -2.0, 0.0])
    with pytest.raises(ValidationError, match="beta"):
        rule.center_eligibility([1.0], [0.0], beta=0.0)
    with pytest.raises(ValidationError, match="shape"):
        rule.center_eligibility([1.0, 2.0], [0.0], beta=0.5)


def test_centred_eligibility_removes_the_drift_of_a_biased_baseline():
    """Documented behaviour: on real spike trains E has a systematic mean (negative on the
    excitatory edges that drive their target), so a baseline that is off by a constant
    (L - L_bar = 1 every trial) drifts the log-weights by about alpha * mean(E) per trial;
    the centred eligibility has mean ~0 and removes that drift."""
    from spikesim.engines.event import simulate_csr
    from spikesim.plasticity.eligibility import eligibility_csr
    from spikesim.plasticity.tasks import ei_network
    from spikesim.record import check_input_spikes

    net = ei_network([12, 2], w_exc=0.25, w_inh=0.05, spread=0.3, seed=1)
    rng = np.random.default_rng(0)
    duration, c, beta, trials = 0.1, 100.0, 0.05, 400
    raw, centred = [], []
    m = np.zeros(net.n_edges)
    for _ in range(trials):
        counts = rng.poisson(60.0 * duration, 12)
        nrn = np.repeat(net.inputs, counts)
        inp = check_input_spikes(net, (rng.uniform(0, duration, nrn.size), nrn), duration)
        s, k, b = simulate_csr(net, net.weight, inp[0], inp[1], duration)
        E = eligibility_csr(net, s, k, b, duration, c)
        Ec, m = rule.center_eligibility(E, m, beta)
        raw.append(E)
        centred.append(Ec)
    raw, centred = np.array(raw)[100:], np.array(centred)[100:]  # after the running mean settled
    se = raw.std(axis=0) / np.sqrt(raw.shape[0])
    exc = net.sign > 0
    # the raw eligibility has a clearly negative mean on excitatory edges ...
    assert np.mean(raw[:, exc].mean(axis=0) < -3 * se[exc]) > 0.8
    # ... the centred one does not: its mean is within noise on (almost) every edge
    sec = centred.std(axis=0) / np.sqrt(centred.shape[0])
    assert np.mean(np.abs(centred.mean(axis=0)) < 4 * sec) > 0.9
    # a constant baseline error drifts log-weights with the raw E, not with the centred E
    w0 = net.weight.copy()
    w_raw, w_cen = w0.copy(), w0.copy()
    for E, Ec in zip(raw, centred, strict=True):
        w_raw = rule.sh_update(w_raw, E, 1.0, 0.0, 0.01)
        w_cen = rule.sh_update(w_cen, Ec, 1.0, 0.0, 0.01)
    drift_raw = np.log(w_raw / w0)[exc].mean()
    drift_cen = np.log(w_cen / w0)[exc].mean()
    assert drift_raw < -0.05
    assert abs(drift_cen) < 0.2 * abs(drift_raw)


# -- population decoding, random ties, decoupled E/I pairs -----------------------------------


def test_population_decoding_sums_counts_per_class():
    # 3 classes x 2 outputs: class sums (3, 4, 1); the single busiest output (3) is class 0
    counts = [3, 0, 2, 2, 1, 0]
    assert predict(counts, population=2) == 1
    assert predict(counts, population=1) == 0
    # a tie of class sums goes to the class holding the earliest first spike
    first = [0.05, np.inf, 0.01, 0.09, 0.02, np.inf]
    assert predict([2, 0, 1, 1, 0, 0], first, population=2) == 1
    with pytest.raises(ValidationError, match="population"):
        predict(counts, population=4)


def test_random_ties_uniform_over_tied_classes():
    us = (np.arange(3000) + 0.5) / 3000
    # classes 1 and 3 tie: each is picked for half of the uniforms, never another class
    picks = np.array([predict([1, 4, 2, 4], tie_break="random", u=u) for u in us])
    assert set(picks) == {1, 3}
    assert np.mean(picks == 1) == pytest.approx(0.5, abs=1e-3)
    # an all-silent trial is a tie of all classes: uniform over them (chance), never -1
    picks = np.array([predict([0, 0, 0, 0, 0, 0], tie_break="random", u=u) for u in us])
    np.testing.assert_allclose(np.bincount(picks, minlength=6) / us.size, 1 / 6, atol=1e-3)
    # a unique maximum ignores u; first-spike still calls silence -1
    assert {predict([0, 3, 1], tie_break="random", u=u) for u in (0.0, 0.5, 0.99)} == {1}
    assert predict([0, 0, 0]) == -1


def test_silent_network_scores_chance_with_random_ties():
    from spikesim.plasticity.tasks import ei_network
    from spikesim.plasticity.trainer import Trainer

    net = ei_network([4, 3], w_exc=0.0, w_inh=0.0, seed=0)  # outputs never fire
    rng = np.random.default_rng(1)
    x = rng.random((600, 4))
    y = rng.integers(0, 3, 600)
    t = np.zeros((600, 3))
    accs = []
    for tie in ("first-spike", "random"):
        tr = Trainer(net, x, t, y, tie_break=tie, rate_scale=10.0, seed=0)
        accs.append(tr.evaluate(x, t, y)["accuracy"])
    assert accs[0] == 0.0
    assert accs[1] == pytest.approx(1 / 3, abs=0.06)


def test_random_signs_and_inhibitory_fraction():
    from spikesim.plasticity.tasks import ei_network

    net = ei_network(
        [40, 30, 20], w_exc=0.2, w_inh=0.1, ei_pairs=False, inhibitory_fraction=0.4, seed=3
    )
    assert net.n_edges == 40 * 30 + 30 * 20
    assert np.mean(net.sign < 0) == pytest.approx(0.4, abs=0.03)
    np.testing.assert_allclose(net.weight[net.sign < 0].mean(), 0.1, rtol=0.05)
    np.testing.assert_allclose(net.weight[net.sign > 0].mean(), 0.2, rtol=0.05)
    with pytest.raises(ValidationError, match="inhibitory_fraction"):
        ei_network([2, 2], w_exc=0.2, w_inh=0.1, ei_pairs=False, inhibitory_fraction=1.5)


def test_inhibitory_delay_decouples_pair_eligibilities():
    from spikesim.engines.event import simulate_csr, to_record
    from spikesim.plasticity.tasks import ei_network
    from spikesim.record import check_input_spikes

    def pair_e(delay_inh):
        net = ei_network(
            [3, 2], w_exc=0.6, w_inh=0.2, ei_pairs=True, delay=0.0, delay_inh=delay_inh, seed=0
        )
        rng = np.random.default_rng(0)
        nrn = rng.integers(0, 3, 60)
        t = rng.uniform(0, 0.2, 60)
        inp = check_input_spikes(net, (t, nrn), 0.2)
        s, c, b = simulate_csr(net, net.weight, inp[0], inp[1], 0.2)
        rec = to_record(net, s, c, b, 0.2)
        assert c[net.outputs].sum() > 0
        E = eligibility(net, rec, 100.0)
        np.testing.assert_allclose(E, eligibility_reference(net, rec, 100.0), atol=1e-12)
        return net, E

    net, E = pair_e(None)
    np.testing.assert_array_equal(E[0::2], E[1::2])  # same arrivals: identical eligibilities
    net, E = pair_e(0.003)
    assert np.all(net.delay[net.sign < 0] == 0.003) and np.all(net.delay[net.sign > 0] == 0)
    assert np.any(np.abs(E[0::2] - E[1::2]) > 1e-6)


def _tiny(**kw):
    import spikesim
    from spikesim.plasticity.trainer import Trainer

    net = spikesim.layered([5, 3, 2], inhibitory_fraction=0.25, delay=0.001, seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 1.0, (4, 5))
    t = rng.uniform(5.0, 60.0, (4, 2))
    return Trainer(net, x, t, np.full(4, -1), rate_scale=20.0, chunk=10, seed=0, **kw)


def test_trainer_takes_the_rule_as_a_record():
    from spikesim.plasticity import SH

    kw = dict(c=80.0, max_change=0.3, w_max=0.5, center_eligibility=True)
    a = _tiny(learning_rate=0.3, **kw)
    b = _tiny(learning_rate=0.3, rule=SH(**kw))
    c = _tiny(alpha=0.3, rule=SH(**kw))  # the old name of learning_rate
    for tr in (a, b, c):
        tr.train_chunk()
    np.testing.assert_array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.w, c.w)
    assert not np.array_equal(a.w, a.network.weight)
    assert a.max_change == 0.3 and a.learning_rate == 0.3 and a.alpha == 0.3
    np.testing.assert_array_equal(a.e_mean, a.state_dict()["e_mean"])
    with pytest.raises(ValidationError, match="max_change"):
        _tiny(rule=SH(), max_change=0.2)
    with pytest.raises(ValidationError, match="learning_rate only"):
        _tiny(alpha=0.1, learning_rate=0.1)
    with pytest.raises(ValidationError, match="rule.c must be positive"):
        _tiny(c=-1.0)


def test_state_dict_round_trip_and_old_checkpoints():
    a = _tiny(learning_rate=0.3, center_eligibility=True)
    a.train_chunk()
    state = a.state_dict()
    assert set(state) == {"w", "bstate", "step", "ring", "ring_n", "e_mean"}
    b = _tiny(learning_rate=0.3, center_eligibility=True)
    b.load_state_dict(state)
    a.train_chunk()
    b.train_chunk()
    np.testing.assert_array_equal(a.w, b.w)
    old = {k: v for k, v in state.items() if k != "e_mean"}  # before centring existed
    b.load_state_dict(old)
    np.testing.assert_array_equal(b.e_mean, np.zeros_like(b.w))


def test_simulate_traces_are_the_eligibilities():
    from spikesim.plasticity.eligibility import eligibility_csr

    tr = _tiny()
    out = tr.simulate(tr.x, tr.targets, tr.labels, rng=np.random.default_rng(3), eligibility=True)
    assert out["traces"].shape == (4, tr.network.n_edges)
    assert out["spike_counts"].shape == (4, tr.network.n_neurons)
    plain = tr.simulate(tr.x, tr.targets, tr.labels, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(plain["losses"], out["losses"])
    assert np.any(out["traces"] != 0)
    # the first trial again, by hand: same spikes, same eligibility
    from spikesim.engines.event import simulate_csr

    rng = np.random.default_rng(3)
    counts, times = tr._spikes(tr.x, rng)
    seg = times[: counts[0].sum()]
    nrn = np.repeat(tr.network.inputs, counts[0])
    order = np.lexsort((seg, nrn))
    s, c, b = simulate_csr(tr.network, tr.w, seg[order], nrn[order], tr.duration)
    np.testing.assert_array_equal(c, out["spike_counts"][0])
    E = eligibility_csr(tr.network, s, c, b, tr.duration, tr.c)
    np.testing.assert_allclose(out["traces"][0], E, rtol=1e-12, atol=1e-15)


_CONFIG = """
[experiment]
name = "tiny"
kind = "spiking"

[network]
sizes = [10, 2]

[rule]
{rule}

[train]
trials = 1000
chunk = 500
eval_every = 1000
"""


@pytest.mark.parametrize(
    "rule, match",
    [
        ('kind = "nope"', "rule.kind = 'nope': is not one of .*'sh'"),
        ("max_change = 1.5", r"rule.max_change must be in \[0, 1\), got 1.5"),
        ("c = -1.0", "rule.c"),
        ("w_min = 2.0\nw_max = 1.0", "rule.w_min and rule.w_max"),
        ("alpha = 0.1", "rule.alpha"),
    ],
)
def test_spiking_rule_table_errors_name_the_key(tmp_path, rule, match):
    from spikesim.errors import ConfigError
    from spikesim.experiments.config import load

    p = tmp_path / "exp.toml"
    p.write_text(_CONFIG.format(rule=rule))
    with pytest.raises(ConfigError, match=match):
        load(p)


def test_spiking_rule_from_config(tmp_path):
    from spikesim.experiments.config import load
    from spikesim.experiments.kinds.spiking import make_rule
    from spikesim.plasticity import SH

    p = tmp_path / "exp.toml"
    p.write_text(_CONFIG.format(rule="learning_rate = 0.05\nmax_change = 0.25"))
    config = load(p)
    assert config["rule"]["kind"] == "sh" and config["rule"]["learning_rate"] == 0.05
    assert make_rule(config) == SH(max_change=0.25, w_max=1e9)


def test_a_new_rule_brings_its_own_rule_keys(tmp_path, monkeypatch):
    """A rule registered outside the package gets its parameters as ``[rule]`` keys (type,
    default and doc from its dataclass fields) without any change to the spiking kind; its
    validation errors name the key; SH's own keys are not accepted for it."""
    import dataclasses
    from typing import NamedTuple

    from spikesim import ConfigError
    from spikesim.experiments.config import load
    from spikesim.experiments.kinds.spiking import make_rule, rule_fields
    from spikesim.plasticity import base
    from spikesim.plasticity.sh import SHState, _sh_trace, _sh_update

    class ScaledKernel(NamedTuple):
        c: float
        C: float
        max_change: float
        w_min: float
        w_max: float
        center_eligibility: bool
        center_beta: float

    @dataclasses.dataclass(frozen=True)
    class Scaled(base.Rule):
        c: float = dataclasses.field(default=50.0, metadata={"doc": "STDP rate, 1/s"})
        gain: float = dataclasses.field(default=2.0, metadata={"doc": "amplitude C"})
        name = "scaled-test"
        signal = "scalar"
        State = SHState

        def validate(self):
            if not self.gain > 0:
                raise ValidationError(f"rule.gain must be positive, got {self.gain!r}")

        def kernel_params(self, *, noise_scale=1.0):
            return ScaledKernel(self.c / noise_scale, self.gain, 0.5, 0.0, 1e9, False, 0.01)

    monkeypatch.setattr(base, "_RULES", dict(base._RULES))
    base.register_rule(Scaled, _sh_trace, _sh_update, ScaledKernel)
    assert set(rule_fields(Scaled)) == {"c", "gain"}
    p = tmp_path / "exp.toml"
    p.write_text(_CONFIG.format(rule='kind = "scaled-test"\ngain = 3.0'))
    assert make_rule(load(p)) == Scaled(gain=3.0)
    p.write_text(_CONFIG.format(rule='kind = "scaled-test"\ngain = -1.0'))
    with pytest.raises(ConfigError, match="rule.gain must be positive"):
        load(p)
    p.write_text(_CONFIG.format(rule='kind = "scaled-test"\nmax_change = 0.2'))
    with pytest.raises(ConfigError, match="unknown key rule.max_change"):
        load(p)
