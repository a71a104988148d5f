"""The one checkpoint format of every kind of run.

``checkpoint.npz`` is an uncompressed ``.npz`` archive (``allow_pickle=False``):

* the stepper's state arrays, flat, under the names its ``state_dict`` gives them;
* ``step``: 0-d int64, the stepper's position;
* ``meta``: 0-d unicode string holding a JSON object: ``format``
  (``"spikesim.checkpoint"``), ``version`` (1), ``kind``, ``config_hash``, ``step``,
  ``samples_seen``, ``curve`` (the learning curve so far, without wall times) and
  ``running`` (the driver's running sums of training statistics since the last evaluation).

Everything in it is a function of the configuration and the position, so a run resumed
from it writes the same checkpoints, bit for bit, as an uninterrupted one. Wall-clock
times live beside it in ``timing.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikesim.errors import ValidationError

__all__ = [
    "CHECKPOINT",
    "CHECKPOINT_FORMAT",
    "TIMING",
    "Checkpoint",
    "config_hash",
    "read_checkpoint",
    "write_checkpoint",
]

CHECKPOINT = "checkpoint.npz"
TIMING = "timing.json"
CHECKPOINT_FORMAT = "spikesim.checkpoint"
CHECKPOINT_VERSION = 1
_RESERVED = ("meta", "step")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back: the stepper's ``arrays`` (with ``step``) and ``meta``."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def config_hash(config: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """A 16-hex-digit hash of a resolved configuration.

    Parameters
    ----------
    config : mapping
        Table name -> table (a dict of keys).
    exclude : iterable of str
        Dotted keys (``"train.trials"``) left out: those allowed to change on resume.
    """
    drop = set(exclude)
    keep = {
        t: {k: v for k, v in tab.items() if f"{t}.{k}" not in drop}
        if isinstance(tab, Mapping)
        else tab
        for t, tab in config.items()
    }
    text = json.dumps(keep, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def write_checkpoint(
    path: str | os.PathLike, state: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path-like
    state : mapping
        The stepper's arrays (names other than ``meta``; a ``step`` entry must equal
        ``meta["step"]``).
    meta : mapping
        JSON-serialisable, with at least ``kind``, ``config_hash`` and ``step`` (int).
    """
    from spikesim.io import strict_json, write_npz

    step = int(meta["step"])
    if "meta" in state:
        raise ValidationError("a stepper's state must not have an entry named 'meta'")
    if "step" in state and int(np.asarray(state["step"])) != step:
        raise ValidationError(
            f"the stepper's state says step {int(np.asarray(state['step']))}, the driver {step}"
        )
    arrays = {k: np.asarray(v) for k, v in state.items()}
    arrays["step"] = np.asarray(step, dtype=np.int64)
    full = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **meta}
    arrays["meta"] = np.array(json.dumps(strict_json(full), sort_keys=True, allow_nan=False))
    return write_npz(path, **arrays)


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`write_checkpoint`.

    Raises
    ------
    ValidationError
        The file is missing, unreadable or not a spikesim checkpoint (an older format
        included); the message names the file.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such checkpoint")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValidationError(f"{path}: not a readable checkpoint ({exc})") from None
    raw = arrays.pop("meta", None)
    try:
        meta = json.loads(str(raw)) if raw is not None else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValidationError(
            f"{path}: not a {CHECKPOINT_FORMAT} file (written by an older spikesim?); "
            "start the run again without --resume"
        )
    if meta.get("version", 0) > CHECKPOINT_VERSION:
        raise ValidationError(f"{path}: checkpoint version {meta['version']} is too new")
    return Checkpoint(arrays=arrays, meta=meta)
