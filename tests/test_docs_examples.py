"""Every gallery script docs/examples/plot_*.py runs and draws at least one figure."""

from __future__ import annotations

import runpy
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "docs" / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_draws(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPIKESIM_NO_PROGRESS", "1")
    plt.close("all")
    runpy.run_path(str(path), run_name="__main__")
    figs = [plt.figure(n) for n in plt.get_fignums()]
    assert figs, f"{path.name} drew no figure"
    assert all(f.axes and f.axes[0].has_data() for f in figs)
    plt.close("all")


def test_gallery_has_every_topic():
    names = {p.stem for p in EXAMPLES}
    assert {
        "plot_raster",
        "plot_voltage",
        "plot_train_rules",
        "plot_spiking_vs_rate",
        "plot_theorem",
    } <= names
