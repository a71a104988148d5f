"""Every registered engine against the conformance checks of spikesim.testing.engine.

``check_engine`` (the importable suite: reference spikes, validation errors, record
contract, determinism, batch = single runs, voltages where declared) runs on every
registered engine available here; an unavailable one is skipped with its reason. For the
engines that do not compile per structure, hypothesis also draws random trials against the
pure-Python reference (:mod:`spikesim.testing.reference`), many more in the slow run.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikesim.engines import Engine, available, get_engine
from spikesim.engines.event import EventEngine
from spikesim.errors import EngineError
from spikesim.testing.engine import DEFAULT_DT, check_engine, check_matches_reference, random_trial


def engine_here(name):
    """The registered engine at the checks' time step, or a skip saying why not."""
    engine = get_engine(name)
    ok, why = type(engine).availability()
    if not ok:
        pytest.skip(why)
    return engine if engine.exact else engine.with_dt(DEFAULT_DT)


CHEAP = [n for n in available() if not get_engine(n).compiles_per_structure]
COMPILED_HERE = {n: get_engine(n).compiles_per_structure for n in available()}
COMPILED = [n for n in available() if get_engine(n).compiles_per_structure]

# Brian2's Cython target compiles every code object with a cold cache (91 s + 41 s of the
# default run's 9 minutes, measured with ``pytest --durations``): its default-run checks go
# to the slow run, which checks every engine in full anyway (test_check_engine_full,
# test_engine_matches_reference_many). brian2 (numpy) and brian2-standalone stay here.
SLOW_BY_DEFAULT = {"brian2-cython"}


def _params(names):
    """``names`` as pytest parameters, those in SLOW_BY_DEFAULT marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_BY_DEFAULT else n for n in names]


@pytest.mark.parametrize("name", _params(available()))
def test_check_engine(name):
    """The whole check; the reference trials of clock-driven engines are few here (the
    hypothesis test below draws more, and the slow run does the full default count)."""
    engine = engine_here(name)
    check_engine(name, n_reference_trials=None if engine.exact else 1 if COMPILED_HERE[name] else 5)


@pytest.mark.slow
@pytest.mark.parametrize("name", available())
def test_check_engine_full(name):
    engine_here(name)
    check_engine(name)


@pytest.mark.parametrize("name", _params(CHEAP))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1))
def test_engine_matches_reference_on_drawn_trials(name, seed):
    engine = engine_here(name)
    assume(
        check_matches_reference(
            engine, *random_trial(np.random.default_rng(seed), engine.delay_step)
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", available())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**63 - 1))
def test_engine_matches_reference_many(name, seed):
    engine = engine_here(name)
    assume(
        check_matches_reference(
            engine, *random_trial(np.random.default_rng(seed), engine.delay_step)
        )
    )


# -- the checks catch broken engines ------------------------------------------------------


class _Late(EventEngine):
    """Exact in name only: every non-input spike 1 ms late."""

    name = "late-for-test"
    supports_voltages = False
    supports_batch = False
    _run_batch = Engine._run_batch  # one _run per trial

    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        rec = super()._run(network, weights, times, neurons, duration, None, None)
        late = ~np.isin(rec.neurons, network.inputs)
        t = rec.times + 1e-3 * late
        keep = t < duration
        order = np.lexsort((rec.neurons[keep], t[keep]))
        return type(rec)(
            times=t[keep][order],
            neurons=rec.neurons[keep][order],
            n_neurons=rec.n_neurons,
            duration=rec.duration,
        )


class _NoBatch(EventEngine):
    """run_batch drops the last trial."""

    name = "nobatch-for-test"

    def _run_batch(self, network, weights, checked_inputs, duration):
        return super()._run_batch(network, weights, checked_inputs[:-1], duration)


class _Unavailable(EventEngine):
    name = "unavailable-for-test"

    @classmethod
    def availability(cls):
        return False, "needs a machine that does not exist"


@pytest.mark.parametrize(
    "engine, match",
    [(_Late(), "neuron"), (_NoBatch(), "run_batch")],
)
def test_check_engine_catches_a_broken_engine(engine, match):
    with pytest.raises(AssertionError, match=match):
        check_engine(engine)


def test_check_engine_on_an_unavailable_engine_says_why():
    with pytest.raises(EngineError, match="does not exist"):
        check_engine(_Unavailable())


def test_engine_is_abstract():
    with pytest.raises(TypeError, match="_run"):
        Engine()

    class NoRun(Engine):
        name = "norun"

    with pytest.raises(TypeError, match="_run"):
        NoRun()
