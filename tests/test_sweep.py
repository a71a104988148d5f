"""Sweeps: grid building and validation, Dask equals serial, restart, failures, the table.

Cells run the ``toy`` kind (spikesim/experiments/kinds/toy.py): deterministic numbers from
the seed and the parameters, a checkpoint per step, in milliseconds. Wall-clock figures
(``wall_s``, ``samples_per_s``) differ between any two runs and are left out of equalities.
"""

import json
import statistics

import numpy as np
import pytest

from spikesim.cli import main
from spikesim.errors import ConfigError
from spikesim.experiments.kinds.toy import _step
from spikesim.experiments.sweep import (
    aggregate,
    build_grid,
    cell_id,
    markdown_table,
    parse_param,
    run_sweep,
    start_local_cluster,
)

RAW = {"experiment": {"kind": "toy", "name": "t"}, "toy": {"n": 20, "steps": 3}}


@pytest.fixture(scope="module")
def cluster():
    """One 2-worker local Dask cluster (processes) shared by this module's tests."""
    distributed = pytest.importorskip("distributed")
    cl = start_local_cluster(2)
    client = distributed.Client(cl)
    yield cl, client
    client.close()
    cl.close()


def _grid(raw=RAW, params=(("toy.scale", [0.5, 2.0]), ("toy.fail", [False, True])), seeds=3):
    return build_grid(raw, list(params), list(range(seeds)))


def _results(out, cell):
    return json.loads((out / "cells" / cell.id / "results.json").read_text())


TIMED = ("wall_s", "samples_per_s")


def _untimed(obj):
    """``obj`` without its wall-clock figures (they differ between any two runs)."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k not in TIMED}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def _toy_score(seed, scale, shift=0.0, n=20, steps=3):
    """Independent restatement of the toy's score: mean over steps of the step means."""
    toy = {"scale": scale, "shift": shift, "n": n}
    return sum(_step(seed, k, toy) for k in range(steps)) / steps


# -- grid ------------------------------------------------------------------------------


def test_parse_param_values_are_toml():
    assert parse_param("train.lr=0.1,1e-3,2") == ("train.lr", [0.1, 1e-3, 2])
    assert parse_param("a.b=true,false") == ("a.b", [True, False])
    assert parse_param('net.sizes=[64, 100],[10],"x,y",bare') == (
        "net.sizes",
        [[64, 100], [10], "x,y", "bare"],
    )
    for bad, msg in [
        ("lr=1,2", "TABLE.KEY"),
        ("train.lr", "TABLE.KEY"),
        ("train.lr=1,,2", "empty value"),
        ("train.lr=1,1", "repeated"),
        ("experiment.seed=1,2", "--seeds"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            parse_param(bad)


def test_cell_ids_readable_stable_distinct():
    assert cell_id({"train.lr": 0.1, "a.b": True}, 3) == "train.lr=0.1_a.b=true_seed=3"
    odd = cell_id({"net.sizes": [64, 100]}, 0)
    assert odd.startswith("net.sizes=-64-100-_seed=0-") and len(odd.split("-")[-1]) == 8
    assert odd == cell_id({"net.sizes": [64, 100]}, 0)
    assert odd != cell_id({"net.sizes": [64, 10, 0]}, 0)
    assert cell_id({"x.s": "a/b"}, 0) != cell_id({"x.s": "a-b"}, 0)  # hash separates them
    assert len(cell_id({"x.s": "v" * 300}, 0)) <= 96


def test_grid_order_seeds_and_configs():
    cells = _grid(seeds=2)
    assert len(cells) == 8
    assert [(c.params["toy.scale"], c.params["toy.fail"], c.seed) for c in cells[:3]] == [
        (0.5, False, 0),
        (0.5, False, 1),
        (0.5, True, 0),
    ]
    c = cells[3]
    assert c.config["toy"]["scale"] == 0.5 and c.config["toy"]["fail"] is True
    assert c.config["experiment"]["seed"] == 1 and c.config["toy"]["n"] == 20
    assert RAW["toy"] == {"n": 20, "steps": 3}  # the raw config is not modified


def test_every_cell_validated_before_anything_runs(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"toy.n=-1_seed=0: toy.n = -1: must be > 0"):
        build_grid(RAW, [("toy.n", [5, -1])], [0, 1])
    exp = tmp_path / "e.toml"
    exp.write_text('[experiment]\nkind = "toy"\n[toy]\nn = 5\n')
    out = tmp_path / "out"
    for param in ("toy.n=5,-1", "toy.bogus=1", "nosuch.key=1"):
        code = main(["sweep", str(exp), "--param", param, "--seeds", "2", "--out", str(out)])
        assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "must be > 0" in err and "unknown key toy.bogus" in err
    assert "unknown table [nosuch]" in err
    assert main(["sweep", str(exp), "--seeds", "0", "--out", str(out)]) == 2


# -- running ---------------------------------------------------------------------------


def test_dask_sweep_equals_serial_and_restarts(cluster, tmp_path):
    cl, client = cluster
    env = client.run(
        lambda: {
            k: __import__("os").environ.get(k)
            for k in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        }
    )
    assert len(env) == 2 and all(
        v == {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"} for v in env.values()
    )
    cells = _grid()
    serial = run_sweep(cells, tmp_path / "s", serial=True, progress=False)
    par = run_sweep(cells, tmp_path / "d", client=client, progress=False)
    assert (
        par["counts"]
        == serial["counts"]
        == {"total": 12, "skipped": 0, "ran": 12, "resumed": 0, "failed": 6}
    )
    assert _untimed(par["cells"]) == _untimed(serial["cells"])
    assert _untimed(par["rows"]) == _untimed(serial["rows"])
    for c in cells:
        if not c.params["toy.fail"]:
            assert _untimed(_results(tmp_path / "d", c)) == _untimed(_results(tmp_path / "s", c))
            assert _results(tmp_path / "d", c)["final"]["score"] == pytest.approx(
                _toy_score(c.seed, c.params["toy.scale"]), rel=1e-12
            )
    # restart on the cluster: finished cells are skipped, failed ones run again
    again = run_sweep(cells, tmp_path / "d", client=client, progress=False)
    assert again["counts"] == {"total": 12, "skipped": 6, "ran": 6, "resumed": 6, "failed": 6}
    assert _untimed(again["rows"]) == _untimed(par["rows"])


def test_restart_skips_finished_cells_and_resumes_half_finished(tmp_path):
    cells = _grid(params=[("toy.scale", [0.5, 2.0])], seeds=2)
    out = tmp_path / "sw"
    first = run_sweep(cells, out, serial=True, progress=False)
    assert first["counts"] == {"total": 4, "skipped": 0, "ran": 4, "resumed": 0, "failed": 0}
    mtimes = {c.id: (out / "cells" / c.id / "results.json").stat().st_mtime_ns for c in cells}
    second = run_sweep(cells, out, serial=True, progress=False)
    assert second["counts"]["ran"] == 0 and _untimed(second["rows"]) == _untimed(first["rows"])
    assert mtimes == {
        c.id: (out / "cells" / c.id / "results.json").stat().st_mtime_ns for c in cells
    }
    # one cell interrupted after its first step: checkpoint at step 1, no results.json
    c = cells[1]
    d = out / "cells" / c.id
    (d / "results.json").unlink()
    import shutil

    from spikesim.experiments import run_experiment
    from spikesim.training import read_checkpoint

    short = {**c.config, "toy": {**c.config["toy"], "steps": 1}}  # the run's length only
    run_experiment(short, tmp_path / "short")
    shutil.copy(tmp_path / "short" / "checkpoint.npz", d / "checkpoint.npz")
    ckpt = read_checkpoint(d / "checkpoint.npz")
    assert ckpt.step == 1
    assert ckpt.meta["curve"][1]["test_loss"] == _step(c.seed, 0, c.config["toy"])
    third = run_sweep(cells, out, serial=True, progress=False)
    assert (third["counts"]["ran"], third["counts"]["resumed"]) == (1, 1)
    assert _results(out, c)["resumed_from_step"] == 1
    # resuming gives the uninterrupted numbers
    assert _untimed(third["cells"]) == _untimed(first["cells"])
    # a whole cell folder deleted: that cell runs from scratch
    shutil.rmtree(out / "cells" / cells[2].id)
    fourth = run_sweep(cells, out, serial=True, progress=False)
    assert (fourth["counts"]["ran"], fourth["counts"]["resumed"]) == (1, 0)
    assert _results(out, cells[2])["resumed_from_step"] == 0
    # the experiment changed (toy.n): recorded configs differ, every cell runs again
    changed = _grid(
        raw={**RAW, "toy": {"n": 7, "steps": 3}}, params=[("toy.scale", [0.5, 2.0])], seeds=2
    )
    assert [c.id for c in changed] == [c.id for c in cells]
    fifth = run_sweep(changed, out, serial=True, progress=False)
    assert (fifth["counts"]["ran"], fifth["counts"]["resumed"]) == (4, 0)
    assert _untimed(fifth["cells"]) != _untimed(first["cells"])
    assert all(_results(out, c)["final"]["samples_seen"] == 21 for c in changed)


def test_cli_failures_recorded_exit_1_and_scheduler(cluster, tmp_path, capsys):
    cl, _ = cluster
    exp = tmp_path / "e.toml"
    exp.write_text('[experiment]\nkind = "toy"\n[toy]\nn = 20\n')
    out = tmp_path / "out"
    argv = ["sweep", str(exp), "--param", "toy.fail=false,true", "--param", "toy.scale=1,3"]
    argv += ["--seeds", "2", "--seed-start", "5", "--out", str(out)]
    assert main([*argv, "--scheduler", cl.scheduler_address]) == 1
    captured = capsys.readouterr()
    assert "toy.fail=true_toy.scale=3_seed=6 failed: RuntimeError: toy run asked to fail" in (
        captured.err
    )
    err_file = out / "cells" / "toy.fail=true_toy.scale=1_seed=5" / "error.txt"
    text = err_file.read_text()
    assert text.startswith("RuntimeError: toy run asked to fail") and "Traceback" in text
    summary = json.loads((out / "sweep.json").read_text())
    status = {c["id"]: c["status"] for c in summary["cells"]}
    assert sum(s == "failed" for s in status.values()) == 4 and len(status) == 8
    assert summary["meta"]["seeds"] == [5, 6]
    md = (out / "sweep.md").read_text()
    assert captured.out == md  # the table printed on stdout
    assert "| false | 1 | 2/2 |" in md and "| true | 3 | 0/2 |" in md
    assert "`toy.fail=true_toy.scale=3_seed=6`: RuntimeError" in md
    # serial rerun: the ok cells are skipped, the failed ones fail again
    assert main([*argv, "--serial"]) == 1
    assert json.loads((out / "sweep.json").read_text())["counts"]["skipped"] == 4
    # after the cause is removed (toy.fail=false only) everything passes
    assert main(["sweep", str(exp), "--seeds", "1", "--out", str(out), "--serial"]) == 0


# -- the table -------------------------------------------------------------------------


def test_aggregate_against_statistics():
    recs = [
        {"params": {"a.x": 1}, "seed": 0, "status": "ok",
         "final": {"test_accuracy": 0.5, "wall_s": 2, "flag": True, "name": "bp", "z": 1.0}},
        {"params": {"a.x": 1}, "seed": 1, "status": "ok",
         "final": {"test_accuracy": 0.75, "wall_s": 3, "flag": False}},
        {"params": {"a.x": 1}, "seed": 2, "status": "ok",
         "final": {"test_accuracy": 0.625, "wall_s": 7}},
        {"params": {"a.x": 2}, "seed": 0, "status": "failed", "error": "ValueError: boom\nmore",
         "id": "a.x=2_seed=0"},
        {"params": {"a.x": 2}, "seed": 1, "status": "ok", "final": {"test_accuracy": 0.9}},
    ]  # fmt: skip
    rows = aggregate(recs)
    assert [r["params"] for r in rows] == [{"a.x": 1}, {"a.x": 2}]
    r0, r1 = rows
    assert (r0["n"], r0["failed"], r1["n"], r1["failed"]) == (3, 0, 1, 1)
    assert list(r0["metrics"]) == ["test_accuracy", "wall_s", "z"]  # bools, strings dropped
    acc = [0.5, 0.75, 0.625]
    assert r0["metrics"]["test_accuracy"]["mean"] == pytest.approx(statistics.mean(acc))
    assert r0["metrics"]["test_accuracy"]["std"] == pytest.approx(statistics.stdev(acc))
    assert r0["metrics"]["wall_s"]["std"] == pytest.approx(statistics.stdev([2, 3, 7]))
    assert r0["metrics"]["z"] == {"mean": 1.0, "std": None, "n": 1}
    assert r1["metrics"]["test_accuracy"] == {"mean": 0.9, "std": None, "n": 1}
    md = markdown_table(rows, recs).splitlines()
    assert md[0] == "| a.x | seeds ok | test_accuracy | wall_s | z |"
    assert md[2] == (
        f"| 1 | 3/3 | 0.625 ± {statistics.stdev(acc):.4g} | 4 ± "
        f"{statistics.stdev([2, 3, 7]):.4g} | 1 |"
    )
    assert md[3] == "| 2 | 1/2 | 0.9 | – | – |"
    assert md[-1] == "- `a.x=2_seed=0`: ValueError: boom"


def test_toy_kind_is_deterministic_and_seeded(tmp_path):
    from spikesim.experiments import resolve, run_experiment

    cfg = resolve({"experiment": {"kind": "toy", "seed": 4}, "toy": {"n": 10}})
    a = run_experiment(cfg, tmp_path / "a")
    b = run_experiment(cfg, tmp_path / "b")
    assert a == json.loads((tmp_path / "a" / "results.json").read_text())
    assert _untimed(a) == _untimed(b)
    assert a["final"]["score"] == pytest.approx(_toy_score(4, 1.0, n=10), rel=1e-12)
    cfg["experiment"]["seed"] = 5
    assert run_experiment(cfg, tmp_path / "c")["final"]["score"] != a["final"]["score"]
    z = np.random.default_rng([4, 0]).standard_normal(10)
    assert _step(4, 0, {"scale": 2.0, "shift": 1.0, "n": 10}) == pytest.approx(1 + 2 * z.mean())
