"""NEST engines: ``nest`` (precise spike times, ``iaf_psc_delta_ps``) and ``nest-grid``
(``iaf_psc_delta`` on NEST's time grid).

The spikesim model is NEST's leaky integrate-and-fire neuron with delta synapses: a spike
of weight ``s w`` makes the potential jump by ``s w`` and the potential decays with
``tau_m``. The mapping (docs/engines.md, "NEST"): ``tau_m = tau_syn``, ``E_L = V_reset =
V_m(0) = 0``, ``V_th = threshold``, ``t_ref = t_ref``, synaptic weight = signed weight (the
jump, in the threshold's units), delay = delay, ``I_e = 0``, ``V_min = -inf``; input
spikes come from one ``spike_generator`` per input neuron (``precise_times`` for ``nest``),
connected to the input neuron's targets with the edges' weights and delays. Arrivals
during the refractory period are discarded (``refractory_input = False``, NEST's default).

``nest`` equals the event engine exactly: NEST keeps spike times as integer steps plus an
offset and delays as whole steps, so coincidences are exact there as in spikesim's tick
clock (:mod:`spikesim.engines.ticks`); simultaneous arrivals are summed before the
threshold test and an arrival at exactly ``t_spike + t_ref`` is not refractory. Its spike
times (ms, float64) are put on spikesim's 1 ps clock (they agree with it to ~1e-17 s), so
its records equal the event engine's bit for bit.

``nest-grid`` is clock-driven (``dt`` = NEST's resolution): input spikes are moved to the
grid, every spike happens at the end of a step, and an arrival at exactly ``t_spike +
t_ref`` is still refractory (the refractory period counts whole steps including the
last), unlike the precise model.

NEST counts delays and refractory periods in steps of its resolution, so both engines
need every delay and ``t_ref`` to be a whole multiple (at least one) of ``resolution``:
anything else is a :class:`~spikesim.errors.ValidationError` naming the value (NEST would
silently round it). NEST cannot emit a spike at time 0, so the engines shift the trial by
one resolution step inside NEST (times reported in the trial's own frame).

NEST is the optional extra ``nest`` (``pip install 'spikesim[nest]'``, the
``nest-simulator`` wheel); its start-up banner is suppressed (``PYNEST_QUIET``).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import warnings

import numpy as np

from spikesim.engines.base import Engine, register
from spikesim.engines.ticks import check_time_range, from_ticks, to_ticks
from spikesim.errors import ValidationError
from spikesim.record import SpikeRecord

__all__ = ["NestEngine", "NestGridEngine", "import_nest"]

_NEST = None


def import_nest():
    """Import NEST once, quietly (no banner, NEST messages below errors suppressed)."""
    global _NEST
    if _NEST is None:
        os.environ.setdefault("PYNEST_QUIET", "1")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import nest
        nest.verbosity = nest.VerbosityLevel.ERROR
        _NEST = nest
    return _NEST


def neuron_params(network, hidden: np.ndarray) -> dict:
    """NEST parameters of the non-input neurons ``hidden`` (indices, shape ``(h,)``): the
    model of docs/model.md on ``iaf_psc_delta[_ps]`` (tau_m = tau_syn, E_L = V_reset = 0,
    no lower bound on the potential); times in ms, as NEST wants them."""
    return {
        "tau_m": (network.tau_syn[hidden] * 1e3).tolist(),
        "V_th": network.threshold[hidden].tolist(),
        "t_ref": (network.t_ref[hidden] * 1e3).tolist(),
        "E_L": 0.0,
        "V_reset": 0.0,
        "V_m": 0.0,
        "I_e": 0.0,
        "V_min": -np.finfo(np.float64).max,
    }


class NestEngine(Engine):
    """The network on NEST's precise-timing neuron ``iaf_psc_delta_ps`` (exact).

    Parameters
    ----------
    threads : int
        NEST's ``local_num_threads`` (default 1).
    resolution : float
        NEST's time step in seconds (default 1e-4 = 0.1 ms, NEST's default); every delay
        and refractory period must be a whole multiple of it, at least one.
    """

    name = "nest"
    exact = True
    dt = None
    _model = "iaf_psc_delta_ps"
    _precise = True

    def __init__(self, threads: int = 1, resolution: float = 1e-4):
        self.threads = threads
        self.resolution = resolution

    @property
    def delay_step(self) -> float:
        """Delays and ``t_ref`` must be whole multiples of this (s): the resolution."""
        return float(self.resolution)

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        if importlib.util.find_spec("nest") is None:
            return False, "NEST is not installed (pip install 'spikesim[nest]')"
        return True, ""

    # -- checks -----------------------------------------------------------------------------
    def _check(self, network, duration):
        check_time_range(duration)
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValidationError(f"threads must be a positive integer, got {self.threads!r}")
        res = to_ticks(self.resolution)
        if not (self.resolution > 0 and res % 10**6 == 0):  # NEST's tic: 1 microsecond
            raise ValidationError(
                f"resolution must be a positive multiple of 1e-6 s (NEST's tic), got "
                f"{self.resolution!r}"
            )
        d = to_ticks(network.delay)
        bad = np.flatnonzero((d < res) | (d % res != 0))
        if bad.size:
            e = int(bad[0])
            raise ValidationError(
                f"engine {self.name!r}: delay[{e}] = {float(network.delay[e])!r} s (edge "
                f"{int(network.pre[e])} -> {int(network.post[e])}) is not a whole multiple "
                f"(>= 1) of NEST's resolution {self.resolution!r} s; NEST counts delays in "
                f"steps (set the engine's resolution or put the delays on its grid)"
            )
        hidden = np.flatnonzero(~network.is_input)
        r = to_ticks(network.t_ref[hidden])
        bad = np.flatnonzero((r < res) | (r % res != 0))
        if bad.size:
            j = int(hidden[bad[0]])
            raise ValidationError(
                f"engine {self.name!r}: t_ref[{j}] = {float(network.t_ref[j])!r} s is not a "
                f"whole multiple (>= 1) of NEST's resolution {self.resolution!r} s; NEST's "
                f"{self._model} counts the refractory period in steps"
            )

    # -- running ----------------------------------------------------------------------------
    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        self._check(network, duration)
        nest = import_nest()
        res_ticks = int(to_ticks(self.resolution))
        nest.ResetKernel()
        nest.set(resolution=self.resolution * 1e3, local_num_threads=self.threads)
        n = network.n_neurons
        hidden = np.flatnonzero(~network.is_input)
        ids = np.zeros(n, np.int64)  # NEST node id of each neuron (generators for inputs)
        if hidden.size:
            nodes = nest.Create(
                self._model,
                int(hidden.size),
                params=neuron_params(network, hidden),
            )
            ids[hidden] = np.asarray(nodes.tolist(), np.int64)
        inputs = np.asarray(network.inputs, np.int64)
        gens = nest.Create(
            "spike_generator",
            int(inputs.size),
            params={"precise_times": self._precise, "allow_offgrid_times": not self._precise},
        )
        ids[inputs] = np.asarray(gens.tolist(), np.int64)
        # input spikes on the tick clock, shifted by one step (NEST cannot spike at 0)
        ticks = to_ticks(times) + res_ticks
        for k, j in enumerate(inputs):
            sel = neurons == j
            if np.any(sel):
                gens[k].set(spike_times=(np.sort(ticks[sel]) / 1e9).tolist())
        if network.n_edges:
            w = network.sign * np.asarray(weights, np.float64)
            nest.Connect(
                ids[network.pre],
                ids[network.post],
                conn_spec="one_to_one",
                syn_spec={"weight": w, "delay": to_ticks(network.delay) / 1e9},
            )
        if hidden.size:
            rec = nest.Create("spike_recorder")
            nest.Connect(nodes, rec)
        end = int(to_ticks(duration))
        nest.Simulate((end + res_ticks) / 1e9)
        out_t = [from_ticks(to_ticks(times))]  # inputs on the 1 ps clock, as the event engine
        out_n = [np.asarray(neurons, np.int64)]
        if hidden.size:
            ev = rec.get("events")
            senders = np.asarray(ev["senders"], np.int64)
            st = np.rint(np.asarray(ev["times"], np.float64) * 1e9).astype(np.int64) - res_ticks
            if nest.NumProcesses() > 1:  # MPI: each rank recorded its own neurons
                senders, st = _gather_ranks(senders, st)
            keep = st < end
            index = np.full(int(ids.max()) + 1, -1, np.int64)
            index[ids[hidden]] = hidden
            out_t.append(from_ticks(st[keep]))
            out_n.append(index[senders[keep]])
        t = np.concatenate(out_t)
        nn = np.concatenate(out_n)
        srt = np.lexsort((nn, t))
        return SpikeRecord(times=t[srt], neurons=nn[srt], n_neurons=n, duration=float(duration))


def _gather_ranks(senders, ticks):
    """Under MPI (NEST's MPI build, ``mpirun``), every rank's recorded spikes, on every
    rank (needs ``mpi4py``). Not exercised here: the PyPI wheel is built without MPI."""
    from mpi4py import MPI

    parts = MPI.COMM_WORLD.allgather((senders, ticks))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class NestGridEngine(NestEngine):
    """The network on NEST's grid-based ``iaf_psc_delta`` (clock-driven, ``dt`` = NEST's
    resolution; see the module docstring for how its refractory period differs).

    Parameters
    ----------
    threads : int
        NEST's ``local_num_threads`` (default 1).
    dt : float
        NEST's resolution in seconds (default 1e-4).
    """

    name = "nest-grid"
    exact = False
    _model = "iaf_psc_delta"
    _precise = False

    def __init__(self, threads: int = 1, dt: float = 1e-4):
        super().__init__(threads=threads, resolution=dt)
        self.dt = float(dt)

    def with_dt(self, dt: float) -> NestGridEngine:
        other = copy.copy(self)
        other.dt = float(dt)
        other.resolution = float(dt)
        return other


register("nest")(NestEngine)
register("nest-grid")(NestGridEngine)
