"""Encoders and decoders: statistics, determinism and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikesim
from spikesim import ValidationError, encoding

vectors = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40).map(np.array)


@settings(max_examples=60, deadline=None)
@given(x=vectors, seed=st.integers(0, 2**31), duration=st.floats(0.01, 1.0))
def test_poisson_spikes_are_in_window_sorted_and_seeded(x, seed, duration):
    t, n = encoding.poisson(x, duration=duration, max_rate=50.0, seed=seed)
    assert t.shape == n.shape
    assert np.all((t >= 0) & (t < duration))
    assert np.all(np.diff(n) >= 0)
    for k in np.unique(n):
        assert np.all(np.diff(t[n == k]) >= 0)
    assert not np.any(np.isin(n, np.flatnonzero(x == 0)))
    t2, n2 = encoding.poisson(x, duration=duration, max_rate=50.0, seed=seed)
    assert np.array_equal(t, t2) and np.array_equal(n, n2)


def test_poisson_rate_and_seed_dependence():
    x = np.array([0.0, 0.25, 1.0])
    counts = np.zeros(3)
    for s in range(400):
        _, n = encoding.poisson(x, duration=1.0, max_rate=40.0, seed=s)
        counts += np.bincount(n, minlength=3)
    rates = counts / 400
    assert rates[0] == 0
    assert rates[1] == pytest.approx(10.0, rel=0.05)  # sd of the mean ~ 0.16 Hz
    assert rates[2] == pytest.approx(40.0, rel=0.05)
    a = encoding.poisson(np.full(10, 0.5), duration=1.0, seed=1)
    b = encoding.poisson(np.full(10, 0.5), duration=1.0, seed=2)
    assert not (a[0].shape == b[0].shape and np.array_equal(a[0], b[0]))


@settings(max_examples=60, deadline=None)
@given(x=vectors, duration=st.floats(0.01, 1.0))
def test_latency_and_regular(x, duration):
    t, n = encoding.latency(x, duration=duration)
    assert set(n.tolist()) == set(np.flatnonzero(x > 0).tolist())
    assert np.all((t >= 0) & (t < duration))
    order = np.argsort(-x[n], kind="stable")
    assert np.all(np.diff(t[order]) >= -1e-15)  # larger x fires earlier
    t, n = encoding.regular(x, duration=duration, max_rate=100.0)
    assert np.all((t >= 0) & (t < duration))
    for k in np.flatnonzero(x > 0):
        rate = x[k] * 100
        expect = sum(1 for m in range(int(rate * duration) + 2) if m + 0.5 < duration * rate)
        assert np.sum(n == k) == expect


@pytest.mark.parametrize(
    "x, message",
    [
        ([0.5, 1.5], r"x\[1\] = 1.5 is outside \[0, 1\]"),
        ([np.nan], r"x\[0\] is nan"),
        ([[0.1]], "must be a vector"),
    ],
)
def test_encoder_errors(x, message):
    with pytest.raises(ValidationError, match=message):
        encoding.poisson(x, duration=0.1)


def test_encoder_rejects_bad_rate_and_neurons():
    with pytest.raises(ValidationError, match="max_rate"):
        encoding.poisson([0.5], duration=0.1, max_rate=-1)
    with pytest.raises(ValidationError, match="neurons"):
        encoding.poisson([0.5, 0.5], duration=0.1, neurons=[1])


def test_decoders():
    rec = spikesim.SpikeRecord(
        times=np.array([0.001, 0.002, 0.002, 0.05, 0.09]),
        neurons=np.array([2, 1, 2, 2, 0]),
        n_neurons=4,
        duration=0.1,
    )
    assert encoding.spike_counts(rec, [0, 1, 2, 3]).tolist() == [1, 1, 3, 0]
    assert encoding.spike_counts(rec, [2], t_start=0.01).tolist() == [1]
    assert encoding.spike_rates(rec, [2, 3]).tolist() == pytest.approx([30.0, 0.0])
    first = encoding.first_spike_times(rec, [0, 1, 2, 3])
    assert first[:3].tolist() == [0.09, 0.002, 0.001] and np.isinf(first[3])
    with pytest.raises(ValidationError):
        encoding.spike_counts(rec, [0], t_start=0.2)


@pytest.mark.parametrize("encoder", [encoding.poisson, encoding.regular])
def test_overflowing_expected_count_is_refused_without_warning(encoder):
    # found by fuzzing: rates * duration overflowed to inf with a RuntimeWarning
    with pytest.raises(ValidationError, match="asks for about inf spikes"):
        encoder([1.0], duration=1.7e308)


def test_poisson_draw_is_counts_then_times():
    from spikesim.encoding import poisson_draw

    lam = np.array([[0.5, 3.0], [10.0, 0.0]])
    counts, times = poisson_draw(lam, 0.2, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    c_ref = rng.poisson(lam)
    t_ref = rng.uniform(0.0, 0.2, c_ref.sum())
    np.testing.assert_array_equal(counts, c_ref)
    assert counts.dtype == np.int64 and counts.shape == lam.shape
    np.testing.assert_array_equal(times, t_ref)
    # encoding.poisson is the same draw, sorted by neuron then time
    t, n = encoding.poisson([0.25, 0.5], duration=0.2, max_rate=40.0, seed=9)
    c2, t2 = poisson_draw(np.array([0.25, 0.5]) * 40.0 * 0.2, 0.2, np.random.default_rng(9))
    np.testing.assert_array_equal(np.bincount(n, minlength=2), c2)
    np.testing.assert_array_equal(np.sort(t[n == 0]), np.sort(t2[: c2[0]]))


def test_spike_rates_refuse_a_window_too_short_for_a_finite_rate():
    from spikesim import SpikeRecord, ValidationError
    from spikesim.encoding import spike_rates

    rec = SpikeRecord(times=np.zeros(3), neurons=np.zeros(3, np.int64), n_neurons=1, duration=1.0)
    assert spike_rates(rec, [0], t_stop=0.5)[0] == 6.0
    with pytest.raises(ValidationError, match="too short for a finite rate"):
        spike_rates(rec, [0], t_stop=1.1125369292536007e-308)
