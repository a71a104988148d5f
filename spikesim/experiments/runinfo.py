"""What every run writes beside its results: the resolved config, versions, seed."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from spikesim.io import write_json

PACKAGES = ("spikesim", "numpy", "scipy", "numba", "brian2", "scikit-learn", "matplotlib")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_run_info(out_dir: str | Path, config: dict[str, Any]) -> Path:
    """Write ``run.json`` (resolved config, seed, versions) into ``out_dir`` atomically."""
    return write_json(
        Path(out_dir) / "run.json",
        {"config": config, "seed": config["experiment"]["seed"], "versions": versions()},
    )
