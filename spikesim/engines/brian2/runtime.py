"""Engine ``brian2``: Brian2 runtime mode (numpy or cython code generation).

The model and its clock semantics are in :mod:`spikesim.engines.brian2.model`: exact
exponential decay, arrivals added before the threshold test of their step, arrivals to a
refractory neuron dropped, delays rounded up to whole steps, input spikes placed at
``ceil(t / dt)``. Spike times agree with the exact ``event`` engine within
``(depth + 1) * dt`` (docs/engines.md). Input neurons are a ``SpikeGeneratorGroup``;
their spikes in the returned record are the given input times (exact).

The Brian2 objects are rebuilt for every trial (runtime mode is for inspection and
voltages; use ``brian2-standalone`` for many trials). Brian2's global preferences that the
engine touches (``codegen.target``, extra compiler arguments) are restored after each run.
"""

from __future__ import annotations

import numpy as np

from spikesim.engines.base import Engine, register
from spikesim.engines.brian2.common import (
    TARGETS,
    assemble,
    brian2_error,
    brian2_installed,
    check_dt,
)
from spikesim.errors import EngineError
from spikesim.record import SpikeRecord

__all__ = ["Brian2Engine"]


@register("brian2")
class Brian2Engine(Engine):
    """Brian2 runtime engine.

    Parameters
    ----------
    target : {"numpy", "cython"}
        Brian2 code generation target (cython compiles once and caches the extensions).
    dt : float
        Time step in seconds (default 1e-4).
    extra_compile_args : list of str, optional
        Extra C compiler arguments for the cython target (replaces Brian2's default list).
    """

    name = "brian2"
    exact = False
    supports_voltages = True

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Available where the brian2 package is installed."""
        return brian2_installed()

    def __init__(
        self,
        target: str = "numpy",
        dt: float = 1e-4,
        extra_compile_args: list[str] | None = None,
    ):
        if target not in TARGETS:
            raise EngineError(
                f"unsupported option target={target!r} for engine 'brian2'; "
                f"choose one of {', '.join(TARGETS)}"
            )
        self.target = target
        self.dt = check_dt(dt)
        self.extra_compile_args = None if extra_compile_args is None else list(extra_compile_args)

    def with_dt(self, dt: float) -> Brian2Engine:
        """A copy of this engine with time step ``dt`` (seconds)."""
        return Brian2Engine(target=self.target, dt=dt, extra_compile_args=self.extra_compile_args)

    def __repr__(self) -> str:
        return f"Brian2Engine(target={self.target!r}, dt={self.dt!r})"

    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        import brian2 as b2

        from spikesim.engines.brian2 import model

        spec = model.spec_from_network(network, self.dt, duration)
        idx, steps, copies = model.generator_arrays(spec, times, neurons)
        rec_v = None if voltage_neurons is None else np.unique(voltage_neurons)
        saved = {
            "codegen.target": b2.prefs["codegen.target"],
            "codegen.cpp.extra_compile_args_gcc": b2.prefs["codegen.cpp.extra_compile_args_gcc"],
        }
        if b2.get_device().__class__.__name__ != "RuntimeDevice":
            raise EngineError(
                "engine 'brian2' needs Brian2's runtime device, but the process has switched "
                f"to {b2.get_device().__class__.__name__}; call brian2.set_device('runtime')"
            )
        try:
            b2.prefs["codegen.target"] = self.target
            if self.extra_compile_args is not None:
                b2.prefs["codegen.cpp.extra_compile_args_gcc"] = self.extra_compile_args
            objs = model.build(b2, spec, input_mode="generator", copies=copies, record_v=rec_v)
            objs["inputs"].set_spikes(idx, (steps * self.dt) * b2.second)
            model.set_weights(objs, weights)
            objs["net"].run(spec["n_steps"] * self.dt * b2.second, namespace={})
            mon = objs["spikes"]
            s_idx = np.asarray(mon.i[:], np.int64)
            s_t = np.round(np.asarray(mon.t_[:]) / self.dt) * self.dt
            volt = None
            if rec_v is not None:
                vv = np.asarray(objs["vmon"].v[:])  # (n_rec, n_steps)
                row = np.searchsorted(rec_v, voltage_neurons)
                col = np.clip(
                    np.round(voltage_times / self.dt).astype(np.int64), 0, vv.shape[1] - 1
                )
                volt = vv[row][:, col]
        except EngineError:
            raise
        except Exception as exc:  # Brian2 / compiler failures
            raise brian2_error(exc, f"Brian2 ({self.target}) simulation") from exc
        finally:
            for k, v in saved.items():
                b2.prefs[k] = v
        rec = assemble(network, times, neurons, s_idx, s_t, duration)
        if volt is None:
            return rec
        return SpikeRecord(
            times=rec.times,
            neurons=rec.neurons,
            n_neurons=rec.n_neurons,
            duration=rec.duration,
            voltage=volt,
            voltage_neurons=voltage_neurons,
            voltage_times=voltage_times,
        )


@register("brian2-cython")
def _brian2_cython() -> Brian2Engine:
    """``brian2`` with the cython target (a registry name so the suite covers it)."""
    return Brian2Engine(target="cython")
