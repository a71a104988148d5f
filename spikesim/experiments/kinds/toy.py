"""Kind ``toy``: a tiny deterministic run, for tests, examples and trying out sweeps.

It learns nothing. Each of ``toy.steps`` steps draws ``toy.n`` normal numbers from a
generator seeded by ``experiment.seed`` and the step number, scales them by
``toy.scale``, shifts them by ``toy.shift`` and accumulates their mean; after each step it
writes ``checkpoint.json`` so a run resumed with ``resume=True`` continues from the last
finished step and ends with the same numbers as an uninterrupted one. It runs in
milliseconds, and its importable module lets Dask worker processes run it too.

Example::

    [experiment]
    kind = "toy"
    seed = 0

    [toy]
    scale = 2.0
    n = 100
    steps = 3

Outputs: ``results.json`` (``final``: ``score``, ``test_loss``, ``samples_seen``;
``curve``: one point per step; ``resumed_from_step``) and ``checkpoint.json``.
Set ``toy.fail = true`` to make the run raise (for testing failure handling).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spikesim.experiments.config import Field, Kind, register_kind
from spikesim.io import write_json

TOY = {
    "scale": Field(
        float, 1.0, check=lambda v: None if v >= 0 else "must be >= 0", doc="scale (unitless)"
    ),
    "shift": Field(float, 0.0, doc="added to every number (unitless)"),
    "n": Field(int, 100, check=lambda v: None if v > 0 else "must be > 0", doc="numbers a step"),
    "steps": Field(int, 3, check=lambda v: None if v > 0 else "must be > 0", doc="steps"),
    "fail": Field(bool, False, doc="raise RuntimeError instead of finishing (for tests)"),
}


def _step(seed: int, step: int, toy: dict) -> float:
    """Mean of ``n`` numbers ``shift + scale * z``, ``z ~ N(0, 1)`` seeded by (seed, step)."""
    rng = np.random.default_rng([seed, step])
    return float(toy["shift"] + toy["scale"] * rng.standard_normal(toy["n"]).mean())


def run(config: dict, out_dir: Path, resume: bool) -> dict:
    """Run the toy: see the module docstring."""
    toy, seed = config["toy"], config["experiment"]["seed"]
    ckpt = Path(out_dir) / "checkpoint.json"
    start, total, curve = 0, 0.0, []
    if resume and ckpt.is_file():
        state = json.loads(ckpt.read_text())
        start, total, curve = state["step"], state["total"], state["curve"]
    for step in range(start, toy["steps"]):
        if toy["fail"]:
            raise RuntimeError(f"toy run asked to fail (toy.fail = true) at step {step}")
        total += _step(seed, step, toy)
        curve.append({"samples_seen": (step + 1) * toy["n"], "wall_s": 0.0, "test_loss": total})
        write_json(ckpt, {"step": step + 1, "total": total, "curve": curve})
    final = {
        "score": total / toy["steps"],
        "test_loss": total**2,
        "samples_seen": toy["steps"] * toy["n"],
    }
    results = {"final": final, "curve": curve, "resumed_from_step": start}
    write_json(Path(out_dir) / "results.json", results)
    return results


KIND = register_kind(Kind(name="toy", tables={"toy": TOY}, run=run, doc=__doc__ or ""))
__all__ = ["KIND", "run"]
