"""``spikesim bench learn``: SH training speed, single vs all cores, peak memory."""

import json

from spikesim.cli import main


def test_bench_learn_json(capsys):
    argv = ["bench", "learn", "--json", "--sizes", "20,8,2", "--trials", "80", "--batch", "8"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["network"]["n_edges"] == 20 * 8 + 8 * 2
    single, multi = out["details"]["single"], out["details"]["all_cores"]
    assert single["batch"] == 1 and multi["batch"] == 8
    assert single["trials"] == multi["trials"] == 80
    assert out["ratio_all_cores_vs_single"] == multi["trials_per_s"] / single["trials_per_s"]
    assert out["peak_rss_mb"] > 10
