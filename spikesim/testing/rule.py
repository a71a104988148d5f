"""Conformance checks for plasticity rules (:class:`spikesim.plasticity.base.Rule`).

``check_rule(rule)`` runs every check and raises ``AssertionError`` (or the rule's own
error) at the first failure; the individual ``check_*`` functions can be run alone. In the
style of scikit-learn's ``check_estimator``: a rule written outside this repository is
checked with::

    from spikesim.testing.rule import check_rule
    check_rule(MyRule(...))
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spikesim.errors import ValidationError
from spikesim.graph import Network
from spikesim.plasticity.base import SIGNALS, Rule, available_rules, get_rule
from spikesim.record import SpikeRecord

__all__ = [
    "check_rule",
    "check_registered",
    "check_params_frozen",
    "check_params_rejected",
    "check_state_shapes",
    "check_trace_reference",
    "check_update_bounds",
    "check_zero_signal",
    "check_edges_independent",
    "check_deterministic",
    "check_trains",
]


def _network(seed: int = 0) -> Network:
    """A small two-layer DAG with varied delays (a block structure and a random edge)."""
    rng = np.random.default_rng(seed)
    pre = np.repeat([0, 1, 2], 3).tolist() + [0, 3, 4]
    post = [3, 4, 5] * 3 + [6, 6, 6]
    m = len(pre)
    return Network(
        n_neurons=7,
        pre=pre,
        post=post,
        weight=rng.uniform(0.1, 1.0, m),
        delay=rng.choice([0.0, 0.001, 0.003], m),
        sign=np.where(rng.random(m) < 0.3, -1, 1),
        inputs=[0, 1, 2],
        outputs=[6],
    )


def _record(network: Network, rng, duration: float = 0.1) -> SpikeRecord:
    """Random spike trains of every neuron (the trace is a function of spike times only)."""
    counts = rng.integers(0, 8, network.n_neurons)
    neurons = np.repeat(np.arange(network.n_neurons), counts)
    times = rng.uniform(0.0, duration, neurons.size)
    order = np.argsort(times, kind="stable")
    return SpikeRecord(
        times=times[order], neurons=neurons[order], n_neurons=network.n_neurons, duration=duration
    )


def _trace(rule: Rule, network: Network, record: SpikeRecord, noise_scale: float = 1.0):
    ptr, times = record.csr()
    return rule.trace(
        network, ptr[:-1], np.diff(ptr), times, record.duration, noise_scale=noise_scale
    )


def check_registered(rule: Rule) -> None:
    """The rule is a registered :class:`Rule` with a declared learning signal and records."""
    assert isinstance(rule, Rule), f"{rule!r} is not a Rule"
    assert rule.name in available_rules(), f"{rule.name!r} is not registered"
    assert get_rule(rule.name) is type(rule)
    assert rule.signal in SIGNALS, f"signal {rule.signal!r} is not one of {SIGNALS}"
    assert "event" in rule.engines, f"engines {rule.engines!r} must include 'event' (the trainer)"
    assert dataclasses.is_dataclass(rule)
    kp = rule.kernel_params()
    assert isinstance(kp, tuple) and "_fields" in vars(type(kp)), "kernel_params: a NamedTuple"
    assert isinstance(rule.State, type) and issubclass(rule.State, tuple)


def check_params_frozen(rule: Rule) -> None:
    """Parameters cannot be changed after construction."""
    for key in rule.keys():
        try:
            setattr(rule, key, getattr(rule, key))
        except dataclasses.FrozenInstanceError:
            continue
        raise AssertionError(f"rule.{key} could be assigned: the parameter record must be frozen")


def check_params_rejected(rule: Rule) -> None:
    """Every parameter rejects a bad value (NaN, a string) with an error naming ``rule.KEY``."""
    for key in rule.keys():
        value = getattr(rule, key)
        bad = ["not a value"] if isinstance(value, bool | np.bool_) else [float("nan"), "x"]
        for b in bad:
            try:
                dataclasses.replace(rule, **{key: b})
            except ValidationError as exc:
                assert f"rule.{key}" in str(exc), f"the error {exc} does not name rule.{key}"
                continue
            raise AssertionError(f"rule.{key} = {b!r} was accepted")


def check_state_shapes(rule: Rule, n_edges: int = 13) -> None:
    """The initial state is a :attr:`Rule.State` of per-edge float arrays, (n_edges,)."""
    st = rule.init_state(n_edges)
    assert isinstance(st, rule.State)
    for name, arr in zip(rule.State._fields, st, strict=True):
        assert isinstance(arr, np.ndarray) and arr.shape == (n_edges,), (
            f"state {name} has shape {getattr(arr, 'shape', None)}, expected ({n_edges},)"
        )
        assert np.all(np.isfinite(arr)), f"initial state {name} is not finite"
    back = rule.state_from({}, n_edges)
    assert all(np.array_equal(a, b) for a, b in zip(back, st, strict=True))


def check_trace_reference(rule: Rule, *, trials: int = 5, seed: int = 0) -> None:
    """The compiled per-trial trace equals the rule's slow reference on random spike trains
    (also with a Christensen-Kallsen noise scale)."""
    net = _network(seed)
    rng = np.random.default_rng(seed)
    for k in range(trials):
        rec = _record(net, rng)
        scale = 1.0 if k % 2 == 0 else float(np.sqrt(3.0))
        got = _trace(rule, net, rec, scale)
        ref = rule.trace_reference(net, rec, noise_scale=scale)
        assert got.shape == (net.n_edges,)
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def _update_inputs(rule: Rule, seed: int):
    rng = np.random.default_rng(seed)
    lo, hi = rule.weight_bounds()
    m = 40
    top = min(hi, lo + 2.0)
    w = rng.uniform(lo, top, m)
    E = rng.normal(0.0, 3.0, m)
    st = rule.State(*(a + rng.normal(0.0, 0.1, m) for a in rule.init_state(m)))
    return w, E, st


def check_update_bounds(rule: Rule, seed: int = 0) -> None:
    """Updates with large signals of both signs keep the weights finite and in bounds."""
    lo, hi = rule.weight_bounds()
    w, E, st = _update_inputs(rule, seed)
    for signal in (1e3, -1e3, 0.5, -0.5):
        w2, st2, rel = rule.update(w, E, signal, st)
        assert np.all(np.isfinite(w2)) and np.all(w2 >= 0), f"signal {signal}: bad weights"
        assert np.all((w2 >= lo) & (w2 <= hi)), f"signal {signal}: weights outside {lo, hi}"
        assert np.isfinite(rel) and rel >= 0


def check_zero_signal(rule: Rule, seed: int = 0) -> None:
    """A zero learning signal changes neither the weights nor the state."""
    w, E, st = _update_inputs(rule, seed)
    w2, st2, rel = rule.update(w, E, 0.0, st)
    assert np.array_equal(w2, w), "a zero signal changed the weights"
    assert all(np.array_equal(a, b) for a, b in zip(st2, st, strict=True)), "it changed the state"
    assert rel == 0.0


def check_edges_independent(rule: Rule, seed: int = 0) -> None:
    """Updating edges ``0:k`` then ``k:m`` equals one update of all edges (the trainer splits
    an update over threads by ranges of edges), and the inputs are not modified."""
    from spikesim.plasticity.base import _update_range_once

    w, E, st = _update_inputs(rule, seed)
    w0, E0, st0 = w.copy(), E.copy(), [a.copy() for a in st]
    whole, st_whole, _ = rule.update(w, E, 0.7, st)
    assert np.array_equal(w, w0) and np.array_equal(E, E0), "update modified its inputs"
    assert all(np.array_equal(a, b) for a, b in zip(st, st0, strict=True))
    k = w.shape[0] // 3
    parts = _update_range_once(rule, w, E, 0.7, st, [0, k, w.shape[0]])
    assert np.array_equal(parts[0], whole), "an update split by edge ranges differs"
    assert all(np.array_equal(a, b) for a, b in zip(parts[1], st_whole, strict=True))


def check_deterministic(rule: Rule, seed: int = 0) -> None:
    """The same inputs give bit-identical traces and updates."""
    net = _network(seed)
    rec = _record(net, np.random.default_rng(seed))
    assert np.array_equal(_trace(rule, net, rec), _trace(rule, net, rec))
    w, E, st = _update_inputs(rule, seed)
    a, b = rule.update(w, E, 0.3, st), rule.update(w, E, 0.3, st)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]


def check_trains(rule: Rule, seed: int = 0) -> None:
    """The trainer runs the rule: a short run keeps the weights finite and in bounds, and
    with ``batch > 1`` the weights do not depend on the number of threads."""
    import spikesim
    from spikesim.plasticity.trainer import Trainer

    net = spikesim.layered([6, 4, 2], inhibitory_fraction=0.25, delay=0.001, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 1.0, (4, 6))
    t = rng.uniform(5.0, 60.0, (4, 2))
    lo, hi = rule.weight_bounds()
    ws = []
    for batch, threads in ((1, 1), (2, 1), (2, 2)):
        tr = Trainer(
            net,
            x,
            t,
            np.full(4, -1),
            rule=rule,
            learning_rate=0.2,
            rate_scale=20.0,
            chunk=8,
            batch=batch,
            n_threads=threads,
            seed=seed,
        )
        tr.train_chunk()
        assert np.all(np.isfinite(tr.w)) and np.all((tr.w >= lo) & (tr.w <= hi))
        ws.append(tr.w)
    assert np.array_equal(ws[1], ws[2]), "batched weights depend on the thread count"


def check_rule(rule: Rule) -> None:
    """Run every conformance check on ``rule`` (an instance with its parameters)."""
    check_registered(rule)
    check_params_frozen(rule)
    check_params_rejected(rule)
    check_state_shapes(rule)
    check_trace_reference(rule)
    check_update_bounds(rule)
    check_zero_signal(rule)
    check_edges_independent(rule)
    check_deterministic(rule)
    check_trains(rule)
