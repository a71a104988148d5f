"""Schmidt-Hieber's reward-modulated STDP inside Brian2 (no Python between spikes).

The eligibility of SH eq. (2.4), as :func:`spikesim.plasticity.eligibility` defines it,

    E_ij = sum over arrivals tau of i's spikes at j (tau < duration) of
           exp(-c (tau - T_minus)) - exp(-c (T_plus - tau)),

is accumulated by Brian2 ``Synapses`` code while the network runs:

* every neuron keeps its last spike time ``tl`` and its spike count ``nsp``
  (``spike_code``: ``tl = t; nsp += 1``);
* ``on_pre`` (an arrival at ``tau = t``) adds ``exp(-c (t - tl_post))`` if the target has
  spiked (T_minus: the post spike of an earlier step; a spike this arrival causes comes
  later in the same step, so it is not T_minus), and adds the arrival to the synapse's
  pending sum ``apend = apend exp(-c (t - tap)) + 1; tap = t`` (a running sum of
  ``exp(-c (tap - tau_k))`` over the arrivals that have no T_plus yet);
* ``on_post`` (the target spikes at ``T_plus = t``, after all arrivals of the step) subtracts
  ``apend exp(-c (t - tap)) = sum_k exp(-c (T_plus - tau_k))`` and clears ``apend``;
* arrivals left pending at the end have no T_plus and contribute 0; arrivals during the
  target's refractory period count (only the potential ignores them).

Clock tolerance. Brian2 sees arrivals and spikes on its grid (docs/engines.md): with the
Brian2 run's own spike record, the exact definition gives the same E up to float rounding
when every delay is a multiple of ``dt`` (arrivals then fall exactly on the grid); this is
what ``tests/test_brian2_rule.py`` checks against the Numba kernel. Against the event
engine's (exact) spikes, each time is late by at most ``(depth + 1) dt``, so each term
differs by a factor ``exp(+-c (depth + 1) dt)``, i.e. relatively by about ``c (depth + 1)
dt`` (0.3% at ``c = 100/s``, depth 2, ``dt = 0.01 ms``).

The end-of-trial update ``w += alpha (L - L_bar) C w E`` (SH eq. 4.1) as Brian2 synapse
code is :data:`UPDATE_CODE` (factor and weight clipped as in
:func:`spikesim.plasticity.rule.sh_update`).
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["UPDATE_CODE", "brian2_eligibility", "stdp_extra"]


def stdp_extra(c: float) -> dict:
    """The additions to the Brian2 model that accumulate the eligibility with rate ``c``
    (1/s); see :func:`spikesim.engines._brian2_model.build` (``extra``)."""
    c = float(c)
    if not np.isfinite(c) or c <= 0:
        raise ValidationError(f"the STDP rate c must be a positive number (1/s), got {c!r}")
    return {
        "neuron_eqs": "tl : second\nnsp : integer\n",
        "spike_code": "tl = t\nnsp += 1",
        "syn_eqs": "E : 1\napend : 1\ntap : second\n",
        "on_pre": (
            "E += exp(-c_stdp * (t - tl_post)) * int(nsp_post > 0)\n"
            "apend = apend * exp(-c_stdp * (t - tap)) + 1\n"
            "tap = t"
        ),
        "on_post": "E -= apend * exp(-c_stdp * (t - tap))\napend = 0",
        "constants": {"c_stdp": c},
    }


#: The end-of-trial update of SH eq. (4.1) as Brian2 synapse code, with the factor clipped
#: to ``[1 - max_change, 1 + max_change]`` and the weight to ``w >= w_min`` as in
#: :func:`spikesim.plasticity.rule.sh_update`; ``a_trial = alpha (L - L_bar) C``.
UPDATE_CODE = (
    "w = clip(w * clip(1 + a_trial * E, 1 - max_change, 1 + max_change), w_min, w_max)\n"
    "E = 0\napend = 0"
)


def _constants(b2, consts: dict) -> dict:
    return {k: (v / b2.second if k == "c_stdp" else v) for k, v in consts.items()}


def brian2_eligibility(
    network,
    input_spikes,
    duration: float,
    c: float,
    *,
    dt: float = 1e-5,
    weights: np.ndarray | None = None,
    target: str = "numpy",
):
    """Run one trial in Brian2 (runtime mode) with the STDP bookkeeping in the synapses.

    Parameters
    ----------
    network : Network
    input_spikes : tuple ``(times (n,), neurons (n,))`` or None
        Input spikes (seconds).
    duration : float
        Trial length in seconds.
    c : float
        STDP rate in 1/s.
    dt : float
        Time step in seconds.
    weights : ndarray, shape (n_edges,), optional
        Weight magnitudes (default ``network.weight``).
    target : {"numpy", "cython"}
        Brian2 code generation target.

    Returns
    -------
    record : SpikeRecord
        The trial's spikes, as the ``brian2`` engine returns them.
    E : ndarray, shape (n_edges,)
        Eligibilities accumulated by Brian2 (SH eq. 2.4).
    """
    import brian2 as b2

    from spikesim.engines import _brian2_model as model
    from spikesim.engines.brian2_runtime import TARGETS, assemble, brian2_error, check_dt
    from spikesim.errors import EngineError
    from spikesim.record import check_input_spikes

    if target not in TARGETS:
        raise EngineError(f"unsupported option target={target!r}; choose numpy or cython")
    dt = check_dt(dt)
    w = network.weight if weights is None else network.check_weights(weights)
    times, neurons = check_input_spikes(network, input_spikes, duration)
    extra = stdp_extra(c)
    spec = model.spec_from_network(network, dt, duration)
    idx, steps, copies = model.generator_arrays(spec, times, neurons)
    saved = b2.prefs["codegen.target"]
    try:
        b2.prefs["codegen.target"] = target
        extra = dict(extra, constants=_constants(b2, extra["constants"]))
        objs = model.build(b2, spec, input_mode="generator", copies=copies, extra=extra)
        objs["inputs"].set_spikes(idx, (steps * dt) * b2.second)
        model.set_weights(objs, w)
        objs["net"].run(spec["n_steps"] * dt * b2.second, namespace={})
        E = np.zeros(network.n_edges)
        for name in model.synapse_names(objs):
            np.add.at(E, objs[name + "_edges"], np.asarray(objs[name].E[:]))
        mon = objs["spikes"]
        s_idx = np.asarray(mon.i[:], np.int64)
        s_t = np.round(np.asarray(mon.t_[:]) / dt) * dt
    except Exception as exc:
        raise brian2_error(exc, "Brian2 STDP run") from exc
    finally:
        b2.prefs["codegen.target"] = saved
    return assemble(network, times, neurons, s_idx, s_t, duration), E
