"""Conformance checks for simulation engines: :func:`check_engine` and its parts.

Someone writing a new engine (a subclass of :class:`spikesim.engines.base.Engine`,
registered with :func:`spikesim.engines.register`) runs ``check_engine(MyEngine())`` or
``check_engine("my-engine")``; it raises :class:`AssertionError` naming the first
difference. The checks (each importable on its own):

* :func:`check_capabilities`: the declared capabilities are consistent (an exact engine
  has no time step; a clock-driven one has one and :meth:`~Engine.with_dt` sets it).
* :func:`check_reference_trials`: random DAGs and random inputs give the spikes of the slow
  pure-Python reference (:mod:`spikesim.testing.reference`): exactly for an exact engine;
  for a clock-driven one the same number of spikes per neuron, each within ``(depth of
  the neuron + 1) * dt`` (every layer can delay a spike by at most one step, plus one step
  for the input spikes). Trials where the reference comes close to a threshold tie
  (``margin``) or where arrivals fall within a few steps of a refractory end or of each
  other (``gap``) are skipped for a clock-driven engine: there a time step legitimately
  changes which arrival crosses the threshold.
* :func:`check_validation_errors`: bad inputs are refused with
  :class:`~spikesim.errors.ValidationError` (voltages from an engine without
  ``supports_voltages``: :class:`~spikesim.errors.EngineError`).
* :func:`check_record_contract`: records sorted by (time, neuron), inputs included (for
  an exact engine within 1e-12 s of the given times: the 1 ps clock), in
  ``[0, duration)``.
* :func:`check_deterministic`: the same inputs give the same spikes; other inputs others.
* :func:`check_batch_equals_single_runs`: :meth:`~Engine.run_batch` equals one
  :meth:`~Engine.run` per trial.
* :func:`check_voltages` (engines with ``supports_voltages``): sub-threshold potentials
  equal the analytic sum of decaying arrivals.

Engines that compile per structure (``compiles_per_structure``) are checked on few
structures: every check except the reference trials uses one network.
"""

from __future__ import annotations

import math

import numpy as np

from spikesim.engines.base import Engine, get_engine
from spikesim.errors import EngineError, ValidationError
from spikesim.graph import Network, layered, random_dag
from spikesim.record import SpikeRecord
from spikesim.testing.reference import simulate as reference

__all__ = [
    "DEFAULT_DT",
    "check_batch_equals_single_runs",
    "check_capabilities",
    "check_deterministic",
    "check_engine",
    "check_matches_reference",
    "check_record_contract",
    "check_reference_trials",
    "check_validation_errors",
    "check_voltages",
    "random_trial",
]

#: Time step (s) at which :func:`check_engine` runs clock-driven engines.
DEFAULT_DT = 1e-5
#: Trial length (s) of the checks.
DURATION = 0.05


def _prepare(engine: str | Engine, dt: float | None) -> Engine:
    eng = get_engine(engine)
    ok, why = type(eng).availability()
    if not ok:
        raise EngineError(f"engine {eng.name!r} is not available here: {why}")
    if not eng.exact and dt is not None:
        eng = eng.with_dt(dt)
    return eng


def check_engine(
    engine: str | Engine,
    *,
    dt: float | None = DEFAULT_DT,
    n_reference_trials: int | None = None,
    seed: int = 0,
) -> None:
    """Check that ``engine`` behaves as every spikesim engine must (see the module
    docstring); raises AssertionError on the first failure.

    Parameters
    ----------
    engine : str or Engine
        A registry name or an engine instance.
    dt : float or None
        Time step (s) for a clock-driven engine (None: the engine's own).
    n_reference_trials : int, optional
        Random trials compared with the reference (default 20; 3 for an engine that
        compiles per structure, each trial being a new structure).
    seed : int
        Seed of the random networks and inputs.

    Raises
    ------
    EngineError
        If the engine is not available here (:meth:`Engine.availability` gives why).
    AssertionError
        If a check fails.
    """
    eng = _prepare(engine, dt)
    if n_reference_trials is None:
        n_reference_trials = 3 if eng.compiles_per_structure else 20
    check_capabilities(eng)
    check_validation_errors(eng)
    check_record_contract(eng)
    check_deterministic(eng)
    check_batch_equals_single_runs(eng)
    if eng.supports_voltages:
        check_voltages(eng)
    check_reference_trials(eng, n_reference_trials, seed=seed)


def check_capabilities(engine: Engine) -> None:
    """The capability attributes are declared with the right types and agree."""
    cls = type(engine)
    assert isinstance(engine.name, str) and engine.name != "base", "engine.name: a registry name"
    for attr in ("exact", "compiles_per_structure", "supports_voltages", "supports_batch"):
        assert isinstance(getattr(cls, attr), bool), f"{cls.__name__}.{attr} must be a bool"
    ok, why = cls.availability()
    assert isinstance(ok, bool) and isinstance(why, str), "availability() -> (bool, str)"
    assert ok or why, "an unavailable engine says why"
    if engine.exact:
        assert engine.dt is None, "an exact engine has dt None"
        try:
            engine.with_dt(1e-4)
        except EngineError:
            pass
        else:
            raise AssertionError("with_dt on an exact engine must raise EngineError")
    else:
        assert isinstance(engine.dt, float) and engine.dt > 0, "a clock engine has dt > 0 (s)"
        other = engine.with_dt(engine.dt / 2)
        assert isinstance(other, cls), "with_dt returns an engine of the same class"
        assert other.dt == engine.dt / 2, "with_dt sets the time step"


def random_trial(rng: np.random.Generator, delay_step: float | None = None):
    """A random DAG (3 to 9 neurons, delays, inhibition and refractoriness drawn) and
    random input spikes on a 0.1 ms grid: ``(network, times (k,), neurons (k,))``.

    With ``delay_step`` (an engine's :attr:`~Engine.delay_step`, seconds) the delays are 1
    to 20 steps and ``t_ref`` 1 or 20 steps (many paths of equal total delay)."""
    n = int(rng.integers(3, 10))
    n_in = int(rng.integers(1, min(3, n - 1) + 1))
    if delay_step is not None:
        net = random_dag(
            n,
            n_inputs=n_in,
            n_outputs=1,
            p_edge=float(rng.uniform(0.3, 0.9)),
            weight_range=(0.2, 1.2),
            inhibitory_fraction=float(rng.choice([0.0, 0.3])),
            t_ref=float(rng.choice([1, 20])) * delay_step,
            seed=int(rng.integers(0, 2**31 - 1)),
        )
        steps = rng.integers(1, 21, net.n_edges)
        net = Network(
            n_neurons=net.n_neurons, pre=net.pre, post=net.post, weight=net.weight,
            delay=steps * delay_step, sign=net.sign, inputs=net.inputs, outputs=net.outputs,
            tau_syn=net.tau_syn, threshold=net.threshold, t_ref=net.t_ref,
        )  # fmt: skip
        k = int(rng.integers(0, 31))
        times = rng.integers(0, 500, k) * 1e-4
        return net, times, rng.choice(net.inputs, k)
    net = random_dag(
        n,
        n_inputs=n_in,
        n_outputs=1,
        p_edge=float(rng.uniform(0.3, 0.9)),
        weight_range=(0.2, 1.2),
        delay_range=(0.0, float(rng.choice([0.0, 0.002]))),
        inhibitory_fraction=float(rng.choice([0.0, 0.3])),
        t_ref=float(rng.choice([0.0, 0.002])),
        seed=int(rng.integers(0, 2**31 - 1)),
    )
    k = int(rng.integers(0, 31))
    times = rng.integers(0, 500, k) * 1e-4  # on a 0.1 ms grid, exact for a clock engine
    neurons = rng.choice(net.inputs, k)
    return net, times, neurons


def check_matches_reference(engine: Engine, network, times, neurons, duration=DURATION) -> bool:
    """One trial against the reference. Returns False (nothing compared) for a
    clock-driven engine on a trial too close to a tie; raises AssertionError on a
    difference."""
    ref, margin, gap = reference(network, network.weight, times, neurons, duration)
    depth = network.depth()
    if not engine.exact:
        if not (margin > 0.02 and gap > 4 * (int(depth.max()) + 1) * engine.dt):
            return False
    rec = engine.run(network, (times, neurons), duration)
    for j in range(network.n_neurons):
        got = rec.spikes_of(j)
        want = np.asarray(ref[j], float)
        if engine.exact:
            assert got.tolist() == ref[j], f"{engine.name}: neuron {j}: {got} vs {ref[j]}"
        else:
            assert got.size == want.size, f"{engine.name}: neuron {j}: {got} vs {want}"
            tol = (depth[j] + 1) * engine.dt + 1e-12
            assert np.all(np.abs(got - want) <= tol), (
                f"{engine.name}: neuron {j}: {got} vs {want} (tolerance {tol} s)"
            )
    return True


def check_reference_trials(engine: Engine, n_trials: int, *, seed: int = 0) -> None:
    """``n_trials`` random trials (:func:`random_trial`) compared with the reference
    (trials too close to a tie for a clock-driven engine are replaced by new ones)."""
    rng = np.random.default_rng(seed)
    done = 0
    for _ in range(50 * max(1, n_trials)):
        if done == n_trials:
            return
        done += check_matches_reference(engine, *random_trial(rng, engine.delay_step))
    raise AssertionError(f"only {done} of {n_trials} random trials were far enough from a tie")


def _network(engine: Engine, seed: int = 1):
    """The network of the single-structure checks (one build for a compiling engine); for
    an engine with a :attr:`~Engine.delay_step`, delays and ``t_ref`` of one step."""
    if engine.delay_step is None:
        return layered([8, 6, 2], weight_mean=[0.5, 0.7], seed=seed)
    step = engine.delay_step
    return layered([8, 6, 2], weight_mean=[0.5, 0.7], delay=step, t_ref=step, seed=seed)


def _poisson(net, rates, seed, max_rate=300.0, duration=DURATION):
    from spikesim.encoding import poisson

    return poisson(
        np.asarray(rates, float), duration=duration, max_rate=max_rate, neurons=net.inputs,
        seed=seed,
    )  # fmt: skip


def _raises(kind, call, what: str) -> None:
    try:
        call()
    except kind:
        return
    except Exception as exc:  # report what was raised instead
        raise AssertionError(f"{what}: raised {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"{what}: no {kind.__name__} raised")


def check_validation_errors(engine: Engine) -> None:
    """Bad inputs are refused before anything is simulated (no build happens)."""
    net = _network(engine)
    hidden = int(np.setdiff1d(np.arange(net.n_neurons), net.inputs)[0])
    t_ok = np.array([0.001])
    i_ok = net.inputs[:1]
    bad = {
        "input spike to a non-input neuron": ((t_ok, np.array([hidden])), {}),
        "negative input time": ((np.array([-0.001]), i_ok), {}),
        "non-finite input time": ((np.array([np.nan]), i_ok), {}),
        "times and neurons of different lengths": ((np.array([0.001, 0.002]), i_ok), {}),
        "weights of the wrong shape": ((t_ok, i_ok), {"weights": np.ones(net.n_edges + 1)}),
        "a negative weight": ((t_ok, i_ok), {"weights": -np.ones(net.n_edges)}),
        "a NaN weight": ((t_ok, i_ok), {"weights": np.full(net.n_edges, np.nan)}),
        "voltage_neurons out of range": ((t_ok, i_ok), {"voltage_neurons": [net.n_neurons]}),
    }
    for what, (inp, kw) in bad.items():
        _raises(
            ValidationError,
            lambda inp=inp, kw=kw: engine.run(net, inp, DURATION, **kw),
            f"{engine.name}: {what}",
        )
    _raises(
        ValidationError,
        lambda: engine.run_batch(net, [(t_ok, i_ok), (t_ok, np.array([hidden]))], DURATION),
        f"{engine.name}: run_batch with a bad trial",
    )
    if not engine.supports_voltages:
        _raises(
            EngineError,
            lambda: engine.run(net, (t_ok, i_ok), DURATION, voltage_neurons=[hidden]),
            f"{engine.name}: voltages asked of an engine without supports_voltages",
        )


def _same(a: SpikeRecord, b: SpikeRecord) -> bool:
    return np.array_equal(a.times, b.times) and np.array_equal(a.neurons, b.neurons)


def check_record_contract(engine: Engine) -> None:
    """Sorted by (time, neuron), every input spike included, within [0, duration)."""
    net = _network(engine)
    inp = _poisson(net, np.linspace(0.2, 1.0, 8), seed=3)
    rec = engine.run(net, inp, DURATION)
    assert isinstance(rec, SpikeRecord), f"{engine.name}: run returns a SpikeRecord"
    assert rec.n_neurons == net.n_neurons and rec.duration == DURATION
    key = np.lexsort((rec.neurons, rec.times))
    assert np.array_equal(key, np.arange(rec.n_spikes)), f"{engine.name}: not sorted"
    assert np.all((rec.times >= 0) & (rec.times < DURATION)), f"{engine.name}: outside trial"
    tol = engine.dt or 1e-12  # exact engines: the 1 ps clock (docs/model.md, "Exact time")
    for j in net.inputs:
        sent = np.sort(inp[0][inp[1] == j])
        got = rec.spikes_of(j)
        assert got.size == sent.size and np.allclose(got, sent, rtol=0, atol=tol), (
            f"{engine.name}: input neuron {j}'s spikes {got} are not the given {sent}"
        )
    assert rec.counts()[net.outputs].sum() > 0, f"{engine.name}: the outputs never spiked"


def check_deterministic(engine: Engine) -> None:
    """The same inputs give the same record; other inputs give another."""
    net = _network(engine)
    recs = [engine.run(net, _poisson(net, np.full(8, 0.7), seed=s), DURATION) for s in (5, 5, 6)]
    assert _same(recs[0], recs[1]), f"{engine.name}: the same inputs gave different spikes"
    assert not _same(recs[0], recs[2]), f"{engine.name}: other inputs gave the same spikes"


def check_batch_equals_single_runs(engine: Engine) -> None:
    """``run_batch`` gives, trial for trial, what ``run`` gives (also with weights)."""
    net = _network(engine)
    inputs = [_poisson(net, np.full(8, 0.6), seed=s) for s in range(3)]
    w = net.weight * 1.2
    for kw in ({}, {"weights": w}):
        batch = engine.run_batch(net, inputs, DURATION, **kw)
        assert len(batch) == len(inputs), f"{engine.name}: run_batch returned {len(batch)}"
        for k, (inp, rec) in enumerate(zip(inputs, batch, strict=True)):
            assert _same(engine.run(net, inp, DURATION, **kw), rec), (
                f"{engine.name}: run_batch trial {k} differs from run ({kw and 'weights'})"
            )
    assert engine.run_batch(net, [], DURATION) == [], f"{engine.name}: empty batch"


def check_voltages(engine: Engine) -> None:
    """Sub-threshold potentials against the analytic sum of decaying arrivals.

    A 3-2 layer without delays, inputs on a 0.1 ms grid, weights so small that no neuron
    spikes: ``V_j(t) = sum over arrivals tau <= t of s w exp(-(t - tau) / tau_syn)``. A
    clock-driven engine is compared at sample times on the grid.
    """
    net = layered([3, 2], weight_mean=0.1, inhibitory_fraction=0.3, seed=7)
    rng = np.random.default_rng(11)
    times = rng.integers(0, 400, 12) * 1e-4
    neurons = rng.choice(net.inputs, 12)
    w = np.full(net.n_edges, 0.9 * float(net.threshold.min()) / 12)
    vn = [int(net.outputs[1]), int(net.outputs[0]), int(net.outputs[1])]
    vt = np.arange(0, 450) * 1e-4
    rec = engine.run(
        net, (times, neurons), DURATION, weights=w, voltage_neurons=vn, voltage_times=vt
    )
    assert rec.voltage is not None and rec.voltage.shape == (3, vt.size), (
        f"{engine.name}: voltage of shape (3, {vt.size}) expected"
    )
    assert np.array_equal(rec.voltage_neurons, vn), f"{engine.name}: voltage_neurons"
    assert np.all(np.isin(rec.neurons, net.inputs)), f"{engine.name}: sub-threshold spiked"
    for row, j in enumerate(vn):
        want = np.zeros(vt.size)
        tau = float(net.tau_syn[j])
        for e in np.flatnonzero(net.post == j):
            for t in times[neurons == net.pre[e]]:
                after = vt >= t - 1e-12
                want[after] += net.sign[e] * w[e] * np.exp(-(vt[after] - t) / tau)
        tol = 1e-9 + (0 if engine.exact else 2 * engine.dt / tau * np.abs(w).sum())
        err = np.abs(rec.voltage[row] - want).max()
        assert err <= tol, f"{engine.name}: neuron {j}'s potential is off by {err} (> {tol})"
    assert math.isfinite(float(np.abs(rec.voltage).max()))
