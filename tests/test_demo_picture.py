"""`spikesim demo` draws an informative picture: not saturated, outputs that differ by class."""

from __future__ import annotations

import json

import numpy as np

from spikesim.cli import main


def test_demo_is_not_saturated_and_outputs_differ_by_class(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seed", "0"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    # the saturated network fired ~100-140 Hz in the hidden layer, 19-32 spikes per output
    assert 5.0 < summary["hidden_rate_hz"] < 80.0
    counts = np.asarray(summary["output_counts"])
    assert counts.max() < 19 and counts.max() > counts.min()
    by_class = summary["learning"]["output_counts_by_class_after"]
    c0, c1 = np.asarray(by_class["class 0"]), np.asarray(by_class["class 1"])
    # after training each class's output fires more for its own class than the other does
    assert c0[0] > c0[1] and c1[1] > c1[0]
    for name in ("raster.png", "voltage.png", "weights.png", "trained_raster.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
