"""``spikesim bench rate``: every registered learner measured, FLOP counts, JSON output."""

from __future__ import annotations

import json
import os

import pytest

import spikesim.rate as rate
from spikesim.cli import main


def test_bench_rate_json(capsys):
    code = main(
        [
            "bench",
            "rate",
            "--json",
            "--sizes",
            "20,16,4",
            "--min-time",
            "0.02",
            "--architectures",
            "",
        ]
        + ["--batch", "8", "--no-torch"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["learners"]) == rate.available()
    for name, res in out["learners"].items():
        assert res["batch_size"] == 8 and res["samples_per_s"] > 0, name
        assert res["gemm_gflops"] > 0
        if res["flops_per_sample"] is not None:
            assert res["fraction_of_gemm_peak"] > 0
    # bp's count: forward 2*(20*16 + 16*4), weight gradients the same, error 2*16*4
    assert out["learners"]["bp"]["flops_per_sample"] == 3 * 2 * (20 * 16 + 16 * 4) - 2 * 20 * 16
    for name in ("bp", "urfb", "frfb", "bp-hinge"):
        assert out["learners"][name]["fraction_of_gemm_peak"] is not None


def test_flops_do_not_depend_on_depth_wrongly():
    bp = rate.make("bp", sizes=(784, 500, 500, 10))
    fwd = 2 * (784 * 500 + 500 * 500 + 500 * 10)
    assert bp.flops_per_sample(20) == 3 * fwd - 2 * 784 * 500


def test_unknown_learner_is_a_usage_error(capsys):
    assert main(["bench", "rate", "--learners", "nope", "--min-time", "0.01"]) == 2
    assert "unknown learner 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bp", "urfb"])
def test_paper_batch_sizes(name):
    assert rate.REGISTRY[name].paper_batch_size == {"bp": 20, "urfb": 500}[name]


def test_bench_rate_covers_the_conv_learners(capsys):
    arch = "conv 2 3x3; maxpool 2"
    code = main(
        ["bench", "rate", "--json", "--sizes", "20,16,4", "--min-time", "0.02", "--learners"]
        + ["bp", "--architectures", arch, "--conv-input", "5,4,1", "--conv-batch", "8"]
        + ["--no-torch"]
    )
    assert code == 0
    conv = json.loads(capsys.readouterr().out)["conv"]
    assert sorted(conv) == [f"{n}/{arch}" for n in ("bp-hinge", "frfb", "urfb")]
    for res in conv.values():
        assert res["samples_per_s"] > 0 and res["batch_size"] == 8
        # conv 2*(5*4)*(3*3*1)*2 + output 2*(3*2*2)*4; no error below the first layer
        assert res["flops_per_sample"] == 3 * (720 + 96) - 720
        assert res["n_parameters"] == 2 * 9 + 12 * 4


def test_bench_rate_bad_conv_input_is_a_usage_error(capsys):
    assert main(["bench", "rate", "--learners", "bp", "--conv-input", "28,28"]) == 2
    assert "--conv-input" in capsys.readouterr().err


def _bench_threads(capsys, *extra):
    argv = ["bench", "rate", "--json", "--sizes", "20,16,4", "--min-time", "0.02"]
    argv += ["--learners", "bp", "--architectures", "", "--no-torch", *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)["threads"]


def _blas_pools(threads):
    pools = [p for p in threads["thread_pools"] if p["user_api"] == "blas"]
    assert pools, threads  # numpy's BLAS is loaded while the learners run
    for p in pools:
        assert set(p) == {"user_api", "internal_api", "num_threads"}
    return pools


def test_bench_rate_pins_blas_to_one_thread_by_default(capsys):
    threads = _bench_threads(capsys)
    assert threads["blas_threads"] == 1
    assert [p["num_threads"] for p in _blas_pools(threads)] == [1] * len(_blas_pools(threads))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs at least 2 cores")
def test_bench_rate_blas_threads_two(capsys):
    threads = _bench_threads(capsys, "--blas-threads", "2")
    assert threads["blas_threads"] == 2
    assert all(p["num_threads"] == 2 for p in _blas_pools(threads))


def test_bench_rate_blas_threads_zero_leaves_the_default(capsys):
    from threadpoolctl import threadpool_info

    default = {
        (p["internal_api"], p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"
    }
    threads = _bench_threads(capsys, "--blas-threads", "0")
    assert threads["blas_threads"] == 0
    reported = {(p["internal_api"], p["num_threads"]) for p in _blas_pools(threads)}
    assert reported == default
    # the pin is undone afterwards
    after = {
        (p["internal_api"], p["num_threads"]) for p in threadpool_info() if p["user_api"] == "blas"
    }
    assert after == default


def test_bench_rate_negative_blas_threads_is_a_usage_error(capsys):
    assert main(["bench", "rate", "--learners", "bp", "--blas-threads", "-3"]) == 2
    err = capsys.readouterr().err
    assert "--blas-threads" in err and "-3" in err


def test_bench_rate_torch_conv_is_the_same_network(capsys):
    """Where PyTorch is installed: the tied network it times has exactly our parameters,
    the ratio is ours over its step time, and an untied architecture says why it has no
    PyTorch entry."""
    pytest.importorskip("torch")
    arch = "conv 2 3x3; maxpool 2; full 6"
    untied = "uconv 2 3x3; maxpool 2; full 6"
    code = main(
        ["bench", "rate", "--json", "--sizes", "20,16,4", "--min-time", "0.02", "--learners"]
        + ["bp", "--architectures", f"{arch},{untied}", "--conv-input", "6,4,1"]
        + ["--conv-batch", "8", "--conv-learners", "bp-hinge"]
    )
    assert code == 0
    conv = json.loads(capsys.readouterr().out)["conv"]
    ours, theirs = conv[f"bp-hinge/{arch}"], conv[f"torch/{arch}"]
    assert theirs["n_parameters"] == ours["n_parameters"] == 2 * 9 + 12 * 6 + 6 * 4
    assert theirs["step_time_over_torch"] == pytest.approx(
        ours["step_time_s"] / theirs["step_time_s"]
    )
    assert "untied" in conv[f"torch/{untied}"]["skipped"]
