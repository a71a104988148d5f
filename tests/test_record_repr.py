"""SpikeRecord's repr: a short summary whose numbers match the record."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from spikesim.record import SpikeRecord


@given(n_spikes=st.integers(0, 5000), n_neurons=st.integers(1, 500))
def test_repr_is_a_short_summary(n_spikes, n_neurons):
    rng = np.random.default_rng(n_spikes)
    times = np.sort(rng.uniform(0, 0.5, n_spikes))
    neurons = rng.integers(0, n_neurons, n_spikes)
    rec = SpikeRecord(times=times, neurons=neurons, n_neurons=n_neurons, duration=0.5)
    text = repr(rec)
    assert len(text) < 200
    assert text.startswith(f"SpikeRecord({n_spikes} spikes, {n_neurons} neurons, duration=0.5 s")
    rate = n_spikes / (n_neurons * 0.5)
    assert f"mean rate {rate:.3g} Hz" in text


def test_repr_mentions_voltages():
    v = np.zeros((3, 40))
    rec = SpikeRecord(
        times=np.zeros(0),
        neurons=np.zeros(0, dtype=np.int64),
        n_neurons=4,
        duration=0.1,
        voltage=v,
        voltage_neurons=np.arange(3),
        voltage_times=np.linspace(0, 0.1, 40, endpoint=False),
    )
    assert repr(rec).endswith("voltage of 3 neurons x 40 samples)")
