"""Progress: labelled with the run, and plain lines (about every 5 %) off a terminal."""

from __future__ import annotations

import io
from pathlib import Path

from spikesim.experiments.runs import run_label
from spikesim.training.driver import _progress


def test_off_a_terminal_progress_is_lines(monkeypatch):
    monkeypatch.delenv("SPIKESIM_NO_PROGRESS", raising=False)
    buf = io.StringIO()  # not a terminal
    bar = _progress(400, 0, "bp (rate)", "step", stream=buf)
    for _ in range(400):
        bar.update(1)
    bar.close()
    text = buf.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert all(line.startswith("bp (rate):") for line in lines)
    percents = {line.split(":")[1].split("%")[0].strip() for line in lines}
    assert {"0", "5", "50", "100"} <= percents and 20 <= len(lines) <= 23


def test_disabled_by_the_variable(monkeypatch):
    monkeypatch.setenv("SPIKESIM_NO_PROGRESS", "1")
    buf = io.StringIO()
    bar = _progress(10, 0, "x", "step", stream=buf)
    bar.update(10)
    bar.close()
    assert buf.getvalue() == ""


def test_the_label_is_the_run_not_experiment():
    config = {"experiment": {"name": "experiment", "kind": "rate"}}
    assert run_label(config, Path("/tmp/cmp/bp-adam")) == "bp-adam (rate)"
    config = {"experiment": {"name": "digits-run", "kind": "spiking"}}
    assert run_label(config, Path("/tmp/out")) == "digits-run (spiking)"
