"""``spikesim ceilings``: the linear and encoding ceilings of a spiking experiment."""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import numpy as np
import pytest

from spikesim.cli import main
from spikesim.errors import ConfigError
from spikesim.experiments.ceilings import ceilings, encoding_ceiling, linear_ceiling
from spikesim.experiments.config import load

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "experiments" / "digits.toml"


def _pattern_config(n_inputs=20, flip=0.3, n_test=2000):
    return load(
        ROOT / "experiments" / "spike-pattern.toml",
        {
            "task.flip": flip,
            "task.n_train": 2000,
            "task.n_test": n_test,
            "task.low": 0.0,
            "network.sizes": [n_inputs, 2],
        },
    )


def test_linear_ceiling_reaches_the_bayes_accuracy_of_the_spike_pattern_task():
    """Two binary prototypes, every bit flipped with probability p: the Bayes classifier
    (linear: a vote of the m bits where the prototypes differ) is right with probability
    P(Binomial(m, p) < m / 2) + P(= m / 2) / 2, a closed form."""
    cfg = _pattern_config()
    from spikesim.experiments.kinds.spiking import build

    b = build(cfg)
    x = b["x_train"][:, :20]
    protos = [x[b["y_train"] == c].mean(0) > 0.5 for c in (0, 1)]
    m = int(np.sum(protos[0] != protos[1]))
    p = 0.3
    pk = [comb(m, k) * p**k * (1 - p) ** (m - k) for k in range(m + 1)]
    bayes = sum(pk[k] for k in range(m + 1) if 2 * k < m) + sum(
        pk[k] / 2 for k in range(m + 1) if 2 * k == m
    )
    got = linear_ceiling(cfg)["test"]
    # 2,000 test samples: a standard error of about 0.01
    assert abs(got - bayes) < 0.03, (got, bayes, m)


def test_encoding_ceiling_approaches_the_linear_one_as_counts_grow():
    cfg = load(DIGITS, {"encoding.kind": "regular", "encoding.max_rate": 20000.0})
    lin = linear_ceiling(cfg)["test"]
    # 2,000 expected spikes per unit intensity: counts are x to 1/2000
    assert abs(encoding_ceiling(cfg)["test"] - lin) <= 0.015
    few = load(DIGITS, {"encoding.kind": "poisson", "encoding.max_rate": 20.0})
    # two expected spikes per unit intensity: one trial's Poisson counts lose a lot
    assert encoding_ceiling(few)["test"] < lin - 0.1


def test_ceilings_cli_prints_and_writes_json(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["ceilings", str(DIGITS), "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert printed == written
    assert printed["n_test"] == 359 and printed["dataset"] == "digits"
    assert 0.9 < printed["linear"]["test"] <= 1.0
    assert 0.0 < printed["encoding_ceiling"]["test"] <= 1.0
    direct = ceilings(load(DIGITS))
    assert direct["linear"] == printed["linear"]
    assert main(["ceilings", str(DIGITS), "--set", 'encoding.kind="regular"']) == 0
    text = capsys.readouterr().out
    assert "linear ceiling" in text and "one regular trial" in text


def test_ceilings_refuse_what_they_cannot_measure(capsys):
    with pytest.raises(ConfigError, match="regression"):
        ceilings(load(ROOT / "experiments" / "teacher-student.toml"))
    with pytest.raises(ConfigError, match="kind = 'rate'|needs a spiking"):
        ceilings(load(ROOT / "experiments" / "fmnist-bp.toml"))
    assert main(["ceilings", str(DIGITS), "--draws", "0"]) != 0
    assert "--draws must be >= 1, got 0" in capsys.readouterr().err
