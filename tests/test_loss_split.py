"""The split loss (``loss_split = "class"``) and the ``regular`` trial encoding.

The trainer against a slow, obvious reference (one trial and one edge at a time, the
modules' loss terms and baselines kept by hand), against separate single-module trainers,
and the encoding against :func:`spikesim.encoding.regular` with the same phases.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim.encoding import draw, regular, regular_draw
from spikesim.engines.event import simulate_csr
from spikesim.errors import ValidationError
from spikesim.graph import Network
from spikesim.plasticity.eligibility import eligibility_csr
from spikesim.plasticity.loss import one_hot_rates
from spikesim.plasticity.mstdpet import MSTDPET
from spikesim.plasticity.perturbation import NodePerturbation
from spikesim.plasticity.rule import baseline_observe, baseline_value, new_baseline_state
from spikesim.plasticity.sh import SH
from spikesim.plasticity.tasks import ei_network
from spikesim.plasticity.trainer import Trainer

N_IN, P, K = 10, 2, 3  # inputs, outputs per class, classes


def classification_trainer(net, *, split="class", encoding="poisson", **kw):
    rng = np.random.default_rng(5)
    n = 6
    x = rng.uniform(0.2, 1.0, (n, N_IN))
    y = np.arange(n) % K
    targets = np.repeat(one_hot_rates(y, K, 60.0, 10.0), P, axis=1)
    args = dict(
        duration=0.1,
        max_rate=80.0,
        learning_rate=0.3,
        baseline="same-sample",
        presentations=3,
        rate_scale=20.0,
        chunk=12,
        population=P,
        loss_split=split,
        encoding=encoding,
        rule=SH(max_change=0.2, w_max=0.6),
        seed=1,
    )
    args.update(kw)
    return Trainer(net, x, targets, y, **args)


def reference_split_training(tr: Trainer, n_chunks: int):
    """SH eq. (4.1) with a split loss, written out one trial and one edge at a time.

    Module ``g`` (class ``g``'s outputs) has the loss term ``sum_{o in g} d_o^2 / n_out``
    with ``d_o = (r_o - target_o) / rate_scale`` and its own baseline; an edge into an
    output of class ``g`` is updated with ``alpha (L^g - L_bar^g)``, any other edge with the
    sum of that over the classes whose outputs its target neuron reaches (found here by a
    depth-first search from every neuron).
    """
    net = tr.network
    w = np.array(net.weight, dtype=np.float64)
    n_out = net.outputs.size
    mod_of_out = np.arange(n_out) // (tr.population if tr.loss_split == "class" else 1)
    n_mod = mod_of_out.max() + 1
    out_index = {int(j): o for o, j in enumerate(net.outputs)}

    def reaches(j, seen=None):
        if j in out_index:
            return {int(mod_of_out[out_index[j]])}
        got = set()
        for e in np.flatnonzero(net.pre == j):
            got |= reaches(int(net.post[e]))
        return got

    edge_classes = [sorted(reaches(int(p))) for p in net.post]
    states = [new_baseline_state(tr.x.shape[0]) for _ in range(n_mod)]
    f_lo, f_hi = 1.0 - tr.rule.max_change, 1.0 + tr.rule.max_change
    for ci in range(n_chunks):
        step = ci * tr.chunk
        samples, pres = tr._samples(step, tr.chunk)
        counts, times = tr._spikes(tr.x[samples], np.random.default_rng([tr.seed, 1, ci]))
        pos = 0
        for t in range(tr.chunk):
            neurons, t_in = [], []
            for k, j in enumerate(net.inputs):
                seg = sorted(times[pos : pos + counts[t, k]])
                pos += counts[t, k]
                neurons += [int(j)] * len(seg)
                t_in += seg
            start, count, buf = simulate_csr(
                net, w, np.array(t_in), np.array(neurons, np.int64), tr.duration
            )
            s = int(samples[t])
            terms = np.zeros(n_mod)
            for o, j in enumerate(net.outputs):
                d = (count[j] / tr.duration - tr.targets[s, o]) / tr.rate_scale
                terms[mod_of_out[o]] += d * d / n_out
            sig = np.zeros(n_mod)
            for g in range(n_mod):
                kind = "previous" if pres[t] > 0 else tr.baseline
                lbar = baseline_value(kind, states[g], s)
                if not np.isnan(lbar):
                    sig[g] = tr.learning_rate * (terms[g] - lbar)
                states[g] = baseline_observe(states[g], s, terms[g], tr.beta)
            if not np.any(sig):
                continue
            E = eligibility_csr(net, start, count, buf, tr.duration, tr.c_eff)
            for e in range(net.n_edges):
                a = sum(sig[g] for g in edge_classes[e])
                f = min(max(1.0 + a * tr.rule.C * E[e], f_lo), f_hi)
                w[e] = min(max(w[e] * f, tr.rule.w_min), tr.rule.w_max)
    return w


@pytest.mark.parametrize(
    "hidden, encoding",
    [
        ("none", "poisson"),
        ("none", "regular"),
        ("full", "poisson"),
        ("full", "regular"),
        ("modular", "poisson"),
        ("modular-skip", "regular"),
        ("partial", "poisson"),
        ("none-output", "poisson"),
        ("partial-output", "regular"),
    ],
)
def test_split_training_equals_the_slow_reference(hidden, encoding):
    split = "output" if hidden.endswith("-output") else "class"
    hidden = hidden.removesuffix("-output")
    if hidden.startswith("modular"):  # one hidden pool per class (and skip edges)
        skip = (0.2, 0.1) if hidden == "modular-skip" else None
        net = ei_network(
            [N_IN, 2 * K, K * P],
            w_exc=0.3,
            w_inh=0.1,
            delay_inh=0.002,
            modules=K,
            skip=skip,
            seed=3,
        )
        n_skip = 0 if skip is None else 2 * N_IN * K * P
        assert net.n_edges == 2 * (N_IN * 2 * K + 2 * K * P) + n_skip
    else:
        sizes = [N_IN, K * P] if hidden == "none" else [N_IN, 6, K * P]
        net = spikesim.layered(sizes, inhibitory_fraction=0.25, delay=0.001, seed=3)
        if hidden == "partial":  # hidden neuron h feeds the classes != h % K only
            keep = ~np.isin(net.post, net.outputs) | (
                (net.pre - N_IN) % K != (net.post - N_IN - 6) // P
            )
            net, _ = _subnetwork(
                net,
                np.concatenate([np.arange(N_IN, N_IN + 6), net.outputs]),
                edges=np.flatnonzero(keep),
            )
    tr = classification_trainer(net, encoding=encoding, split=split)
    assert tr.n_modules == (K if split == "class" else K * P)
    w0 = tr.w.copy()
    for _ in range(2):
        tr.train_chunk()
    w_ref = reference_split_training(tr, 2)
    assert not np.allclose(w_ref, w0)  # it trained
    # the modules' signals are sums of different roundings than the reference's: equal
    # to the last few bits, not bit for bit
    np.testing.assert_allclose(tr.w, w_ref, rtol=1e-12, atol=1e-15)


def _per_neuron(value, keep):
    return np.asarray(value)[keep] if np.ndim(value) else value


def _subnetwork(net: Network, keep_outputs: np.ndarray, edges=None) -> tuple[Network, np.ndarray]:
    """The inputs, ``keep_outputs`` (the non-input neurons kept; the last ``n`` of them the
    outputs, ``n`` = the kept outputs of ``net``) and the edges between them (or ``edges``);
    also the kept edges."""
    keep = np.concatenate([net.inputs, keep_outputs])
    new_id = -np.ones(net.n_neurons, np.int64)
    new_id[keep] = np.arange(keep.size)
    if edges is None:
        edges = np.flatnonzero(np.isin(net.post, keep_outputs))
    n_out = int(np.isin(keep_outputs, net.outputs).sum())
    sub = Network(
        keep.size,
        new_id[net.pre[edges]],
        new_id[net.post[edges]],
        net.weight[edges],
        sign=net.sign[edges],
        delay=net.delay[edges],
        tau_syn=_per_neuron(net.tau_syn, keep),
        threshold=_per_neuron(net.threshold, keep),
        t_ref=_per_neuron(net.t_ref, keep),
        inputs=np.arange(net.inputs.size),
        outputs=np.arange(keep.size - n_out, keep.size),
    )
    return sub, edges


def test_split_single_layer_is_one_independent_trainer_per_class():
    """With one layer the modules share no edge: training the K-class network with the
    split loss equals K networks of one class each, every one trained by SH eq. (4.1) on its
    own loss (its outputs' squared errors, scaled by P / n_outputs through the learning
    rate) from the same input spikes."""
    net = spikesim.layered([N_IN, K * P], inhibitory_fraction=0.25, delay=0.001, seed=4)
    tr = classification_trainer(net)
    for _ in range(3):
        tr.train_chunk()
    for g in range(K):
        outs = net.outputs[g * P : (g + 1) * P]
        sub, edges = _subnetwork(net, outs)
        one = Trainer(
            sub,
            tr.x,
            tr.targets[:, g * P : (g + 1) * P],
            np.zeros(tr.x.shape[0], np.int64),
            duration=tr.duration,
            max_rate=tr.max_rate,
            learning_rate=tr.learning_rate * P / (K * P),
            baseline=tr.baseline,
            presentations=tr.presentations,
            rate_scale=tr.rate_scale,
            chunk=tr.chunk,
            population=P,
            rule=tr.rule,
            seed=tr.seed,
        )
        w0 = one.w.copy()
        for _ in range(3):
            one.train_chunk()
        assert not np.allclose(one.w, w0)
        np.testing.assert_allclose(tr.w[edges], one.w, rtol=1e-12, atol=1e-15)


def test_no_split_keeps_one_module_and_old_checkpoints_load():
    net = spikesim.layered([N_IN, K * P], inhibitory_fraction=0.25, delay=0.001, seed=4)
    a = classification_trainer(net, split="none")
    assert a.n_modules == 1 and a.bstate.ndim == 2
    a.train_chunk()
    st = a.state_dict()
    old = dict(st, bstate=st["bstate"][0], ring=st["ring"][:, 0])  # the 1-d layout
    b = classification_trainer(net, split="none")
    b.load_state_dict(old)
    a.train_chunk()
    b.train_chunk()
    np.testing.assert_array_equal(a.w, b.w)
    c = classification_trainer(net, split="class")
    with pytest.raises(ValidationError, match="loss split"):
        c.load_state_dict(st)


def test_split_resume_and_threads_are_bit_identical():
    net = spikesim.layered([N_IN, 6, K * P], inhibitory_fraction=0.25, delay=0.001, seed=2)
    a = classification_trainer(net)
    for _ in range(2):
        a.train_chunk()
    b = classification_trainer(net)
    b.train_chunk()
    c = classification_trainer(net)
    c.load_state_dict(b.state_dict())
    c.train_chunk()
    np.testing.assert_array_equal(a.w, c.w)
    np.testing.assert_array_equal(a.bstate, c.bstate)
    # the threaded loop (batch 3, 2 threads) against the serial one with the same batch
    s = classification_trainer(net, batch=3, n_threads=1)
    t = classification_trainer(net, batch=3, n_threads=2)
    for _ in range(2):
        s.train_chunk()
        t.train_chunk()
    assert not np.array_equal(s.w, net.weight)
    np.testing.assert_array_equal(s.w, t.w)


def test_split_shuffled_control_draws_whole_loss_vectors():
    net = spikesim.layered([N_IN, K * P], inhibitory_fraction=0.25, delay=0.001, seed=4)
    tr = classification_trainer(net, shuffle_reward=True)
    tr.train_chunk()
    assert tr.ring.shape == (tr.chunk, K)
    # each ring row is one trial's module terms: they add up to a trial's loss
    out = tr.train_chunk()
    sums = tr.ring.sum(axis=1)
    assert np.all(np.isin(np.round(sums, 12), np.round(out["losses"], 12)))


def test_split_refusals_name_the_problem():
    net = spikesim.layered([N_IN, K * P], inhibitory_fraction=0.25, delay=0.001, seed=4)
    with pytest.raises(ValidationError, match="needs the mse loss.*cross-entropy"):
        classification_trainer(net, loss="cross-entropy")
    with pytest.raises(ValidationError, match="'sh' is not separable"):
        classification_trainer(net, rule=SH(center_eligibility=True))
    with pytest.raises(ValidationError, match="'mstdpet' is not separable"):
        classification_trainer(net, rule=MSTDPET())
    with pytest.raises(ValidationError, match="loss_split = 'classes' is not one of"):
        classification_trainer(net, split="classes")
    with pytest.raises(ValidationError, match="encoding = 'periodic' is not one of"):
        classification_trainer(net, encoding="periodic")
    # node perturbation declares itself separable
    classification_trainer(net, rule=NodePerturbation())


@settings(max_examples=40, deadline=None)
@given(
    lam=st.lists(st.floats(0.0, 12.0), min_size=1, max_size=8),
    seed=st.integers(0, 2**31),
    duration=st.floats(0.01, 1.0),
)
def test_regular_draw_is_the_regular_code_with_random_phases(lam, seed, duration):
    lam = np.array(lam)
    counts, times = regular_draw(lam, duration, np.random.default_rng(seed))
    phase = np.random.default_rng(seed).random(lam.shape)  # the draw's phases
    assert counts.sum() == times.size
    pos = 0
    for k in range(lam.size):
        seg = times[pos : pos + counts[k]]
        pos += counts[k]
        assert counts[k] in (np.floor(lam[k]), np.ceil(lam[k]))
        if lam[k] == 0.0:
            continue
        # the deterministic regular code with this entry's phase: same spikes
        t_ref, _ = regular(
            [1.0], duration=duration, max_rate=lam[k] / duration, phase=float(phase[k])
        )
        np.testing.assert_allclose(seg, t_ref, rtol=1e-12, atol=1e-15)
        assert np.all((seg >= 0.0) & (seg < duration))


def test_regular_draw_counts_are_unbiased_with_small_variance():
    lam = np.array([0.3, 1.5, 2.75, 4.0])
    rng = np.random.default_rng(0)
    c = np.array([draw("regular", lam, 0.1, rng)[0] for _ in range(20000)])
    frac = lam - np.floor(lam)
    np.testing.assert_allclose(c.mean(axis=0), lam, atol=0.02)
    np.testing.assert_allclose(c.var(axis=0), frac * (1 - frac), atol=0.01)
    with pytest.raises(ValidationError, match="encoding 'gamma' is not one of poisson, regular"):
        draw("gamma", lam, 0.1, rng)


def test_skip_edges_add_input_to_output_pairs_and_keep_the_layered_part():
    kw = dict(w_exc=[0.3, 0.2], w_inh=[0.1, 0.05], delay=0.001, delay_inh=0.002, modules=2)
    plain = ei_network([5, 4, 6], seed=7, **kw)
    net = ei_network([5, 4, 6], seed=7, skip=(0.15, 0.06), **kw)
    n = plain.n_edges
    for name in ("pre", "post", "weight", "sign", "delay"):
        np.testing.assert_array_equal(getattr(net, name)[:n], getattr(plain, name)[:n])
    pre, post = net.pre[n:], net.post[n:]
    # every (input, output) pair once as an excitatory and once as an inhibitory edge
    pairs = sorted(zip(pre[::2].tolist(), post[::2].tolist(), strict=True))
    assert pairs == sorted((i, o) for i in net.inputs.tolist() for o in net.outputs.tolist())
    np.testing.assert_array_equal(pre[0::2], pre[1::2])
    np.testing.assert_array_equal(net.sign[n:], np.tile([1, -1], pre.size // 2))
    w = net.weight[n:].reshape(-1, 2)
    assert np.all((w[:, 0] >= 0.075) & (w[:, 0] <= 0.225))  # 0.15 * [0.5, 1.5]
    assert np.all((w[:, 1] >= 0.03) & (w[:, 1] <= 0.09))
    np.testing.assert_array_equal(net.delay[n:], np.tile([0.001, 0.002], pre.size // 2))
    with pytest.raises(ValidationError, match="needs a hidden layer"):
        ei_network([5, 6], w_exc=0.3, w_inh=0.1, skip=(0.1, 0.1))
    with pytest.raises(ValidationError, match="non-negative"):
        ei_network([5, 4, 6], w_exc=0.3, w_inh=0.1, skip=(0.1, -0.1))


def test_split_update_is_better_aligned_and_less_noisy_on_digits():
    """The class-split update (each edge learns from its class's loss term) points closer
    to the delta rule and has a larger signal-to-noise than the whole-loss update (SH
    eq. 4.1), at the same trials: the other classes' terms add only noise."""
    from spikesim.experiments.config import load
    from spikesim.experiments.diagnose import update_alignment

    cfg = load("experiments/digits.toml", overrides=['encoding.kind="regular"'])
    rows = update_alignment(cfg, samples=2, trials=500, seed=1)
    for r in rows:
        assert 0.2 < r["cos"] < r["cos_split"]
        assert r["snr"] < r["snr_split"]
        assert r["e_exc"] < 0 < r["e_inh"]
    hidden = {**cfg, "network": {**cfg["network"], "sizes": [64, 20, 10]}}
    with pytest.raises(spikesim.errors.ConfigError, match="without hidden layers"):
        update_alignment(hidden)
