"""``check_kind``: does a kind of run honour the run contract?

Usable by anyone writing a kind outside this repository (scikit-learn's
``check_estimator`` is the model)::

    from spikesim.testing.kind import check_kind

    check_kind("mykind", {"mytable": {...tiny settings...}}, tmp_path)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RESULT_KEYS", "check_kind", "check_results"]

RESULT_KEYS = (
    "format",
    "version",
    "kind",
    "experiment",
    "final",
    "initial",
    "curve",
    "details",
    "resumed_from_step",
)


def _refuse(name: str):
    raise AssertionError(f"results.json holds {name}: not strict JSON")


def check_results(text: str, kind: str) -> dict:
    """Parse ``results.json`` text strictly and check the one results schema.

    Raises
    ------
    AssertionError
        Naming what is wrong.
    """
    res = json.loads(text, parse_constant=_refuse)
    missing = [k for k in RESULT_KEYS if k not in res]
    assert not missing, f"results.json lacks {missing}"
    assert res["format"] == "spikesim.results", res["format"]
    assert res["kind"] == kind, (res["kind"], kind)
    curve = res["curve"]
    assert isinstance(curve, list) and curve, "the curve must be a non-empty list of records"
    for p in curve:
        for key in ("step", "samples_seen"):
            assert type(p.get(key)) is int, f"curve point {p}: {key} must be an int"
        assert "wall_s" in p, f"curve point {p} lacks wall_s"
    steps = [p["step"] for p in curve]
    assert steps[0] == 0 and steps == sorted(steps), f"curve steps {steps}"
    final = res["final"]
    for key in ("steps", "samples_seen", "wall_s"):
        assert key in final, f"final lacks {key}"
    assert type(final["steps"]) is int, "final.steps must be an int"
    if not res.get("stopped_early"):
        assert final["steps"] == steps[-1], "the curve must end at the last step"
    return res


def check_kind(kind_name: str, config: Mapping[str, Any], tmp_dir: str | Path) -> dict:
    """Run a tiny configuration of a kind through the run contract.

    Checks: the run finishes and writes strict-JSON ``results.json`` in the one schema
    and ``run.json``; resuming the finished run is a no-op (the results are read back,
    nothing is rewritten); a changed key (``experiment.seed``) is refused naming the key,
    with nothing written, both on resume and for a fresh run into the folder without
    ``force``; :func:`spikesim.load_run` reads the run back; the figures are redrawn from
    the folder (``spikesim plot``).

    Parameters
    ----------
    kind_name : str
        A registered kind.
    config : mapping
        Raw tables of a tiny, fast configuration (``experiment.kind`` is set to
        ``kind_name``).
    tmp_dir : path
        An empty scratch folder.

    Returns
    -------
    dict
        The run's results.

    Raises
    ------
    AssertionError
        Naming the broken part of the contract.
    """
    import spikesim
    from spikesim.errors import ConfigError
    from spikesim.experiments import resolve
    from spikesim.experiments.runs import plot_run, run_experiment

    tmp = Path(tmp_dir)
    raw = copy.deepcopy(dict(config))
    raw.setdefault("experiment", {})["kind"] = kind_name
    cfg = resolve(raw)
    out = tmp / "run"
    results = run_experiment(cfg, out)
    saved = check_results((out / "results.json").read_text(), kind_name)
    assert json.loads(json.dumps(results)) == saved, "the returned results differ from the file"
    info = json.loads((out / "run.json").read_text())
    for key in ("config", "spikesim_version", "git_commit", "data_paths", "command"):
        assert key in info, f"run.json lacks {key}"

    def files() -> dict:
        return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    stamp = files()
    again = run_experiment(cfg, out, resume=True)
    assert again == saved, "resuming a finished run must read its results back"
    assert files() == stamp, "resuming a finished run must not rewrite its folder"

    other = copy.deepcopy(cfg)
    other["experiment"]["seed"] = cfg["experiment"]["seed"] + 1
    for kwargs in ({"resume": True}, {}):
        try:
            run_experiment(other, out, **kwargs)
        except ConfigError as exc:
            assert "experiment.seed" in str(exc), f"the refusal must name the key: {exc}"
        else:
            raise AssertionError(f"a changed experiment.seed was not refused ({kwargs})")
        assert files() == stamp, "a refused run must not write anything"

    run = spikesim.load_run(out)
    assert run.kind == kind_name and run.final == saved["final"]
    assert run.curve == saved["curve"] and run.config == info["config"]

    figures = plot_run(out, tmp / "figures")
    assert figures and all(Path(f).stat().st_size > 0 for f in figures), "no figures drawn"
    return saved
