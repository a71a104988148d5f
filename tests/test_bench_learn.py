"""``spikesim bench learn``: SH training speed, single vs all cores, peak memory."""

import json

import pytest

from spikesim.cli import main


def test_bench_learn_json(capsys):
    argv = ["bench", "learn", "--json", "--sizes", "20,8,2", "--trials", "80", "--batch", "8"]
    argv += ["--brian2-trials", "0"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["network"]["n_edges"] == 20 * 8 + 8 * 2
    single, multi = out["details"]["single"], out["details"]["all_cores"]
    assert single["batch"] == 1 and multi["batch"] == 8
    assert single["trials"] == multi["trials"] == 80
    assert out["ratio_all_cores_vs_single"] == multi["trials_per_s"] / single["trials_per_s"]
    assert out["peak_rss_mb"] > 10


@pytest.mark.slow  # two Brian2 builds (minutes) to check the arithmetic of a report
def test_bench_learn_with_the_brian2_standalone_loop(capsys):
    """The Brian2-native rule in cpp_standalone (single-threaded and OpenMP on 2 threads)
    and the event-engine loop on the same trials: each timed call reuses its binary, and
    the reported ratio is the ratio of the reported wall times."""
    argv = ["bench", "learn", "--json", "--sizes", "12,6,2", "--trials", "16", "--batch", "4"]
    argv += ["--brian2-trials", "4", "--threads", "2"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    b2 = out["brian2_standalone"]
    single, multi, ev = (
        b2["brian2_standalone_loop"],
        b2["brian2_standalone_loop_all_cores"],
        b2["event_loop"],
    )
    assert b2["trials"] == 4
    assert single["openmp_threads"] == 0 and multi["openmp_threads"] == 2
    assert not single["recompiled_on_second_call"] and not multi["recompiled_on_second_call"]
    assert single["first_call_with_compile_s"] > single["wall_s"]
    assert out["ratio_brian2_loop_time_vs_event_loop"] == single["wall_s"] / ev["wall_s"]
    assert multi["ratio_vs_single_thread"] == multi["trials_per_s"] / single["trials_per_s"]


def test_bench_learn_reports_a_refused_brian2_setting_and_keeps_its_own_figures(capsys):
    """Trials of 7 s at c = 100/s exceed what the Brian2 loop's factored bookkeeping accepts
    (c T <= 600): the entry says so, and the event-engine figures are still reported."""
    argv = ["bench", "learn", "--json", "--sizes", "6,3,2", "--trials", "4", "--batch", "2"]
    argv += ["--duration", "7", "--brian2-trials", "2", "--threads", "1"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert "overflow" in out["brian2_standalone"]["error"]
    assert "ratio_brian2_loop_time_vs_event_loop" not in out
    assert out["trials_per_s"] > 0
