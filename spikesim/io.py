"""Atomic file output: results, checkpoints and plots are never left half-written.

Every writer here writes to a temporary file in the destination's directory, flushes and
fsyncs it, then renames it over the destination (``os.replace`` is atomic on POSIX), so a
crash leaves either the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (numpy scalars/arrays allowed)."""
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=True)
    return _atomic_write(path, lambda fh: fh.write(text + "\n"), "w")


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return _atomic_write(path, lambda fh: fh.write(text), "w")


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write arrays to an uncompressed ``.npz`` file atomically."""
    return _atomic_write(path, lambda fh: np.savez(fh, **arrays), "wb")


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``) and close it."""
    import matplotlib.pyplot as plt

    fmt = Path(path).suffix.lstrip(".") or "png"
    try:
        return _atomic_write(
            path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight"), "wb"
        )
    finally:
        plt.close(fig)
