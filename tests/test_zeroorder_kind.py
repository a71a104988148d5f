"""Kind 'zeroorder': the abstract zero-order dynamics as an experiment file."""

import json

import numpy as np
import pytest

from spikesim import data
from spikesim.errors import ConfigError
from spikesim.experiments import resolve, run_experiment
from spikesim.zeroorder import SGD, ZeroOrder, drift_constant
from spikesim.zeroorder.mlp import SignedMLP


def config(**tables):
    raw = {
        "experiment": {"kind": "zeroorder", "seed": 2},
        "task": {"dataset": "digits", "n_train": 300, "n_test": 100},
        "model": {"sizes": [64, 8, 10]},
        "train": {"steps": 2000, "eval_every": 500},
    }
    for name, table in tables.items():
        raw.setdefault(name, {}).update(table)
    return resolve(raw)


def test_results_follow_the_convention_and_equal_the_direct_api(tmp_path):
    res = run_experiment(config(), tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["final"] == res["final"]
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    final, curve = res["final"], res["curve"]
    assert final["n_parameters"] == 64 * 8 + 8 * 10
    assert final["samples_seen"] == 2000 and final["loss_evaluations"] == 2001
    assert [p["samples_seen"] for p in curve] == [0, 500, 1000, 1500, 2000]
    walls = [p["wall_s"] for p in curve]
    assert walls == sorted(walls) and walls[-1] == final["wall_s"] > 0
    # reference: the same run through spikesim.zeroorder directly
    ds = data.load("digits", seed=2, n_train=300, n_test=100)
    model = SignedMLP([64, 8, 10], seed=2, scale=0.2)
    traj = ZeroOrder(A=0.3, learning_rate=0.02, baseline="previous", seed=2).run(
        model, model.init(2, spread=0.1), (ds.x_train, ds.y_train), 2000
    )
    assert final["test_accuracy"] == model.accuracy(traj.theta, ds.x_test, ds.y_test)
    out = model.outputs(traj.theta, ds.x_test)
    loss = 0.2 * np.mean(np.sum((out - np.eye(10)[ds.y_test]) ** 2, axis=1))
    assert final["test_loss"] == pytest.approx(loss)
    assert curve[-1]["test_accuracy"] == final["test_accuracy"]


def test_seeded_and_ck_variant(tmp_path):
    a = run_experiment(config(rule={"presentations": 4}), tmp_path / "a")["final"]
    b = run_experiment(config(rule={"presentations": 4}), tmp_path / "b")["final"]
    c = run_experiment(config(), tmp_path / "c")["final"]
    assert a["test_loss"] == b["test_loss"]
    assert a["test_loss"] != c["test_loss"]
    assert a["loss_evaluations"] == 2000 + 2000 // 4  # one priming evaluation per sample


def test_sgd_reference_takes_the_mean_step(tmp_path):
    res = run_experiment(config(rule={"method": "sgd"}, train={"steps": 300}), tmp_path)
    ds = data.load("digits", seed=2, n_train=300, n_test=100)
    model = SignedMLP([64, 8, 10], seed=2)
    traj = SGD(learning_rate=0.02 * drift_constant(0.3), seed=2).run(
        model, model.init(2), (ds.x_train, ds.y_train), 300
    )
    assert res["final"]["test_accuracy"] == model.accuracy(traj.theta, ds.x_test, ds.y_test)


def test_divergence_is_an_error_naming_the_update(tmp_path):
    from spikesim.errors import DivergenceError

    with pytest.raises(DivergenceError, match=r"diverged at update \d+.*smaller") as exc:
        run_experiment(
            config(rule={"learning_rate": 50.0, "theta_limit": 5.0}, train={"eval_every": 1}),
            tmp_path,
        )
    assert 1 <= exc.value.step < 2000
    assert (tmp_path / "checkpoint.npz").is_file()  # the last evaluation's state is kept


@pytest.mark.parametrize(
    "tables, message",
    [
        ({"model": {"sizes": [63, 8, 10]}}, "model.sizes .* must be 64"),
        ({"model": {"sizes": [64]}}, "model.sizes"),
        ({"rule": {"presentations": 4, "baseline": "ema"}}, "rule.presentations = 4"),
        ({"rule": {"baseline": "median"}}, "rule.baseline"),
        ({"rule": {"A": -1.0}}, "rule.A"),
        ({"train": {"steps": 0}}, "train.steps"),
        ({"model": {"width": 3}}, "unknown key model.width"),
    ],
)
def test_bad_config_named(tmp_path, tables, message):
    with pytest.raises(ConfigError, match=message):
        run_experiment(config(**tables), tmp_path)


def test_digits_experiment_runs_on_the_driver_and_resumes(tmp_path):
    from spikesim.experiments.digits import digits_experiment

    kw = {"rules": ("ck4", "sgd"), "eval_every": 500, "sizes": (64, 8, 10)}
    full = digits_experiment(steps=1000, **kw)
    for run in full["runs"]:
        assert run["steps"] == [0, 500, 1000] and run["diverged_at"] is None
        assert [p["step"] for p in run["curve"]] == run["steps"]
    assert full["runs"][0]["test_accuracy"][0] == full["runs"][1]["test_accuracy"][0]
    digits_experiment(steps=500, out_dir=tmp_path, **kw)
    part = digits_experiment(steps=1000, out_dir=tmp_path, resume=True, **kw)
    for a, b in zip(full["runs"], part["runs"], strict=True):
        assert (
            a["test_accuracy"] == b["test_accuracy"] and a["train_accuracy"] == b["train_accuracy"]
        )
    assert json.loads((tmp_path / "sgd" / "results.json").read_text())["resumed_from_step"] == 500
