"""The build options of a Brian2 standalone project: one typed record on both sides of
the child-process boundary.

:class:`BuildOptions` says how to generate and compile a project (device, input table
size, compiler arguments, threads, profiling, CUDA target, a learning rule's model
additions); the network and its clock are in the model spec
(:func:`spikesim.engines.brian2.model.spec_from_network`). The parent writes the record
as ``options.json`` beside the spec (:meth:`BuildOptions.to_json`), the code generator
(:mod:`spikesim.engines.brian2.codegen`, a child process) reads it back
(:meth:`BuildOptions.from_json`), and the project cache key hashes the same JSON.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from spikesim.errors import EngineError

__all__ = ["BuildOptions", "DEVICES", "DEFAULT_CAPACITY", "DEFAULT_COPIES"]

#: Brian2 standalone devices.
DEVICES = ("cpp_standalone", "cuda_standalone")
#: Default input table entries per trial (grown to a power of two when a trial needs more).
DEFAULT_CAPACITY = 4096
#: Default copies of each input neuron (spikes of one input neuron in one step).
DEFAULT_COPIES = 2


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise EngineError(f"unsupported build option {name}={v!r}: a positive integer")
    return v


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """How to generate and compile one Brian2 standalone project (validated on creation).

    Parameters
    ----------
    device : {"cpp_standalone", "cuda_standalone"}
        Brian2 device.
    capacity : int
        Input table length (entries: spiking (input neuron, step) pairs, all trials of one
        run together).
    copies : int
        Copies of each input neuron (the most spikes of one input neuron in one step).
    extra_compile_args : tuple of str, optional
        C++ compiler arguments replacing Brian2's defaults (None: Brian2's).
    openmp_threads : int
        OpenMP threads of a ``cpp_standalone`` binary (0: single-threaded).
    profile : bool
        Record Brian2's per-code-object timers (``SPIKESIM_BRIAN2_PROFILE=1``).
    compute_capability, cuda_runtime_version : float, optional
        Target GPU architecture and CUDA version; required for ``cuda_standalone``, None
        otherwise.
    extra : dict, optional
        A learning rule's additions to the model, JSON-able (see
        :func:`spikesim.engines.brian2.model.build`).
    """

    device: str = "cpp_standalone"
    capacity: int = DEFAULT_CAPACITY
    copies: int = DEFAULT_COPIES
    extra_compile_args: tuple[str, ...] | None = None
    openmp_threads: int = 0
    profile: bool = False
    compute_capability: float | None = None
    cuda_runtime_version: float | None = None
    extra: dict[str, Any] | None = None

    def __post_init__(self):
        if self.device not in DEVICES:
            raise EngineError(
                f"unsupported build option device={self.device!r}; choose one of "
                f"{', '.join(DEVICES)}"
            )
        _positive_int("capacity", self.capacity)
        _positive_int("copies", self.copies)
        if self.extra_compile_args is not None:
            args = tuple(self.extra_compile_args)
            if not all(isinstance(a, str) for a in args):
                raise EngineError(
                    f"unsupported build option extra_compile_args={self.extra_compile_args!r}"
                    ": a list of strings"
                )
            object.__setattr__(self, "extra_compile_args", args)
        t = self.openmp_threads
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise EngineError(f"unsupported build option openmp_threads={t!r}: an integer >= 0")
        if t and self.device != "cpp_standalone":
            raise EngineError(
                f"unsupported build option openmp_threads={t!r}: only for the cpp_standalone device"
            )
        if not isinstance(self.profile, bool):
            raise EngineError(f"unsupported build option profile={self.profile!r}: a bool")
        cuda = self.device == "cuda_standalone"
        for name in ("compute_capability", "cuda_runtime_version"):
            v = getattr(self, name)
            if cuda and (isinstance(v, bool) or not isinstance(v, int | float) or v <= 0):
                raise EngineError(
                    f"unsupported build option {name}={v!r}: a positive number for the "
                    "cuda_standalone device"
                )
            if not cuda and v is not None:
                raise EngineError(
                    f"unsupported build option {name}={v!r}: only for the cuda_standalone device"
                )
            if cuda:
                object.__setattr__(self, name, float(v))
        if self.extra is not None:
            if not isinstance(self.extra, dict):
                raise EngineError(f"unsupported build option extra={self.extra!r}: a dict")
            try:  # JSON-able, and a private copy (the record is frozen)
                object.__setattr__(self, "extra", json.loads(json.dumps(self.extra)))
            except (TypeError, ValueError) as exc:
                raise EngineError(f"build option extra is not JSON-able: {exc}") from None

    def to_dict(self) -> dict:
        """The options as plain JSON types (lists for tuples)."""
        out = dataclasses.asdict(self)
        if out["extra_compile_args"] is not None:
            out["extra_compile_args"] = list(out["extra_compile_args"])
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the file read by the child and the cache key."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BuildOptions:
        """The record written by :meth:`to_json`; unknown or missing keys are an
        EngineError naming them."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise EngineError("build options: expected a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(names - set(data))
        if unknown or missing:
            raise EngineError(
                f"build options: unknown keys {unknown}, missing keys {missing} (written by "
                "another spikesim version?)"
            )
        return cls(**data)
