"""The batched (multi-threaded) trainer against a slow, obvious sequential reference."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numba import njit

import spikesim
from spikesim.engines.event import simulate_csr
from spikesim.plasticity._atomic import fetch_add
from spikesim.plasticity.eligibility import eligibility_csr
from spikesim.plasticity.loss import trial_loss
from spikesim.plasticity.rule import (
    baseline_observe,
    baseline_value,
    learning_rate,
    new_baseline_state,
)
from spikesim.plasticity.trainer import Trainer, weights_record


def reference_training(tr: Trainer, n_chunks: int):
    """Batched training written out one trial and one edge at a time (pure Python).

    Each batch's trials are simulated with the weights at the start of the batch; then, in
    trial order, the baseline, the amplitude ``a = alpha_k (L - L_bar) C`` and, edge after
    edge, the centring (optional) and the update of SH eq. (4.1) with its factor and weight
    clipping. Input spikes come from the trainer's documented random streams.
    """
    net = tr.network
    w = np.array(net.weight, dtype=np.float64)
    state = new_baseline_state(tr.x.shape[0])
    e_mean = np.zeros(net.n_edges)
    f_lo, f_hi = 1.0 - tr.max_change, 1.0 + tr.max_change
    losses, rel = [], []
    for ci in range(n_chunks):
        step = ci * tr.chunk
        samples, pres = tr._samples(step, tr.chunk)
        counts, times = tr._spikes(tr.x[samples], np.random.default_rng([tr.seed, 1, ci]))
        pos = 0
        for b0 in range(0, tr.chunk, tr.batch):
            w_batch = w.copy()
            results = []
            for t in range(b0, b0 + tr.batch):
                neurons, t_in = [], []
                for k, j in enumerate(net.inputs):
                    seg = sorted(times[pos : pos + counts[t, k]])
                    pos += counts[t, k]
                    neurons += [int(j)] * len(seg)
                    t_in += seg
                start, count, buf = simulate_csr(
                    net, w_batch, np.array(t_in), np.array(neurons, np.int64), tr.duration
                )
                loss = trial_loss(
                    count[net.outputs],
                    tr.duration,
                    kind=tr.loss,
                    target=tr.targets[samples[t]],
                    rate_scale=tr.rate_scale,
                )
                E = eligibility_csr(net, start, count, buf, tr.duration, tr.c_eff)
                results.append((loss, E))
            for t, (loss, E) in zip(range(b0, b0 + tr.batch), results, strict=True):
                s = int(samples[t])
                kind = "previous" if pres[t] > 0 else tr.baseline
                lbar = baseline_value(kind, state, s)
                a = 0.0
                if not np.isnan(lbar):
                    a = learning_rate(tr.alpha, step + t) * (loss - lbar) * tr.C
                total = 0.0
                if a != 0.0:
                    for e in range(net.n_edges):
                        x = E[e]
                        if tr.center_eligibility:
                            x, e_mean[e] = (
                                x - e_mean[e],
                                (1.0 - tr.center_beta) * e_mean[e] + tr.center_beta * x,
                            )
                        total += abs(a * x)
                        f = 1.0 + a * x
                        if f < f_lo:
                            f = f_lo
                        elif f > f_hi:
                            f = f_hi
                        v = w[e] * f
                        if v < tr.w_min:
                            v = tr.w_min
                        elif v > tr.w_max:
                            v = tr.w_max
                        w[e] = v
                state = baseline_observe(state, s, loss, tr.beta)
                losses.append(loss)
                rel.append(total / net.n_edges)
    return w, e_mean, np.array(losses), np.array(rel)


def small_trainer(
    *, batch, n_threads, baseline, center, presentations=1, chunk=12, seed=0, inhibitory=0.25
):
    net = spikesim.layered([12, 8, 3], inhibitory_fraction=inhibitory, delay=0.001, seed=seed)
    rng = np.random.default_rng(seed)
    n = 5
    return Trainer(
        net,
        rng.uniform(0.2, 1.0, (n, 12)),
        rng.uniform(5.0, 60.0, (n, 3)),
        np.full(n, -1),
        duration=0.1,
        max_rate=80.0,
        alpha=0.2,
        baseline=baseline,
        beta=0.3,
        presentations=presentations,
        max_change=0.2,
        w_max=float(np.quantile(net.weight, 0.8)),
        rate_scale=20.0,
        chunk=chunk,
        batch=batch,
        n_threads=n_threads,
        center_eligibility=center,
        seed=seed,
    )


@pytest.mark.parametrize(
    "batch, n_threads, baseline, center, presentations, inhibitory",
    [
        (4, 2, "ema", False, 1, 0.25),
        (6, 3, "per-sample", True, 1, 0.25),
        (3, 1, "previous", False, 1, 0.25),
        (4, 4, "ema", True, 2, 0.25),
        (1, 1, "previous", False, 1, 0.25),
        # all excitatory: the kernels read ``w`` itself as the signed weights
        (1, 1, "ema", False, 1, 0.0),
        (4, 2, "per-sample", True, 1, 0.0),
    ],
)
def test_batched_training_equals_sequential_reference(
    batch, n_threads, baseline, center, presentations, inhibitory
):
    tr = small_trainer(
        batch=batch,
        n_threads=n_threads,
        baseline=baseline,
        center=center,
        presentations=presentations,
        inhibitory=inhibitory,
    )
    assert bool(np.all(tr.network.sign > 0)) == (inhibitory == 0.0)
    w0 = tr.w.copy()
    out = [tr.train_chunk() for _ in range(2)]
    w_ref, e_mean_ref, losses_ref, rel_ref = reference_training(tr, 2)
    # the reference really trained: weights moved and the cap was reached
    assert not np.array_equal(w_ref, w0)
    assert np.any(w_ref == tr.w_max)
    np.testing.assert_array_equal(tr.w, w_ref)
    np.testing.assert_array_equal(tr.e_mean, e_mean_ref)
    np.testing.assert_array_equal(np.concatenate([r["losses"] for r in out]), losses_ref)
    # the mean relative change is a sum over edges: the same up to the order of additions
    rel = np.concatenate([r["rel_change"] for r in out])
    np.testing.assert_allclose(rel, rel_ref, rtol=1e-12, atol=0.0)


def test_batched_weights_do_not_depend_on_the_thread_count():
    ws = []
    for n_threads in (1, 2, 5):
        tr = small_trainer(batch=5, n_threads=n_threads, baseline="ema", center=True, chunk=10)
        tr.train_chunk()
        ws.append(tr.w)
    np.testing.assert_array_equal(ws[0], ws[1])
    np.testing.assert_array_equal(ws[0], ws[2])


@njit(nogil=True)
def _take_all(counter, owner, me):
    while True:
        i = fetch_add(counter, 0)
        if i >= owner.shape[0]:
            return
        owner[i] = me


def test_fetch_add_hands_out_every_item_once():
    n, n_threads = 200_000, 4
    counter = np.zeros(1, np.int64)
    owner = np.full(n, -1, np.int64)
    _take_all(counter, owner[:0], 0)  # compile before the threads start
    counter[0] = 0
    threads = [
        threading.Thread(target=_take_all, args=(counter, owner, q)) for q in range(n_threads)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert np.all(owner >= 0)  # every item taken
    # every thread that ran took one fetch beyond the end, so the counter tells how many
    # fetches were made: n items plus one per thread, i.e. no item was handed out twice
    assert counter[0] == n + n_threads


def test_weights_record_shares_w_only_when_every_sign_is_positive():
    w = np.array([0.5, 1.0, 2.0])
    none = np.zeros(0, np.int64)
    exc = weights_record(w, np.ones(3), none, np.zeros(0))
    assert exc.excitatory and exc.signed is w
    mixed = weights_record(w, np.array([1.0, -1.0, 1.0]), none, np.zeros(0))
    assert not mixed.excitatory and mixed.signed is not w
    np.testing.assert_array_equal(mixed.signed, [0.5, -1.0, 2.0])
