"""The ``leave-one-out`` and ``sample-mean`` baselines: a presentation of a sample learns
against the mean loss of the sample's other presentations (``leave-one-out``: all of them,
simulated with the same weights) or of its earlier ones (``sample-mean``, trial by trial).

The trainer against a slow, obvious reference (one trial and one edge at a time, the
batch's trials simulated with the batch's weights, the baselines computed by hand), with
and without a loss split; the validation of ``batch`` and ``presentations``; a checkpoint
resume that ends bit for bit where an uninterrupted run does.
"""

from __future__ import annotations

import numpy as np
import pytest

import spikesim
from spikesim.engines.event import simulate_csr
from spikesim.errors import ConfigError, ValidationError
from spikesim.experiments import resolve
from spikesim.plasticity.eligibility import eligibility_csr
from spikesim.plasticity.loss import one_hot_rates
from spikesim.plasticity.sh import SH
from spikesim.plasticity.trainer import Trainer

N_IN, P, K = 10, 2, 3  # inputs, outputs per class, classes


def _trainer(*, split="class", presentations=4, batch=4, **kw):
    net = spikesim.layered([N_IN, K * P], inhibitory_fraction=0.25, delay=0.001, seed=3)
    rng = np.random.default_rng(5)
    n = 6
    x = rng.uniform(0.2, 1.0, (n, N_IN))
    y = np.arange(n) % K
    targets = np.repeat(one_hot_rates(y, K, 60.0, 10.0), P, axis=1)
    args = dict(
        duration=0.1,
        max_rate=80.0,
        learning_rate=0.3,
        baseline="leave-one-out",
        presentations=presentations,
        batch=batch,
        n_threads=1,
        rate_scale=20.0,
        chunk=24,
        population=P,
        loss_split=split,
        encoding="regular",
        rule=SH(max_change=0.2, w_max=0.6),
        seed=1,
    )
    args.update(kw)
    return Trainer(net, x, targets, y, **args)


def _reference(tr: Trainer, n_chunks: int) -> np.ndarray:
    """SH eq. (4.1) with the leave-one-out (or sample-mean) baseline, written out: the
    trials of a batch are simulated with the weights at the batch's start; presentation
    ``p`` of a sample gets ``alpha (L_p - mean of the sample's other presentations' L)``
    (sample-mean: of presentations ``0 .. p - 1``, none for ``p = 0``) per module (class,
    or the whole loss without a split); the updates follow one another in trial order."""
    net = tr.network
    w = np.array(net.weight, dtype=np.float64)
    n_out = net.outputs.size
    n_mod = K if tr.loss_split == "class" else 1
    mod_of_out = np.arange(n_out) // P if n_mod > 1 else np.zeros(n_out, int)
    edge_mod = [
        int(mod_of_out[list(net.outputs).index(post)]) if n_mod > 1 else 0 for post in net.post
    ]
    n = tr.presentations
    f_lo, f_hi = 1.0 - tr.rule.max_change, 1.0 + tr.rule.max_change
    for ci in range(n_chunks):
        step = ci * tr.chunk
        samples, pres = tr._samples(step, tr.chunk)
        counts, times = tr._spikes(tr.x[samples], np.random.default_rng([tr.seed, 1, ci]))
        offsets = np.concatenate([[0], np.cumsum(counts.sum(axis=1))])
        seen = {}  # trial -> its loss terms
        for b0 in range(0, tr.chunk, tr.batch):
            w_batch = w.copy()
            terms, elig = [], []
            for t in range(b0, b0 + tr.batch):
                pos = offsets[t]
                neurons, t_in = [], []
                for k, j in enumerate(net.inputs):
                    seg = sorted(times[pos : pos + counts[t, k]])
                    pos += counts[t, k]
                    neurons += [int(j)] * len(seg)
                    t_in += seg
                start, count, buf = simulate_csr(
                    net, w_batch, np.array(t_in), np.array(neurons, np.int64), tr.duration
                )
                s = int(samples[t])
                term = np.zeros(n_mod)
                for o, j in enumerate(net.outputs):
                    d = (count[j] / tr.duration - tr.targets[s, o]) / tr.rate_scale
                    term[mod_of_out[o]] += d * d / n_out
                terms.append(term)
                seen[t] = term
                elig.append(eligibility_csr(net, start, count, buf, tr.duration, tr.c_eff))
            for i, t in enumerate(range(b0, b0 + tr.batch)):
                first = t - pres[t]
                if tr.baseline == "sample-mean":
                    if pres[t] == 0:
                        continue
                    others = [seen[q] for q in range(first, t)]
                else:
                    others = [seen[q] for q in range(first, first + n) if q != t]
                sig = tr.learning_rate * (terms[i] - np.mean(others, axis=0))
                for e in range(net.n_edges):
                    f = min(max(1.0 + sig[edge_mod[e]] * tr.rule.C * elig[i][e], f_lo), f_hi)
                    w[e] = min(max(w[e] * f, tr.rule.w_min), tr.rule.w_max)
    return w


@pytest.mark.parametrize(
    ("baseline", "split", "presentations", "batch"),
    [
        ("leave-one-out", "class", 4, 4),
        ("leave-one-out", "none", 3, 6),
        ("leave-one-out", "class", 2, 8),
        ("sample-mean", "class", 4, 1),
        ("sample-mean", "none", 3, 1),
        ("sample-mean", "class", 4, 2),
    ],
)
def test_training_equals_the_slow_reference(baseline, split, presentations, batch):
    tr = _trainer(baseline=baseline, split=split, presentations=presentations, batch=batch)
    w0 = tr.w.copy()
    for _ in range(2):
        tr.train_chunk()
    w_ref = _reference(tr, 2)
    assert not np.allclose(w_ref, w0)  # it trained
    # the baseline is a sum in another order than the reference's mean: equal to the
    # last few bits, not bit for bit
    np.testing.assert_allclose(tr.w, w_ref, rtol=1e-12, atol=1e-15)


def test_sample_mean_of_two_presentations_is_same_sample():
    """With 2 presentations the mean of the earlier ones is the previous one: the same
    weights as ``same-sample``, bit for bit."""
    a = _trainer(baseline="sample-mean", presentations=2, batch=1)
    b = _trainer(baseline="same-sample", presentations=2, batch=1)
    for tr in (a, b):
        tr.train_chunk()
    np.testing.assert_array_equal(a.w, b.w)


def test_every_presentation_updates():
    """Unlike ``same-sample`` (a sample's first presentation only measures the loss), every
    trial changes the weights (here: with these seeds no trial's loss equals its
    baseline exactly, which would give a zero signal)."""
    loo = _trainer(split="none", presentations=4, batch=4).train_chunk()["rel_change"]
    same = _trainer(split="none", presentations=4, batch=4, baseline="same-sample")
    same = same.train_chunk()["rel_change"]
    assert np.count_nonzero(loo) == loo.size
    np.testing.assert_array_equal(np.flatnonzero(same.reshape(-1, 4)[:, 0]), [])
    assert np.count_nonzero(same) > 0


@pytest.mark.parametrize("kw", [{}, {"baseline": "sample-mean", "batch": 1}])
def test_resume_is_bit_identical(kw):
    a = _trainer(**kw)
    for _ in range(3):
        a.train_chunk()
    b = _trainer(**kw)
    b.train_chunk()
    c = _trainer(**kw)
    c.load_state_dict({k: np.copy(v) for k, v in b.state_dict().items()})
    for _ in range(2):
        c.train_chunk()
    np.testing.assert_array_equal(a.w, c.w)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"presentations": 1, "batch": 1}, ["leave-one-out", "presentations >= 2", "1"]),
        (
            {"baseline": "sample-mean", "presentations": 1, "batch": 1},
            ["sample-mean", "presentations >= 2"],
        ),
        ({"presentations": 4, "batch": 6, "chunk": 12}, ["batch (6)", "presentations (4)"]),
    ],
)
def test_bad_batch_or_presentations_are_refused(kw, words):
    with pytest.raises(ValidationError) as err:
        _trainer(**kw)
    for word in words:
        assert word in str(err.value)


def test_experiment_file_refuses_a_batch_that_splits_samples():
    with pytest.raises(ConfigError, match=r"train.batch \(= 6\).*rule.presentations \(= 4\)"):
        resolve(
            {
                "experiment": {"kind": "spiking"},
                "task": {"dataset": "digits"},
                "rule": {"baseline": "leave-one-out", "presentations": 4},
                "train": {"batch": 6, "chunk": 24, "trials": 48, "eval_every": 24},
            }
        )


@pytest.mark.parametrize("kw", [{}, {"baseline": "sample-mean", "batch": 2}])
def test_threads_give_the_same_weights(kw):
    one, two = _trainer(n_threads=1, **kw), _trainer(n_threads=2, **kw)
    for tr in (one, two):
        tr.train_chunk()
    np.testing.assert_array_equal(one.w, two.w)
