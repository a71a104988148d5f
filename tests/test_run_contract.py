"""The run contract (docs/guide/file-formats.md), item by item, on tiny runs of every kind:
strict JSON, resume refusals, the folder lock, --force, Ctrl-C, load_run, spikesim plot,
the trained network file, run.json, config errors before any write."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import spikesim
from spikesim.cli import main
from spikesim.experiments import resolve, run_experiment
from spikesim.training import read_checkpoint

SPIKESIM = str(Path(sys.executable).with_name("spikesim"))

FILES = {
    "spiking": """
        [experiment]
        kind = "spiking"
        seed = 1
        [task]
        dataset = "spike-pattern"
        n_train = 20
        n_test = 10
        [network]
        sizes = [10, 2]
        [encoding]
        duration = 0.05
        [train]
        trials = 200
        chunk = 100
        eval_every = 100
    """,
    "rate": """
        [experiment]
        kind = "rate"
        seed = 5
        [task]
        dataset = "blobs"
        n_train = 100
        n_test = 40
        [learner]
        name = "bp"
        sizes = [20, 8, 4]
        [train]
        epochs = 2
        batch_size = 10
        eval_every = 50
    """,
    "zeroorder": """
        [experiment]
        kind = "zeroorder"
        seed = 2
        [task]
        dataset = "digits"
        n_train = 60
        n_test = 30
        [model]
        sizes = [64, 4, 10]
        [train]
        steps = 200
        eval_every = 100
    """,
    "toy": """
        [experiment]
        kind = "toy"
        seed = 0
        [toy]
        n = 5
        steps = 4
    """,
}
CHANGED = {  # a key that changes the experiment, not only its length
    "spiking": "encoding.max_rate=90.0",
    "rate": "train.batch_size=20",
    "zeroorder": "model.scale=0.3",
    "toy": "toy.scale=2.0",
}
FIGURES = {
    "spiking": {
        "learning_curve.png",
        "weights.png",
        "weight_hist.png",
        "raster_before.png",
        "raster_after.png",
    },
    "rate": {"learning_curve.png"},
    "zeroorder": {"learning_curve.png"},
    "toy": {"learning_curve.png"},
}


def exp_file(tmp_path: Path, kind: str, text: str | None = None) -> Path:
    p = tmp_path / f"{kind}.toml"
    p.write_text(textwrap.dedent(text or FILES[kind]))
    return p


def env() -> dict:
    return dict(os.environ, SPIKESIM_NO_PROGRESS="1", OPENBLAS_NUM_THREADS="1")


def _no_constants(name):
    raise ValueError(f"not strict JSON: {name}")


def untimed(obj):
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if k not in ("wall_s", "samples_per_s")}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


# -- results.json --------------------------------------------------------------------------


def test_results_are_strict_json_with_null_for_nan(tmp_path, capsys):
    """A regression task has no accuracy: null, never NaN; integers stay integers."""
    text = FILES["spiking"].replace('"spike-pattern"', '"teacher-student"')
    text = text.replace("n_train = 20", "n_samples = 30\nteacher_repeats = 2")
    text = text.replace("n_test = 10\n", "").replace("sizes = [10, 2]", "sizes = [5, 2]")
    out = tmp_path / "o"
    assert main(["train", str(exp_file(tmp_path, "spiking", text)), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text(), parse_constant=_no_constants)
    assert all(p["test_accuracy"] is None for p in res["curve"])
    assert all(type(p["step"]) is int for p in res["curve"])
    assert math.isfinite(res["final"]["test_loss"]) and "test_accuracy" not in res["final"]
    for name in ("run.json", "timing.json"):
        json.loads((out / name).read_text(), parse_constant=_no_constants)


def test_write_json_writes_null_for_non_finite(tmp_path):
    from spikesim.io import write_json

    write_json(tmp_path / "x.json", {"a": float("nan"), "b": [np.inf, np.int64(3)], "c": 1.5})
    got = json.loads((tmp_path / "x.json").read_text(), parse_constant=_no_constants)
    assert got == {"a": None, "b": [None, 3], "c": 1.5} and type(got["b"][1]) is int


def test_run_json_records_what_the_run_used(tmp_path):
    out = tmp_path / "o"
    exp = exp_file(tmp_path, "rate")
    assert main(["train", str(exp), "--out", str(out), "--set", "train.epochs=1"]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["train"]["epochs"] == 1
    assert info["spikesim_version"] == spikesim.__version__
    assert info["command"] == [
        "spikesim",
        "train",
        str(exp),
        "--out",
        str(out),
        "--set=train.epochs=1",
    ]
    assert info["data_paths"] == {"blobs": None}
    if (Path(spikesim.__file__).parents[1] / ".git").exists():
        assert len(info["git_commit"].removesuffix("+dirty")) == 40


# -- resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["spiking", "rate", "zeroorder"])
def test_resume_with_a_changed_key_is_refused(kind, tmp_path, capsys):
    exp, out = exp_file(tmp_path, kind), tmp_path / "o"
    assert main(["train", str(exp), "--out", str(out), "--set", "experiment.name=x"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    argv = ["train", str(exp), "--out", str(out), "--resume", "--set", "experiment.name=x"]
    assert main([*argv, "--set", CHANGED[kind]]) == 2
    err = capsys.readouterr().err
    assert CHANGED[kind].split("=")[0] in err and "differs" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert main(argv) == 0  # the same configuration resumes: a no-op on a finished run
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_resume_refusals_name_the_problem(tmp_path, capsys):
    toy, rate = exp_file(tmp_path, "toy"), exp_file(tmp_path, "rate")
    assert main(["train", str(toy), "--out", str(tmp_path / "nope"), "--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()
    out = tmp_path / "o"
    assert main(["train", str(toy), "--out", str(out)]) == 0
    assert main(["train", str(rate), "--out", str(out), "--resume"]) == 2
    assert "kind 'toy'" in capsys.readouterr().err
    # fewer steps than the checkpoint holds
    assert main(["train", str(toy), "--out", str(out), "--resume", "--set", "toy.steps=2"]) == 2
    err = capsys.readouterr().err
    assert "holds 4 steps" in err and "toy.steps" in err
    # more steps: the run continues and ends as a longer uninterrupted one
    assert main(["train", str(toy), "--out", str(out), "--resume", "--set", "toy.steps=6"]) == 0
    ref = tmp_path / "ref"
    assert main(["train", str(toy), "--out", str(ref), "--set", "toy.steps=6"]) == 0
    got, want = (json.loads((d / "results.json").read_text()) for d in (out, ref))
    assert untimed(got["curve"]) == untimed(want["curve"])
    assert untimed(got["final"]) == untimed(want["final"]) and got["resumed_from_step"] == 4


# keys added to the schema after a run was recorded: dropped from run.json to simulate it
ADDED = {
    "spiking": ("network.skip", "network.receptive", "loss.split", "encoding.kind"),
    "rate": ("learner.lr_decay", "train.blas_threads"),  # a learner's key: schema by name
    "zeroorder": ("rule.presentations",),
    "toy": ("toy.shift",),
}
NOT_DEFAULT = {  # the first of ADDED[kind] at another value than its default
    "spiking": ("network.skip=[0.1, 0.05]", "[]", "[0.1, 0.05]"),
    "rate": ("learner.lr_decay=0.01", "0.0", "0.01"),
    "zeroorder": ("rule.presentations=2", "1", "2"),
    "toy": ("toy.shift=1.0", "0.0", "1.0"),
}
HALF = {  # the run's length halved
    "spiking": "train.trials=100",
    "rate": "train.epochs=1",
    "zeroorder": "train.steps=100",
    "toy": "toy.steps=2",
}


def _record_before(out: Path, keys, *, kind: str, budget, rehash: bool = True) -> None:
    """Make ``out`` look recorded before ``keys`` existed: drop them from run.json, and
    (``rehash``) give the checkpoint the hash the configuration without them had."""
    from spikesim.training import config_hash, write_checkpoint

    info = json.loads((out / "run.json").read_text())
    config = info["config"]
    for key in keys:
        table, _, name = key.partition(".")
        del config[table][name]
    (out / "run.json").write_text(json.dumps(info))
    if not rehash:
        return
    cp = read_checkpoint(out / "checkpoint.npz")
    legacy = config_hash(config, exclude=(*budget, "experiment.description"))
    write_checkpoint(out / "checkpoint.npz", cp.arrays, {**cp.meta, "config_hash": legacy})


def _budget(kind: str):
    from spikesim.experiments.config import get_kind

    return get_kind(kind).budget_keys


@pytest.mark.parametrize("kind", sorted(FILES))
def test_resume_of_a_run_recorded_before_keys_with_defaults_existed(kind, tmp_path, capsys):
    """Keys absent from run.json that hold their default are no change: the run resumes
    from its checkpoint and ends bit-identical to an uninterrupted one."""
    exp, out, ref = exp_file(tmp_path, kind), tmp_path / "o", tmp_path / "ref"
    assert main(["train", str(exp), "--out", str(out), "--set", HALF[kind]]) == 0
    step = read_checkpoint(out / "checkpoint.npz").step
    _record_before(out, ADDED[kind], kind=kind, budget=_budget(kind))
    capsys.readouterr()
    assert main(["train", str(exp), "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
    assert main(["train", str(exp), "--out", str(ref)]) == 0
    got, want = (json.loads((d / "results.json").read_text()) for d in (out, ref))
    assert got["resumed_from_step"] == step > 0
    assert untimed(got["final"]) == untimed(want["final"])
    assert untimed(got["curve"]) == untimed(want["curve"])
    a = read_checkpoint(out / "checkpoint.npz")
    b = read_checkpoint(ref / "checkpoint.npz")
    assert a.meta == b.meta and sorted(a.arrays) == sorted(b.arrays)
    for name in a.arrays:
        assert a.arrays[name].tobytes() == b.arrays[name].tobytes(), name
    config = json.loads((out / "run.json").read_text())["config"]  # now records the keys
    assert config == json.loads((ref / "run.json").read_text())["config"]
    # a second resume of the finished run reads it back, writing nothing
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["train", str(exp), "--out", str(out), "--resume"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("kind", sorted(FILES))
def test_resume_of_a_run_recorded_before_a_key_set_to_another_value_is_refused(
    kind, tmp_path, capsys
):
    exp, out = exp_file(tmp_path, kind), tmp_path / "o"
    assert main(["train", str(exp), "--out", str(out), "--set", HALF[kind]]) == 0
    _record_before(out, ADDED[kind], kind=kind, budget=_budget(kind))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    setting, default, value = NOT_DEFAULT[kind]
    assert main(["train", str(exp), "--out", str(out), "--resume", "--set", setting]) == 2
    err = " ".join(capsys.readouterr().err.split())
    key = setting.partition("=")[0]
    assert "differs" in err and f"{key}: not recorded (the default {default}) -> {value}" in err
    assert not any(k in err for k in ADDED[kind][1:])  # the others hold their default
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_renamed_key_in_the_record_is_still_a_change(tmp_path, capsys):
    """rule.alpha (zeroorder) was renamed rule.learning_rate, which has a default: a record
    holding the old name is refused, naming both, even at the default value."""
    exp, out = exp_file(tmp_path, "zeroorder"), tmp_path / "o"
    assert main(["train", str(exp), "--out", str(out), "--set", HALF["zeroorder"]]) == 0
    info = json.loads((out / "run.json").read_text())
    info["config"]["rule"]["alpha"] = info["config"]["rule"].pop("learning_rate")
    (out / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    assert main(["train", str(exp), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "rule.alpha: 0.02 -> null" in err and "rule.learning_rate: null -> 0.02" in err


def test_run_or_skip_reads_keys_with_defaults_as_recorded(tmp_path):
    """The restart rule of sweeps and comparisons applies the same rule."""
    from spikesim.experiments import run_or_skip
    from spikesim.experiments.config import load

    exp = exp_file(tmp_path, "toy")
    out = tmp_path / "o"
    config = load(exp)
    first, what = run_or_skip(config, out)
    assert what == "ran"
    _record_before(out, ADDED["toy"], kind="toy", budget=_budget("toy"))
    assert run_or_skip(config, out) == (first, "skipped")
    (out / "results.json").unlink()  # interrupted: resumed from its checkpoint
    again, what = run_or_skip(config, out)
    assert what == "resumed" and untimed(again["final"]) == untimed(first["final"])
    # killed after the checkpoint was adopted, before run.json recorded the keys
    (out / "results.json").unlink()
    _record_before(out, ADDED["toy"], kind="toy", budget=_budget("toy"), rehash=False)
    again, what = run_or_skip(config, out)
    assert what == "resumed" and untimed(again["final"]) == untimed(first["final"])
    _record_before(out, ADDED["toy"], kind="toy", budget=_budget("toy"))
    shifted = load(exp, ["toy.shift=1.0"])
    assert run_or_skip(shifted, out)[1] == "ran"  # another configuration: run afresh


def test_config_errors_write_nothing(tmp_path, capsys):
    text = FILES["spiking"].replace('"spike-pattern"', '"digits"')
    out = tmp_path / "o"
    assert main(["train", str(exp_file(tmp_path, "spiking", text)), "--out", str(out)]) == 2
    assert "network.sizes[0]" in capsys.readouterr().err
    assert not out.exists()


# -- the folder ------------------------------------------------------------------------------


def _start(exp: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [SPIKESIM, "train", str(exp), "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )


def _wait_for(proc: subprocess.Popen, path: Path, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {path.name} appeared: {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"no {path.name} within {timeout} s")
        time.sleep(0.01)


SLOW_TOY = FILES["toy"].replace("steps = 4", "steps = 100\nstep_seconds = 0.05")


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path, capsys):
    exp, out = exp_file(tmp_path, "toy", SLOW_TOY), tmp_path / "o"
    proc = _start(exp, out)
    try:
        _wait_for(proc, out / "checkpoint.npz")
        for extra in ([], ["--resume"], ["--force"]):
            assert main(["train", str(exp), "--out", str(out), *extra]) == 1
            err = capsys.readouterr().err
            assert f"{out} is in use by another run (pid {proc.pid}" in err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    # SIGKILL leaves no stale lock: the run resumes from its checkpoint
    step = read_checkpoint(out / "checkpoint.npz").step
    fast = ["--set", "toy.step_seconds=0.0", "--resume"]
    assert main(["train", str(exp), "--out", str(out), *fast]) == 0
    assert json.loads((out / "results.json").read_text())["resumed_from_step"] == step


def test_another_experiment_needs_force_which_empties_the_folder(tmp_path, capsys):
    exp, out = exp_file(tmp_path, "toy"), tmp_path / "o"
    assert main(["train", str(exp), "--out", str(out)]) == 0
    (out / "notes.txt").write_text("old")
    before = (out / "results.json").read_bytes()
    assert main(["train", str(exp), "--out", str(out)]) == 0  # the same experiment again
    capsys.readouterr()
    assert main(["train", str(exp), "--out", str(out), "--set", "toy.scale=3.0"]) == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and "--force" in err and "toy.scale" in err
    assert (
        json.loads((out / "results.json").read_text())["experiment"]
        == json.loads(before)["experiment"]
    )
    other = tmp_path / "other.toml"
    other.write_text(exp.read_text().replace('kind = "toy"', 'kind = "toy"\nname = "other"', 1))
    assert main(["train", str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err  # names the run the folder holds, not every key
    assert "experiment 'experiment' (kind 'toy')" in err and "toy.n" not in err
    assert main(["train", str(exp), "--out", str(out), "--set", "toy.scale=3.0", "--force"]) == 0
    assert not (out / "notes.txt").exists()
    assert json.loads((out / "run.json").read_text())["config"]["toy"]["scale"] == 3.0


# -- Ctrl-C ----------------------------------------------------------------------------------


SIGINT_FILES = {
    "toy": SLOW_TOY.replace("steps = 100", "steps = 60"),
    "rate": """
        [experiment]
        kind = "rate"
        seed = 5
        [task]
        dataset = "blobs"
        [learner]
        name = "bp-sgd"
        sizes = [20, 16, 4]
        learning_rate = 0.05
        [train]
        batch_size = 1
        max_iterations = 2000
        eval_every = 500
        eval_n_test = 50
        checkpoint_every = 100
    """,
}


@pytest.mark.parametrize("kind", sorted(SIGINT_FILES))
def test_sigint_checkpoints_then_resume_equals_uninterrupted(kind, tmp_path):
    exp = exp_file(tmp_path, kind, SIGINT_FILES[kind])
    out = tmp_path / "o"
    proc = _start(exp, out)
    _wait_for(proc, out / "checkpoint.npz")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before SIGINT arrived")
    assert proc.returncode == 130, err
    assert "checkpoint written" in err and f"--out {out} --resume" in err
    step = read_checkpoint(out / "checkpoint.npz").step
    assert 0 < step and not (out / "results.json").exists()
    fast = ["--set", "toy.step_seconds=0.0"] if kind == "toy" else []  # the length only
    cmd = [SPIKESIM, "train", str(exp), "--out", str(out), "--resume", *fast]
    assert subprocess.run(cmd, env=env(), capture_output=True).returncode == 0
    ref = tmp_path / "ref"
    assert main(["train", str(exp), "--out", str(ref), *fast]) == 0
    got, want = (json.loads((d / "results.json").read_text()) for d in (out, ref))
    assert got["resumed_from_step"] == step
    assert untimed(got["final"]) == untimed(want["final"])
    assert untimed(got["curve"]) == untimed(want["curve"])
    a = read_checkpoint(out / "checkpoint.npz")
    b = read_checkpoint(ref / "checkpoint.npz")
    assert a.meta == b.meta and sorted(a.arrays) == sorted(b.arrays)
    for name in a.arrays:
        assert a.arrays[name].tobytes() == b.arrays[name].tobytes(), name


# -- runs are data ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FILES))
def test_load_run_and_spikesim_plot(kind, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["train", str(exp_file(tmp_path, kind)), "--out", str(out)]) == 0
    run = spikesim.load_run(out)
    res = json.loads((out / "results.json").read_text())
    assert run.kind == kind and run.final == res["final"] and run.curve == res["curve"]
    assert run.config == json.loads((out / "run.json").read_text())["config"]
    assert (run.network is not None) == (kind == "spiking")
    figs = tmp_path / "figs"
    capsys.readouterr()
    assert main(["plot", str(out), "--out", str(figs)]) == 0
    drawn = {p.name for p in figs.iterdir()}
    assert drawn == FIGURES[kind]
    assert sorted(capsys.readouterr().out.split()) == sorted(str(figs / n) for n in drawn)
    assert all((figs / n).stat().st_size > 1000 for n in drawn)


def test_plot_refuses_an_unfinished_folder(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "none")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "half").mkdir()
    assert main(["plot", str(tmp_path / "half")]) == 2
    assert "run.json" in capsys.readouterr().err


def test_trained_network_round_trips(tmp_path):
    from spikesim.io import load_network

    cfg = resolve(
        {
            "experiment": {"kind": "spiking", "seed": 4},
            "task": {"dataset": "spike-pattern", "n_train": 20, "n_test": 10},
            "network": {"sizes": [10, 2]},
            "encoding": {"duration": 0.05},
            "train": {"trials": 200, "chunk": 100, "eval_every": 200, "plots": False},
        }
    )
    out = tmp_path / "o"
    run_experiment(cfg, out)
    net = load_network(out / "network.npz")
    with np.load(out / "weights.npz") as z:
        w_final, w_init = z["w_final"], z["w_init"]
    assert net.weight.tobytes() == w_final.tobytes() and not np.array_equal(w_final, w_init)
    run = spikesim.load_run(out)
    assert run.network.weight.tobytes() == w_final.tobytes()
    from spikesim.experiments.kinds.spiking import build

    untrained = build(cfg)["network"]
    for name in ("pre", "post", "sign", "delay", "inputs", "outputs", "tau_syn", "threshold"):
        assert np.array_equal(getattr(net, name), getattr(untrained, name)), name
    assert np.array_equal(untrained.weight, w_init)
    x = np.full(net.inputs.size, 0.8)
    inp = spikesim.encoding.poisson(x, duration=0.05, max_rate=100.0, seed=0)
    rec = spikesim.simulate(net, inp, 0.05)
    assert rec.n_neurons == net.n_neurons
