"""What every run writes beside its results: ``run.json``."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Sequence
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


def git_commit() -> str | None:
    """The commit of the spikesim checkout this package runs from (``+dirty`` when its
    tracked files have changes), or None when it is not run from a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


def write_run_info(
    out_dir: str | Path,
    config: dict[str, Any],
    *,
    command: Sequence[str] | None = None,
    data_paths: dict[str, str | None] | None = None,
) -> Path:
    """Write ``run.json`` into ``out_dir`` atomically.

    Keys: ``config`` (resolved), ``seed``, ``spikesim_version``, ``git_commit`` (None
    outside a checkout), ``data_paths`` (dataset name -> directory read, None for data
    built in), ``command`` (the command line, None when run from Python), ``versions``.
    """
    from spikesim._version import __version__

    return write_json(
        Path(out_dir) / "run.json",
        {
            "config": config,
            "seed": config["experiment"]["seed"],
            "spikesim_version": __version__,
            "git_commit": git_commit(),
            "data_paths": data_paths or {},
            "command": list(command) if command is not None else None,
            "versions": versions(),
        },
    )
