"""The input tables of the standalone Brian2 engines (pure numpy; no Brian2 run).

``input_table`` lays out each trial's input spikes as sorted per-neuron runs of a table
read by the generated code; it is checked against a slow dictionary-based reference,
including several spikes of one input neuron in one step (copies) and several trials."""

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesim.engines.brian2 import model


def _spec(n_in, n_steps, period, dt=1e-3):
    return {"inputs": np.arange(n_in) * 3 + 1, "dt": dt, "n_steps": n_steps, "period": period}


@settings(max_examples=100, deadline=None)
@given(
    n_in=st.integers(1, 5),
    n_steps=st.integers(1, 12),
    gap=st.integers(0, 3),
    data=st.data(),
)
def test_input_table_matches_a_slow_reference(n_in, n_steps, gap, data):
    spec = _spec(n_in, n_steps, n_steps + gap)
    n_trials = data.draw(st.integers(1, 3))
    trials = []
    for _ in range(n_trials):
        k = data.draw(st.integers(0, 15))
        steps = np.array(data.draw(st.lists(st.integers(0, n_steps + 1), min_size=k, max_size=k)))
        slots = np.array(data.draw(st.lists(st.integers(0, n_in - 1), min_size=k, max_size=k)))
        # times inside step s: ceil(t / dt) = s
        times = (steps - 0.5).clip(0) * spec["dt"] if k else np.zeros(0)
        trials.append((times, spec["inputs"][slots] if k else np.zeros(0, np.int64)))
    # reference: table neuron q + n_in * c holds the steps where slot q spikes > c times
    counts = defaultdict(int)
    want = defaultdict(list)
    for b, (times, neurons) in enumerate(trials):
        for t, nrn in sorted(zip(times.tolist(), neurons.tolist(), strict=True)):
            s = int(np.ceil(t / spec["dt"] - 1e-6))
            if s >= n_steps:
                continue
            q = int(np.searchsorted(spec["inputs"], nrn))
            c = counts[(b, q, s)]
            counts[(b, q, s)] += 1
            want[q + n_in * c].append(s + b * spec["period"])
    copies = max(counts.values(), default=1)  # most spikes of one neuron in one step
    total = sum(len(v) for v in want.values())
    ptr, pend, step, nxt = model.input_table(spec, trials, max(total, 1), copies)
    assert ptr.size == pend.size == nxt.size == n_in * copies
    for q in range(n_in * copies):
        got = step[ptr[q] : pend[q]].tolist()
        assert got == sorted(want.get(q, []))
        assert nxt[q] == (got[0] if got else model.NEVER)
