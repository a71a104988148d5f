"""`spikesim compare --from-sweep`: seed-mean learning curves, their table and figure."""

import json

import numpy as np
import pytest

from spikesim.cli import main
from spikesim.experiments import Field, Kind, register_kind
from spikesim.experiments.config import _KINDS

COUNTS = (0, 10, 20, 40)


def _accuracy(lr: float, n: int, seed: int) -> float:
    return float(1 - np.exp(-lr * n) + 0.01 * seed)


def _seeded_run(config, out_dir, resume):
    seed, lr = config["experiment"]["seed"], config["fit"]["lr"]
    counts = COUNTS if seed != 1 else (*COUNTS, 30)  # seed 1 has one extra point
    curve = [
        {"samples_seen": n, "wall_s": 0.01 * n, "test_accuracy": _accuracy(lr, n, seed)}
        for n in sorted(counts)
    ]
    res = {"final": {**curve[-1], "n_parameters": 7}, "curve": curve}
    (out_dir / "results.json").write_text(json.dumps(res))
    return res


@pytest.fixture
def study(tmp_path):
    register_kind(Kind("cmp-seeded", {"fit": {"lr": Field(float, 0.01)}}, _seeded_run))
    (tmp_path / "a.toml").write_text('[experiment]\nkind = "cmp-seeded"\n[fit]\nlr = 0.01\n')
    runs = "".join(
        f'[[compare.runs]]\nlabel = "{lab}"\nfile = "a.toml"\nset = {{ "fit.lr" = {lr} }}\n'
        for lab, lr in (("slow", 0.01), ("fast", 0.2))
    )
    (tmp_path / "c.toml").write_text(
        '[experiment]\nkind = "compare"\nseed = 0\n[compare]\nchance = 0.1\n' + runs
    )
    sw = tmp_path / "sw"
    assert (
        main(["sweep", str(tmp_path / "c.toml"), "--serial", "--seeds", "3", "--out", str(sw)]) == 0
    )
    yield tmp_path, sw
    _KINDS.pop("cmp-seeded")


def test_mean_curves_table_and_figure(study, capsys):
    tmp, sw = study
    out = tmp / "tables"
    capsys.readouterr()
    args = ["compare", str(tmp / "c.toml"), "--from-sweep", str(sw), "--out", str(out)]
    assert main([*args, "--at", "10,30,40"]) == 0
    md = capsys.readouterr().out
    curves = json.loads((out / "curves.json").read_text())["rows"][0]["curves"]
    fast = curves["fast"]
    # only the sample counts every seed evaluated (seed 1's extra point at 30 is left out)
    assert fast["samples_seen"] == list(COUNTS)
    assert fast["n_seeds"] == 3
    # closed form: seeds 0, 1, 2 add 0, 0.01, 0.02 -> mean + 0.01, sample std 0.01
    for n, mean, std in zip(fast["samples_seen"], fast["mean"], fast["std"], strict=True):
        assert mean == pytest.approx(_accuracy(0.2, n, 1))
        assert std == pytest.approx(0.01)
    table = md[md.index("test accuracy at samples seen") :]
    assert "| learner | 10 | 30 | 40 | mean of these |" in table
    line = next(x for x in table.splitlines() if x.startswith("| fast |"))
    cols = [x.strip() for x in line.strip("|").split("|")]
    assert cols[1] == f"{_accuracy(0.2, 10, 1):.4g} ± 0.01"
    assert cols[2] == "–"  # no common point at 30
    assert cols[4] == "–"  # no mean over a set with a missing point
    assert (out / "curves.png").stat().st_size > 10_000
    assert (out / "comparison.md").read_text() == md
    assert main([*args, "--at", "10,20,40"]) == 0
    table = capsys.readouterr().out.split("test accuracy at samples seen")[1]
    line = next(x for x in table.splitlines() if x.startswith("| slow |"))
    cols = [x.strip() for x in line.strip("|").split("|")]
    # every seed's average over 10, 20, 40, then mean ± std over the seeds
    avg = [np.mean([_accuracy(0.01, n, seed) for n in (10, 20, 40)]) for seed in range(3)]
    assert cols[4] == f"{np.mean(avg):.4g} ± {np.std(avg, ddof=1):.4g}"
    assert fast["seeds"] == [0, 1, 2] and len(fast["per_seed"]) == 3


def test_at_needs_from_sweep_and_integers(study, capsys):
    tmp, sw = study
    capsys.readouterr()
    assert main(["compare", str(tmp / "c.toml"), "--out", str(tmp / "o"), "--at", "10"]) == 2
    assert "--at needs --from-sweep" in capsys.readouterr().err
    args = ["compare", str(tmp / "c.toml"), "--from-sweep", str(sw), "--out", str(tmp / "o")]
    assert main([*args, "--at", "1e3"]) == 2
    assert "--at must be comma-separated integers, got '1e3'" in capsys.readouterr().err
