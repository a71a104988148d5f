"""Every registered plasticity rule passes the conformance checks; the SH rule's specifics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import spikesim
from spikesim.errors import ValidationError
from spikesim.plasticity import SH, available_rules, get_rule
from spikesim.plasticity.rule import center_eligibility, sh_update
from spikesim.testing.rule import check_rule


@pytest.mark.parametrize("name", available_rules())
def test_rule_conformance(name):
    check_rule(get_rule(name)())


def test_sh_conformance_with_centring_and_clipping():
    check_rule(SH(c=50.0, C=0.5, max_change=0.3, w_min=0.05, w_max=0.9, center_eligibility=True))


def test_registry():
    assert "sh" in available_rules()
    assert get_rule("sh") is SH
    with pytest.raises(ValidationError, match="rule.kind = 'nope' is not one of .*sh"):
        get_rule("nope")


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"c": -1}, "rule.c must be positive, got -1"),
        ({"C": 0.0}, "rule.C must be positive"),
        ({"max_change": 1.0}, r"rule.max_change must be in \[0, 1\)"),
        ({"w_min": 2.0, "w_max": 1.0}, "rule.w_min and rule.w_max"),
        ({"center_beta": 0.0}, r"rule.center_beta must be in \(0, 1\]"),
        ({"center_eligibility": 1}, "rule.center_eligibility must be true or false"),
        ({"c": "fast"}, "rule.c must be a number"),
    ],
)
def test_sh_rejects_bad_parameters(kw, match):
    with pytest.raises(ValidationError, match=match):
        SH(**kw)


def test_sh_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SH().c = 3.0


def test_sh_update_is_eq_4_1():
    """Rule.update against the pure SH update of eq. (4.1) (and the centring)."""
    rng = np.random.default_rng(1)
    w = rng.uniform(0.1, 1.0, 50)
    E = rng.normal(0.0, 1.0, 50)
    rule = SH(C=0.7, max_change=0.4, w_max=0.95)
    w2, st, rel = rule.update(w, E, 0.3, rule.init_state(50))
    ref = sh_update(w, E, 1.3, 1.0, 1.0, C=0.7, max_change=0.4, w_max=0.95)  # s = 1 * 0.3
    np.testing.assert_allclose(w2, ref, rtol=1e-15)
    np.testing.assert_allclose(rel, np.sum(np.abs(0.3 * 0.7 * E)), rtol=1e-12)
    rule = SH(center_eligibility=True, center_beta=0.2)
    m0 = rng.normal(0.0, 0.5, 50)
    w3, st3, _ = rule.update(w, E, 0.3, rule.State(m0))
    Ec, m1 = center_eligibility(E, m0, 0.2)
    np.testing.assert_array_equal(w3, sh_update(w, Ec, 0.3, 0.0, 1.0))
    np.testing.assert_array_equal(st3.e_mean, m1)


def test_sh_noise_scale_divides_c():
    rule = SH(c=90.0)
    assert rule.kernel_params().c == 90.0
    assert rule.kernel_params(noise_scale=3.0).c == 30.0


@pytest.mark.parametrize("name", ["mstdpet", "dopamine-stdp", "weight-perturbation"])
def test_a_rule_that_cannot_run_on_an_engine_says_so(name):
    """Only SH has Brian2 code: the others are refused on brian2-standalone, naming the
    rule, the engine and where it runs (also by train_standalone, before any build)."""
    from spikesim.plasticity import get_rule
    from spikesim.plasticity.base import check_rule_engine
    from spikesim.plasticity.brian2_rule import train_standalone

    rule = get_rule(name)()
    check_rule_engine(rule, "event")
    msg = f"rule '{name}' cannot run on engine 'brian2-standalone'.*run on event only"
    with pytest.raises(ValidationError, match=msg):
        check_rule_engine(rule, "brian2-standalone")
    net = spikesim.layered([2, 1], seed=0)
    with pytest.raises(ValidationError, match=msg):
        train_standalone(net, [], np.zeros((0, 1)), 0.1, learning_rate=0.1, rule=rule)


def test_sh_runs_on_brian2_standalone_and_its_parameters_come_from_the_rule():
    from spikesim.plasticity.base import check_rule_engine
    from spikesim.plasticity.brian2_rule import train_standalone

    check_rule_engine(SH(), "brian2-standalone")
    net = spikesim.layered([2, 1], seed=0)
    with pytest.raises(ValidationError, match="not both"):
        train_standalone(net, [], np.zeros((0, 1)), 0.1, c=100.0, learning_rate=0.1, rule=SH())
    with pytest.raises(ValidationError, match="needs c"):
        train_standalone(net, [], np.zeros((0, 1)), 0.1, learning_rate=0.1)
