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


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Files get the permissions open() would give them (mkstemp's are 0600).
_FILE_MODE = 0o666 & ~_current_umask()


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            os.fchmod(fh.fileno(), _FILE_MODE)
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


def strict_json(data: Any) -> Any:
    """``data`` with JSON types only: numpy scalars and arrays become Python numbers and
    lists, tuples lists, paths strings, and non-finite floats (NaN, +-Infinity) ``None``, so
    that it serialises as strict JSON (RFC 8259). Integers stay integers."""
    if isinstance(data, dict):
        return {str(k): strict_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [strict_json(v) for v in data]
    if isinstance(data, np.ndarray):
        return strict_json(data.tolist())
    if isinstance(data, bool | np.bool_):
        return bool(data)
    if isinstance(data, int | np.integer):
        return int(data)
    if isinstance(data, float | np.floating):
        value = float(data)
        return value if np.isfinite(value) else None
    if isinstance(data, Path):
        return str(data)
    return data


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented, strict JSON to ``path`` atomically.

    numpy scalars and arrays are allowed; non-finite numbers are written as ``null``
    (:func:`strict_json`), so any JSON reader can parse the file.
    """
    text = json.dumps(strict_json(data), indent=2, default=_json_default, allow_nan=False)
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


# -- spikesim's own file formats: records and networks as .npz with a metadata entry ------
#
# The specification is docs/guide/file-formats.md; keep the two in step.

RECORD_FORMAT = "spikesim.record"
NETWORK_FORMAT = "spikesim.network"
FORMAT_VERSION = 1
_META_KEY = "meta"

_RECORD_UNITS = {
    "times": "s",
    "neurons": "index",
    "n_neurons": "count",
    "duration": "s",
    "voltage": "threshold units (potential / threshold of the neuron's kind)",
    "voltage_neurons": "index",
    "voltage_times": "s",
}
_NETWORK_UNITS = {
    "n_neurons": "count",
    "pre": "index",
    "post": "index",
    "weight": "potential (threshold-relative)",
    "delay": "s",
    "sign": "+1 excitatory, -1 inhibitory",
    "inputs": "index",
    "outputs": "index",
    "tau_syn": "s",
    "threshold": "potential",
    "t_ref": "s",
    "layer_ptr": "offsets into layer_neurons",
    "layer_neurons": "index",
}
# (dtype, ndim) of every array entry; scalars are 0-d arrays.
_RECORD_ARRAYS = {
    "times": ("float64", 1),
    "neurons": ("int64", 1),
    "n_neurons": ("int64", 0),
    "duration": ("float64", 0),
}
_RECORD_VOLTAGE = {
    "voltage": ("float64", 2),
    "voltage_neurons": ("int64", 1),
    "voltage_times": ("float64", 1),
}
_NETWORK_ARRAYS = {
    "n_neurons": ("int64", 0),
    "pre": ("int64", 1),
    "post": ("int64", 1),
    "weight": ("float64", 1),
    "delay": ("float64", 1),
    "sign": ("int8", 1),
    "inputs": ("int64", 1),
    "outputs": ("int64", 1),
    "tau_syn": ("float64", 1),
    "threshold": ("float64", 1),
    "t_ref": ("float64", 1),
}
_NETWORK_LAYERS = {"layer_ptr": ("int64", 1), "layer_neurons": ("int64", 1)}


def _meta(fmt: str, units: dict, info: dict | None) -> np.ndarray:
    from spikesim._version import __version__

    meta = {
        "format": fmt,
        "version": FORMAT_VERSION,
        "spikesim_version": __version__,
        "units": units,
        "info": {} if info is None else info,
    }
    try:
        text = json.dumps(meta, default=_json_default, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        from spikesim.errors import ValidationError

        raise ValidationError(f"info must be JSON-serialisable (finite numbers): {exc}") from None
    return np.array(text)


def save_record(path: str | os.PathLike, record, *, info: dict | None = None) -> Path:
    """Save a :class:`~spikesim.record.SpikeRecord` to a ``.npz`` file atomically.

    The format (``spikesim.record`` version 1) is specified in
    ``docs/guide/file-formats.md``; :func:`load_record` reads it back bit for bit.

    Parameters
    ----------
    path : path-like
        Destination; written via a temporary file and an atomic rename.
    record : SpikeRecord
        Checked with :meth:`SpikeRecord.validate` first.
    info : dict, optional
        Free JSON-serialisable metadata stored with the record (e.g. trial, label, seed).

    Returns
    -------
    Path
        ``path``.
    """
    from spikesim.errors import ValidationError
    from spikesim.record import SpikeRecord

    if not isinstance(record, SpikeRecord):
        raise ValidationError(f"record must be a SpikeRecord, got {type(record).__name__}")
    record.validate()
    arrays = {
        _META_KEY: _meta(RECORD_FORMAT, _RECORD_UNITS, info),
        "times": np.ascontiguousarray(record.times, np.float64),
        "neurons": np.ascontiguousarray(record.neurons, np.int64),
        "n_neurons": np.int64(record.n_neurons),
        "duration": np.float64(record.duration),
    }
    if record.voltage is not None:
        arrays["voltage"] = np.ascontiguousarray(record.voltage, np.float64)
        arrays["voltage_neurons"] = np.ascontiguousarray(record.voltage_neurons, np.int64)
        arrays["voltage_times"] = np.ascontiguousarray(record.voltage_times, np.float64)
    return write_npz(path, **arrays)


def save_network(path: str | os.PathLike, network, *, info: dict | None = None) -> Path:
    """Save a :class:`~spikesim.graph.Network` (structure, weights, neuron parameters).

    Written atomically as a ``.npz`` file of format ``spikesim.network`` version 1
    (``docs/guide/file-formats.md``); :func:`load_network` rebuilds an identical network
    (every array bit for bit, layers included). Use it for trained weights:
    ``save_network(path, net.with_weights(w))``.

    Parameters
    ----------
    path : path-like
        Destination.
    network : Network
    info : dict, optional
        Free JSON-serialisable metadata (e.g. the trial number of a checkpoint).

    Returns
    -------
    Path
        ``path``.
    """
    from spikesim.errors import ValidationError
    from spikesim.graph import Network

    if not isinstance(network, Network):
        raise ValidationError(f"network must be a Network, got {type(network).__name__}")
    arrays = {_META_KEY: _meta(NETWORK_FORMAT, _NETWORK_UNITS, info)}
    arrays["n_neurons"] = np.int64(network.n_neurons)
    for name, (dtype, _) in _NETWORK_ARRAYS.items():
        if name != "n_neurons":
            arrays[name] = np.ascontiguousarray(getattr(network, name), dtype)
    if network.layers is not None:
        sizes = [g.size for g in network.layers]
        ptr = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=ptr[1:])
        arrays["layer_ptr"] = ptr
        arrays["layer_neurons"] = (
            np.concatenate(network.layers).astype(np.int64) if sizes else np.zeros(0, np.int64)
        )
    return write_npz(path, **arrays)


def _read_npz(path: str | os.PathLike, fmt: str | tuple[str, ...]) -> tuple[dict, dict]:
    """Read every entry of a spikesim ``.npz`` file; check its metadata names ``fmt``."""
    fmts = (fmt,) if isinstance(fmt, str) else fmt
    import zipfile

    from spikesim.errors import ValidationError

    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            npz = np.load(fh, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with npz:
                arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ValidationError(f"{path}: not a readable .npz file ({exc})") from None
    if _META_KEY not in arrays:
        raise ValidationError(
            f"{path}: no '{_META_KEY}' entry; not a spikesim {' or '.join(fmts)} file"
        )
    raw = arrays.pop(_META_KEY)
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise ValidationError(f"{path}: the '{_META_KEY}' entry is not a JSON string")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{path}: the '{_META_KEY}' entry is not valid JSON ({exc})"
        ) from None
    if not isinstance(meta, dict):
        raise ValidationError(f"{path}: the '{_META_KEY}' entry is not a JSON object")
    if meta.get("format") not in fmts:
        raise ValidationError(
            f"{path}: format is {meta.get('format')!r}, expected {' or '.join(map(repr, fmts))}"
        )
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(f"{path}: format version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise ValidationError(
            f"{path}: format version {version} is newer than this spikesim reads "
            f"({FORMAT_VERSION}); upgrade spikesim"
        )
    return meta, arrays


def _check_entries(path, arrays: dict, required: dict, optional: tuple[dict, ...]) -> None:
    from spikesim.errors import ValidationError

    allowed = dict(required)
    for group in optional:
        present = [k for k in group if k in arrays]
        if present and len(present) != len(group):
            missing = sorted(set(group) - set(present))
            raise ValidationError(f"{path}: entries {present} need {missing} as well")
        allowed.update(group)
    for name in arrays:
        if name not in allowed:
            raise ValidationError(f"{path}: unexpected entry {name!r}")
    for name, (dtype, ndim) in allowed.items():
        if name not in arrays:
            if name in required:
                raise ValidationError(f"{path}: missing entry {name!r}")
            continue
        arr = arrays[name]
        if arr.dtype != np.dtype(dtype) or arr.ndim != ndim:
            raise ValidationError(
                f"{path}: entry {name!r} must be {dtype} with {ndim} dimension(s), got "
                f"{arr.dtype} with shape {arr.shape}"
            )


def load_record(path: str | os.PathLike):
    """Load a record saved by :func:`save_record`.

    Returns
    -------
    record : SpikeRecord
        Identical to the saved one (every array bit for bit).

    Raises
    ------
    ValidationError
        If the file is missing, not a ``.npz`` file, of another format or a newer version,
        or its arrays break a record's invariants (the message names the problem).
    """
    from spikesim.errors import ValidationError
    from spikesim.record import SpikeRecord

    _, arrays = _read_npz(path, RECORD_FORMAT)
    _check_entries(path, arrays, _RECORD_ARRAYS, (_RECORD_VOLTAGE,))
    v = {k: arrays.get(k) for k in _RECORD_VOLTAGE}
    rec = SpikeRecord(
        times=arrays["times"],
        neurons=arrays["neurons"],
        n_neurons=int(arrays["n_neurons"]),
        duration=float(arrays["duration"]),
        **v,
    )
    try:
        return rec.validate()
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc}") from None


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a record or network file: format, version, spikesim_version, units, info.

    Raises
    ------
    ValidationError
        If the file is missing, corrupt, or not a spikesim record or network file.
    """
    meta, _ = _read_npz(path, (RECORD_FORMAT, NETWORK_FORMAT))
    return meta


def load_network(path: str | os.PathLike):
    """Load a network saved by :func:`save_network`.

    Returns
    -------
    network : Network
        Rebuilt through the :class:`~spikesim.graph.Network` constructor (so every
        invariant is checked again), identical to the saved one bit for bit.

    Raises
    ------
    ValidationError
        If the file is missing, corrupt, of another format, or describes an invalid
        network (the message names the problem).
    """
    from spikesim.errors import ValidationError
    from spikesim.graph import Network

    _, arrays = _read_npz(path, NETWORK_FORMAT)
    _check_entries(path, arrays, _NETWORK_ARRAYS, (_NETWORK_LAYERS,))
    layers = None
    if "layer_ptr" in arrays:
        ptr, flat = arrays["layer_ptr"], arrays["layer_neurons"]
        if ptr.size < 1 or ptr[0] != 0 or ptr[-1] != flat.size or np.any(np.diff(ptr) < 0):
            raise ValidationError(f"{path}: layer_ptr does not partition layer_neurons")
        layers = tuple(flat[ptr[k] : ptr[k + 1]] for k in range(ptr.size - 1))
    try:
        return Network(
            n_neurons=int(arrays["n_neurons"]),
            pre=arrays["pre"],
            post=arrays["post"],
            weight=arrays["weight"],
            delay=arrays["delay"],
            sign=arrays["sign"],
            inputs=arrays["inputs"],
            outputs=arrays["outputs"],
            tau_syn=arrays["tau_syn"],
            threshold=arrays["threshold"],
            t_ref=arrays["t_ref"],
            layers=layers,
        )
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc}") from None
