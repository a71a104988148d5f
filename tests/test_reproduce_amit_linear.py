"""Amit sec. 3.3 linear-network simulation: update rule checks and the paper's claims."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikesim.cli import main
from spikesim.errors import DivergenceError
from spikesim.reproduce import amit_linear as al

SMALL = (4, 6, 5, 3)


def test_one_backprop_step_is_the_gradient_by_finite_differences():
    target, a0, _ = al.make_problem(0, init_scale=0.8, sizes=SMALL)
    lr = 1e-3

    def loss(a):
        p = a[0] @ a[1] @ a[2]
        return 0.5 * np.sum((target - p) ** 2)

    # two steps: errors[1] is the error after one step; recover the step from A directly
    a = [m.copy() for m in a0]
    e = target - a[0] @ a[1] @ a[2]
    steps = [lr * e @ a[2].T @ a[1].T, lr * a[0].T @ e @ a[2].T, lr * (a[0] @ a[1]).T @ e]
    for i in range(3):
        num = np.zeros_like(a[i])
        for idx in np.ndindex(a[i].shape):
            for s in (1, -1):
                b = [m.copy() for m in a]
                b[i][idx] += s * 1e-6
                num[idx] -= s * loss(b) / 2e-6
        np.testing.assert_allclose(steps[i] / lr, num, rtol=1e-6, atol=1e-9)
    # and simulate() takes exactly these steps
    after = [m + d for m, d in zip(a, steps, strict=True)]
    err = al.simulate(target, a0, "transpose", 1.0, lr, 1)
    expect = np.linalg.norm(target - after[0] @ after[1] @ after[2]) / np.linalg.norm(target)
    assert err[1] == pytest.approx(expect, rel=1e-12)


def test_urfb_with_transposed_feedback_is_backprop_and_frfb_differs():
    target, a0, r0 = al.make_problem(1, sizes=SMALL)
    bp = al.simulate(target, a0, "transpose", 1.0, 0.05, 300)
    rt = [None] + [m.T.copy() for m in a0[1:]]
    np.testing.assert_allclose(al.simulate(target, a0, rt, 1.0, 0.05, 300), bp, rtol=1e-9)
    fr = al.simulate(target, a0, r0, 0.0, 0.05, 300)
    assert not np.allclose(fr, bp)
    assert bp[-1] < 0.1 * bp[0]  # it learns


def test_claims_hold_on_a_short_run():
    res = al.reproduce(seeds=2, iterations=1500, lr=0.02, threshold=1e-2)
    assert al.checks(res) == {
        "urfb_before_frfb_every_seed": True,
        "faster_as_eps_grows_every_seed": True,
    }
    for run in res["runs"]:
        assert all(v is not None for v in run["iterations_to_threshold"]["zero_init"].values())


def test_too_large_step_diverges_with_message():
    target, a0, r0 = al.make_problem(0, sizes=SMALL)
    with pytest.raises(DivergenceError, match="lower --lr"):
        al.simulate(target, a0, r0, 1.0, 50.0, 200)


def test_cli(tmp_path, capsys):
    code = main(
        ["reproduce", "amit-linear", "--seeds", "1", "--iterations", "100", "--json"]
        + ["--out", str(tmp_path)]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["iterations"] == 100
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["runs"][0]["curves"]["zero_init"]["eps=1"]) == 101
    assert (tmp_path / "amit_linear.png").stat().st_size > 1000
    assert main(["reproduce", "amit-linear", "--seeds", "0", "--out", str(tmp_path)]) == 2


def test_sh_baselines_reproduction_runs_every_variant(tmp_path, capsys):
    """``spikesim reproduce sh-baselines``: every variant's curve on the evaluation grid,
    accuracies in [0, 1], figure and numbers written, strict JSON on stdout."""
    import json

    from spikesim.cli import main
    from spikesim.reproduce.sh_baselines import VARIANTS

    argv = ["reproduce", "sh-baselines", "--trials", "320", "--every", "160", "--seeds", "1"]
    assert main([*argv, "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["results"]) == set(VARIANTS)
    for numbers in out["results"].values():
        assert numbers["steps"] == [0, 160, 320]
        assert all(0.0 <= a <= 1.0 for a in numbers["mean_test_accuracy"])
    saved = json.loads((tmp_path / "sh-baselines.json").read_text())
    assert saved["results"] == out["results"]
    assert (tmp_path / "sh-baselines.png").stat().st_size > 0
