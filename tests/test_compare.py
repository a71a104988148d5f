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
