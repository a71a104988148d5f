"""Experiment kind ``rate`` and the training loop train_rate: config validation, outputs,
resume identical to an uninterrupted run, divergence stopped with the step."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikesim.cli import main
from spikesim.errors import ConfigError, DivergenceError
from spikesim.experiments import resolve, run_experiment
from spikesim.experiments.train_rate import CHECKPOINT, load_checkpoint


def raw(**over):
    cfg = {
        "experiment": {"kind": "rate", "name": "blobs-bp", "seed": 2},
        "task": {"dataset": "blobs", "n_train": 400, "n_test": 200},
        "learner": {"name": "bp", "sizes": [20, 16, 4], "learning_rate": 0.2},
        "train": {"epochs": 3, "batch_size": 16, "eval_every": 200},
    }
    for dotted, value in over.items():
        table, key = dotted.split("__")
        cfg[table][key] = value
    return cfg


def test_learner_table_filled_with_the_learners_defaults():
    cfg = resolve(raw())
    learner = cfg["learner"]
    assert learner["name"] == "bp" and learner["learning_rate"] == 0.2
    assert learner["activation"] == "relu" and learner["optimizer"] == "sgd"
    assert "seed" not in learner
    cfg = resolve(raw(learner__name="urfb", learner__learning_rate=1))
    assert cfg["learner"]["learning_rate"] == 1.0 and "optimizer" not in cfg["learner"]
    assert isinstance(cfg["learner"]["learning_rate"], float)


def test_ep_learning_rate_is_one_number_or_one_per_layer():
    one = resolve(raw(learner__name="ep", learner__sizes=[64, 8, 10], learner__learning_rate=0.1))
    assert one["learner"]["learning_rate"] == 0.1
    per = resolve(
        raw(learner__name="ep", learner__sizes=[64, 8, 10], learner__learning_rate=[0.1, 0.05])
    )
    assert per["learner"]["learning_rate"] == [0.1, 0.05]
    with pytest.raises(ConfigError, match="learner.lrs was renamed learner.learning_rate"):
        resolve(raw(learner__name="ep", learner__sizes=[64, 8, 10], learner__lrs=[0.1, 0.05]))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"learner__optimizer": "adam", "learner__name": "urfb"}, "unknown key learner.optimizer"),
        ({"learner__lr": 0.1}, r"unknown key learner.lr for learner 'bp' \(known keys: name,"),
        ({"learner__learning_rate": "fast"}, "learner.learning_rate must be a number"),
        ({"learner__bias": 1}, "learner.bias must be a bool"),
        ({"learner__sizes": 3}, "learner.sizes must be a list"),
        ({"learner__seed": 3}, "learner.seed is not allowed"),
        ({"learner__name": "nope"}, "learner.name = 'nope' is not one of"),
        ({"train__epochs": 0}, "train.epochs = 0: must be >= 1"),
        ({"train__batchsize": 3}, "unknown key train.batchsize"),
        ({"task__test_fraction": 1.5}, r"task.test_fraction = 1.5: must be in \(0, 1\)"),
    ],
)
def test_bad_config_named(over, message):
    with pytest.raises(ConfigError, match=message):
        resolve(raw(**over))


def test_missing_learner_name():
    cfg = raw()
    del cfg["learner"]["name"]
    with pytest.raises(ConfigError, match="missing required key learner.name"):
        resolve(cfg)


def test_sizes_must_fit_the_dataset(tmp_path):
    cfg = resolve(raw(learner__sizes=[784, 16, 10]))
    with pytest.raises(ConfigError, match=r"learner.sizes = \[784, 16, 10\] does not fit"):
        run_experiment(cfg, tmp_path)


def test_run_writes_results_and_curve(tmp_path):
    res = run_experiment(resolve(raw()), tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["final"]["test_accuracy"] == res["final"]["test_accuracy"]
    final = saved["final"]
    assert final["test_accuracy"] > 0.9 and 0 <= final["train_error"] < 0.1
    assert final["samples_seen"] == 3 * 400 and final["n_parameters"] == 20 * 16 + 16 + 16 * 4 + 4
    curve = saved["curve"]
    seen = [c["samples_seen"] for c in curve]
    assert seen[0] == 0 and seen[-1] == 1200 and seen == sorted(seen)
    assert len(curve) == 1 + 1200 // 200
    assert all({"samples_seen", "wall_s", "test_accuracy"} <= set(c) for c in curve)
    assert curve[-1]["test_accuracy"] > curve[0]["test_accuracy"]
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    assert (tmp_path / CHECKPOINT).is_file()


@pytest.mark.parametrize("name", ["bp-adam", "urfb"])
def test_resume_identical_to_uninterrupted(tmp_path, name):
    full = resolve(raw(learner__name=name, train__checkpoint_every=100))
    ref = run_experiment(full, tmp_path / "full")
    # an interrupted run: 1 epoch of 3, then resumed to 3 epochs
    part = resolve(raw(learner__name=name, train__checkpoint_every=100, train__epochs=1))
    run_experiment(part, tmp_path / "part")
    state1, pos1 = load_checkpoint(tmp_path / "part" / CHECKPOINT)
    assert pos1["step"] == 25
    res = run_experiment(full, tmp_path / "part", resume=True)
    s_ref, p_ref = load_checkpoint(tmp_path / "full" / CHECKPOINT)
    s_res, p_res = load_checkpoint(tmp_path / "part" / CHECKPOINT)
    for key in s_ref:
        np.testing.assert_array_equal(s_ref[key], s_res[key], err_msg=key)
    assert res["final"]["test_accuracy"] == ref["final"]["test_accuracy"]
    assert res["final"]["train_error"] == ref["final"]["train_error"]
    strip = [{k: v for k, v in c.items() if k != "wall_s"} for c in ref["curve"]]
    got = [{k: v for k, v in c.items() if k != "wall_s"} for c in res["curve"]]
    assert got == strip


def test_divergence_stops_with_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    cfg = resolve(raw(train__checkpoint_every=16, train__epochs=1))
    run_experiment(cfg, tmp_path)  # a good checkpoint exists (25 steps)
    before = (tmp_path / CHECKPOINT).read_bytes()
    import spikesim.rate.bp as bp

    def nan_loss(self, x, y, index=None):
        raise DivergenceError("bp: training diverged (non-finite loss)")

    monkeypatch.setattr(bp.BP, "fit_batch", nan_loss)
    longer = resolve(raw(train__checkpoint_every=16, train__epochs=2))
    with pytest.raises(DivergenceError, match=r"bp: training diverged.*at step 26, epoch 2") as e:
        run_experiment(longer, tmp_path, resume=True)
    assert e.value.step == 26 and "last checkpoint" in str(e.value) and "is kept" in str(e.value)
    assert (tmp_path / CHECKPOINT).read_bytes() == before


def test_cli_train_rate(tmp_path, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(
        '[experiment]\nkind = "rate"\nseed = 1\n[task]\ndataset = "blobs"\nn_train = 200\n'
        '[learner]\nname = "bp-hinge"\nsizes = [20, 8, 4]\n[train]\nepochs = 2\n'
    )
    code = main(["train", str(exp), "--out", str(tmp_path / "o"), "--set", "train.epochs=1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["final"]["samples_seen"] == 200
    code = main(["train", str(exp), "--out", str(tmp_path / "o"), "--set", "learner.lr=1"])
    assert code == 2
    assert "unknown key learner.lr" in capsys.readouterr().err
    code = main(
        ["train", str(exp), "--out", str(tmp_path / "d"), "--set", "learner.learning_rate=1e30"]
    )
    assert code == 1
    assert "training diverged" in capsys.readouterr().err


def test_changed_hyperparameter_on_resume_is_refused(tmp_path):
    """The rate kind used to continue silently with new hyperparameters."""
    run_experiment(resolve(raw(train__epochs=1)), tmp_path)
    before = (tmp_path / "run.json").read_bytes()
    with pytest.raises(ConfigError, match=r"learner.learning_rate: 0.2 -> 0.3"):
        run_experiment(resolve(raw(learner__learning_rate=0.3)), tmp_path, resume=True)
    assert (tmp_path / "run.json").read_bytes() == before


@pytest.mark.parametrize("n", [1, 2])
def test_training_runs_under_the_blas_thread_limit(tmp_path, monkeypatch, n):
    from threadpoolctl import threadpool_info

    import spikesim.experiments.train_rate as tr

    seen = []
    real = tr.RateStepper.step

    def spy(self):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return real(self)

    monkeypatch.setattr(tr.RateStepper, "step", spy)
    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    run_experiment(resolve(raw(train__blas_threads=n, train__epochs=1)), tmp_path)
    assert seen and all(k == n for k in seen)
    # the limit is lifted afterwards
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before
