"""The comparison kind: runs, table, figure, validation of the runs list."""

import json

import numpy as np
import pytest

from spikesim.cli import main
from spikesim.errors import ConfigError
from spikesim.experiments import Field, Kind, load, register_kind
from spikesim.experiments.config import _KINDS


def _toy_run(config, out_dir, resume):
    rng = np.random.default_rng(config["experiment"]["seed"])
    lr = config["fit"]["lr"]
    curve = [
        {"samples_seen": n, "wall_s": 0.01 * n, "test_accuracy": float(1 - np.exp(-lr * n))}
        for n in (10, 20, 40)
    ]
    final = {**curve[-1], "n_parameters": 7, "test_loss": float(rng.random())}
    res = {"final": final, "curve": curve}
    (out_dir / "results.json").write_text(json.dumps(res))
    return res


@pytest.fixture
def toy(tmp_path):
    register_kind(Kind("cmp-toy", {"fit": {"lr": Field(float, 0.01)}}, _toy_run))
    (tmp_path / "a.toml").write_text('[experiment]\nkind = "cmp-toy"\n[fit]\nlr = 0.01\n')
    yield tmp_path
    _KINDS.pop("cmp-toy")


def comparison(runs: str) -> str:
    return '[experiment]\nkind = "compare"\nseed = 3\n[compare]\nchance = 0.1\n' + runs


def test_three_learners_table_and_figure(toy, capsys):
    runs = "".join(
        f'[[compare.runs]]\nlabel = "{lab}"\nfile = "a.toml"\nset = {{ "fit.lr" = {lr} }}\n'
        for lab, lr in (("slow", 0.01), ("mid", 0.05), ("fast", 0.2))
    )
    (toy / "c.toml").write_text(comparison(runs))
    out = toy / "out"
    assert main(["compare", str(toy / "c.toml"), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("| learner | test_accuracy")
    rows = json.loads((out / "comparison.json").read_text())["rows"]
    assert [r["learner"] for r in rows] == ["slow", "mid", "fast"]
    acc = [r["test_accuracy"] for r in rows]
    assert acc == sorted(acc) and acc[0] == pytest.approx(1 - np.exp(-0.4))
    assert (out / "curves.png").stat().st_size > 10_000
    assert json.loads((out / "fast" / "run.json").read_text())["config"]["experiment"]["seed"] == 3


@pytest.mark.parametrize(
    "runs, message",
    [
        ("runs = []\n", "list at least one run"),
        ('[[compare.runs]]\nlabel = "x"\nfile = "missing.toml"\n', "not found"),
        (
            '[[compare.runs]]\nlabel = "x"\nfile = "a.toml"\nbogus = 1\n',
            "compare.runs\\[0\\].bogus",
        ),
        (
            '[[compare.runs]]\nlabel = "x"\nfile = "a.toml"\nset = { "fit.nope" = 1 }\n',
            "unknown key fit.nope",
        ),
    ],
)
def test_bad_runs_are_named_at_load_time(toy, runs, message):
    (toy / "c.toml").write_text(comparison(runs))
    with pytest.raises(ConfigError, match=message):
        load(toy / "c.toml")


# --- real learners -----------------------------------------------------------------------

REAL = """[experiment]
kind = "compare"
seed = 1
[compare]
chance = 0.1
[[compare.runs]]
label = "bp"
file = "bp.toml"
note = "64-16-10 with biases"
[[compare.runs]]
label = "urfb"
file = "bp.toml"
set = { "learner.name" = "urfb", "learner.learning_rate" = 0.05 }
[[compare.runs]]
label = "zero-order"
file = "zo.toml"
"""

BP = """[experiment]
kind = "rate"
[task]
dataset = "digits"
n_train = 400
n_test = 200
[learner]
name = "bp"
sizes = [64, 16, 10]
learning_rate = 0.1
[train]
epochs = 3
batch_size = 20
"""

ZO = """[experiment]
kind = "zeroorder"
[task]
dataset = "digits"
n_train = 400
n_test = 200
[model]
sizes = [64, 16, 10]
[train]
steps = 3000
eval_every = 1000
"""


def test_real_learners_on_digits(tmp_path, capsys):
    """bp, urfb and the zero-order dynamics on the same digits subset: one table, one
    figure, parameter counts of the matched 64-16-10 architecture."""
    (tmp_path / "bp.toml").write_text(BP)
    (tmp_path / "zo.toml").write_text(ZO)
    (tmp_path / "c.toml").write_text(REAL)
    out = tmp_path / "out"
    assert main(["compare", str(tmp_path / "c.toml"), "--out", str(out)]) == 0
    md = capsys.readouterr().out
    rows = {r["learner"]: r for r in json.loads((out / "comparison.json").read_text())["rows"]}
    assert list(rows) == ["bp", "urfb", "zero-order"]
    # matched architecture: weights 64*16 + 16*10; bp adds its 16 + 10 biases
    assert rows["bp"]["n_parameters"] == 64 * 16 + 16 + 16 * 10 + 10
    assert rows["urfb"]["n_parameters"] == rows["zero-order"]["n_parameters"] == 64 * 16 + 160
    assert rows["bp"]["samples_seen"] == rows["urfb"]["samples_seen"] == 3 * 400
    assert rows["zero-order"]["samples_seen"] == 3000
    for r in rows.values():
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["wall_s"] > 0
    assert rows["bp"]["test_accuracy"] > 0.5  # 3 epochs of backprop learn digits
    assert "64-16-10 with biases" in md and md.count("\n") == 5
    assert (out / "curves.png").stat().st_size > 10_000
    final = json.loads((out / "results.json").read_text())["final"]
    assert final["zero-order/test_accuracy"] == rows["zero-order"]["test_accuracy"]
    assert final["best_test_accuracy"] == max(r["test_accuracy"] for r in rows.values())


def test_common_set_applies_to_every_run_before_its_own(toy):
    runs = (
        '[[compare.runs]]\nlabel = "a"\nfile = "a.toml"\n'
        '[[compare.runs]]\nlabel = "b"\nfile = "a.toml"\nset = { "fit.lr" = 0.5 }\n'
    )
    text = comparison(runs).replace("chance = 0.1\n", 'chance = 0.1\nset = { "fit.lr" = 0.2 }\n')
    (toy / "c.toml").write_text(text)
    from spikesim.experiments.kinds.compare import _runs

    lrs = [r["config"]["fit"]["lr"] for r in _runs(load(toy / "c.toml"))]
    assert lrs == [0.2, 0.5]
    (toy / "c.toml").write_text(text.replace('"fit.lr" = 0.2', '"fit.bad" = 0.2'))
    with pytest.raises(ConfigError, match="unknown key fit.bad"):
        load(toy / "c.toml")


def test_sweep_over_a_comparison_gives_per_learner_tables(toy, capsys):
    """`spikesim sweep` over a comparison file aggregates each learner's metrics over seeds;
    `spikesim compare --from-sweep` turns the wide row back into a learner table."""
    runs = "".join(
        f'[[compare.runs]]\nlabel = "{lab}"\nfile = "a.toml"\nset = {{ "fit.lr" = {lr} }}\n'
        for lab, lr in (("slow", 0.01), ("fast", 0.2))
    )
    (toy / "c.toml").write_text(comparison(runs))
    sw = toy / "sw"
    assert main(["sweep", str(toy / "c.toml"), "--serial", "--seeds", "3", "--out", str(sw)]) == 0
    cells = json.loads((sw / "sweep.json").read_text())["cells"]
    losses = [c["final"]["fast/test_loss"] for c in cells]
    assert len(set(losses)) == 3  # each seed its own run
    capsys.readouterr()
    assert main(["compare", str(toy / "c.toml"), "--from-sweep", str(sw), "--out", str(toy)]) == 0
    md = capsys.readouterr().out
    assert "(seeds ok: 3/3)" in md
    line = next(x for x in md.splitlines() if x.startswith("| fast |"))
    cols = [x.strip() for x in line.strip("|").split("|")]
    acc = 1 - np.exp(-0.2 * 40)
    assert cols[1] == f"{acc:.4g} ± 0"
    mean, std = np.mean(losses), np.std(losses, ddof=1)
    assert cols[2] == f"{mean:.4g} ± {std:.4g}"
    assert (toy / "comparison.md").read_text() == md


def test_resume_reruns_only_changed_learners(toy):
    runs = "".join(
        f'[[compare.runs]]\nlabel = "{lab}"\nfile = "a.toml"\nset = {{ "fit.lr" = {lr} }}\n'
        for lab, lr in (("a", 0.01), ("b", 0.05))
    )
    (toy / "c.toml").write_text(comparison(runs))
    out = toy / "out"
    assert main(["compare", str(toy / "c.toml"), "--out", str(out)]) == 0
    stamp = {k: (out / k / "results.json").stat().st_mtime_ns for k in "ab"}
    (out / "a" / "results.json").write_text(
        (out / "a" / "results.json").read_text().replace('"n_parameters": 7', '"n_parameters": 8')
    )
    (toy / "c.toml").write_text(comparison(runs.replace("0.05", "0.07")))
    assert main(["compare", str(toy / "c.toml"), "--out", str(out), "--resume"]) == 0
    rows = {r["learner"]: r for r in json.loads((out / "comparison.json").read_text())["rows"]}
    assert rows["a"]["n_parameters"] == 8  # read back, not run again
    assert rows["b"]["test_accuracy"] == pytest.approx(1 - np.exp(-0.07 * 40))
    assert (out / "b" / "results.json").stat().st_mtime_ns >= stamp["b"]
