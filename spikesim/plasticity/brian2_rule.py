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

__all__ = ["UPDATE_CODE", "brian2_eligibility", "stdp_extra", "train_standalone"]


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
            "E += exp(-c_stdp * (t - tl_post) / second) * int(nsp_post > 0)\n"
            "apend = apend * exp(-c_stdp * (t - tap) / second) + 1\n"
            "tap = t"
        ),
        "on_post": "E -= apend * exp(-c_stdp * (t - tap) / second)\napend = 0",
        "constants": {"c_stdp": c},
    }


#: The end-of-trial update of SH eq. (4.1) as Brian2 synapse code, with the factor clipped
#: to ``[1 - max_change, 1 + max_change]`` and the weight to ``w >= w_min`` as in
#: :func:`spikesim.plasticity.rule.sh_update`; ``a_trial = alpha (L - L_bar) C``.
UPDATE_CODE = (
    "w = clip(w * clip(1 + a_trial * E, 1 - max_change, 1 + max_change), w_min, w_max)\n"
    "E = 0\napend = 0"
)


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


# -- a whole training loop in one cpp_standalone run -------------------------------------

WIN = "int((int(t / dt + 0.5) % period_steps) < window_steps)"


def training_extra(
    c: float,
    *,
    alpha: float,
    C: float,
    max_change: float,
    w_min: float,
    w_max: float,
    rate_scale: float,
    duration: float,
    n_outputs: int,
) -> dict:
    """Model additions for :func:`train_standalone` (JSON-able; see ``setup_training``).

    As :func:`stdp_extra`, but every contribution is gated to the trial window (arrivals
    and spikes in the gap between trials count for nothing), output spikes in the window
    are counted (``cnt``), and at each trial start the targets are loaded, the loss of the
    finished trial computed and the weights updated (``setup_training``)."""
    base = stdp_extra(c)
    return {
        "neuron_eqs": base["neuron_eqs"] + "cnt : 1\nisout : 1 (constant)\ntgt : 1\n"
        "a_lin : 1 (linked)\na_g : 1\n",
        "spike_code": f"tl = t\nnsp += 1\ncnt += isout * {WIN}",
        "syn_eqs": base["syn_eqs"],
        "on_pre": (
            f"E += {WIN} * exp(-c_stdp * (t - tl_post) / second) * int(nsp_post > 0)\n"
            f"apend = apend * exp(-c_stdp * (t - tap) / second) + {WIN}\n"
            "tap = t"
        ),
        "on_post": (
            f"E -= {WIN} * apend * exp(-c_stdp * (t - tap) / second)\napend = apend * (1 - {WIN})"
        ),
        "trial_start_code": "cnt = 0\nnsp = 0\ntgt = targ(t, i)",
        "constants": {
            "c_stdp": float(c),
            "alpha_c": float(alpha),
            "C_c": float(C),
            "max_change": float(max_change),
            "w_min": float(w_min),
            "w_max": float(min(w_max, 1e300)),
            "rate_scale": float(rate_scale),
            "inv_T": 1.0 / float(duration),
            "n_out": float(n_outputs),
        },
        "setup": "spikesim.plasticity.brian2_rule:setup_training",
        "tail_steps": 1,
    }


def setup_training(b2, objs: dict, spec: dict, extra: dict) -> None:
    """Add the loss and update machinery to the Brian2 objects (runs in the build process).

    At the first step of every trial (``start`` slot), in this order: ``ctrl`` (one
    neuron) takes the summed loss of the finished trial ``L = mean_o ((cnt_o / T -
    target_o) / rate_scale)^2`` and sets ``a = alpha (L - L_prev) C`` (0 until a previous
    trial exists; SH eq. 4.1 with the ``previous`` baseline), then every synapse applies
    :data:`UPDATE_CODE` with ``a_trial = a``, then the neurons reset and load the new
    trial's targets (``targ``, a TimedArray of shape (trials + 1, n_neurons) set per run).
    """
    second = b2.second
    dt = spec["dt"] * second
    P = spec["period"] * dt
    G = objs["neurons"]
    n = spec["n"]
    consts = dict(extra["constants"])
    consts["period_steps"] = int(spec["period"])
    consts["window_steps"] = int(spec["n_steps"])
    targ = b2.TimedArray(np.zeros((spec["trials_per_run"] + 1, n)), dt=P, name="targ")
    objs["targ"] = targ
    G.namespace.update(consts)
    G.namespace["targ"] = targ
    for name in [k for k in objs if k.startswith("syn_") and not k.endswith("_edges")]:
        objs[name].namespace.update(consts)
    isout = np.zeros(n)
    outs = np.asarray(spec.get("outputs", []), np.int64)
    isout[outs] = 1.0
    G.isout = isout
    ctrl = b2.NeuronGroup(
        1,
        "L : 1\nLprev : 1\na : 1\nk : integer\nlsum : 1",
        dt=dt,
        name="ctrl",
        namespace=dict(consts),
    )
    ctrl.run_regularly(
        "L = lsum\na = alpha_c * (L - Lprev) * C_c * int(k >= 2)\nLprev = L\nk += 1",
        dt=P,
        when="start",
        order=-30,
        name="ctrl_loss",
    )
    readout = b2.Synapses(
        G,
        ctrl,
        "lsum_post = ((cnt_pre * inv_T - tgt_pre) / rate_scale) ** 2 / n_out : 1 (summed)",
        dt=dt,
        name="readout",
        namespace=dict(consts),
    )
    readout.connect(i=outs, j=np.zeros(outs.size, np.int64))
    G.a_lin = b2.linked_var(ctrl, "a", index=np.zeros(n, np.int64))
    # synapses cannot read a linked variable of their target: copy it first
    G.run_regularly("a_g = a_lin", dt=P, when="start", order=-20, name="take_a")
    for name in [k for k in objs if k.startswith("syn_") and not k.endswith("_edges")]:
        objs[name].run_regularly(
            UPDATE_CODE.replace("a_trial", "a_g_post"),
            dt=P,
            when="start",
            order=-10,
            name=f"{name}_update",
        )
    objs["ctrl"] = ctrl
    objs["readout"] = readout
    objs["run_args"] = {"targ": ("targ", "values")}


def train_standalone(
    network,
    inputs: list,
    targets: np.ndarray,
    duration: float,
    *,
    c: float,
    alpha: float,
    C: float = 1.0,
    max_change: float = 0.5,
    w_min: float = 0.0,
    w_max: float = np.inf,
    rate_scale: float = 1.0,
    dt: float = 1e-4,
    weights: np.ndarray | None = None,
    cache=None,
) -> dict:
    """Train with SH eq. (4.1) entirely in one Brian2 cpp_standalone run (no Python
    between trials): ``len(inputs)`` trials, ``previous``-trial baseline, ``mse`` loss.

    Parameters
    ----------
    network : Network
    inputs : list of ``(times (n,), neurons (n,))``
        Input spikes of each trial (seconds).
    targets : ndarray, shape (n_trials, n_outputs)
        Target output rates (hertz) of each trial.
    duration : float
        Trial length in seconds.
    c, alpha, C : float
        STDP rate (1/s), learning rate, STDP amplitude.
    max_change, w_min, w_max : float
        Clipping as in :func:`spikesim.plasticity.rule.sh_update`.
    rate_scale : float
        Rate (hertz) dividing the rate errors of the loss.
    dt : float
        Time step in seconds.
    weights : ndarray, shape (n_edges,), optional
        Initial weights (default ``network.weight``).
    cache : path, optional
        Project cache root.

    Returns
    -------
    dict
        ``weights`` (n_edges,) after the last update, ``records`` (one SpikeRecord per
        trial), ``losses`` (n_trials,) of the trials (from the records, as
        :func:`spikesim.plasticity.loss.trial_loss` computes them), ``compiled`` (whether
        this call compiled the project).

    Notes
    -----
    One compilation per (structure, number of trials, hyper-parameters); a later call with
    new inputs, targets or initial weights reuses the binary. Each input neuron may spike
    at most once per time step (a second spike would go to a copy synapse with its own
    weight).
    """
    from spikesim.engines import _brian2_model as model
    from spikesim.engines import brian2_standalone as bs
    from spikesim.engines.brian2_runtime import assemble, check_dt
    from spikesim.plasticity.loss import trial_loss
    from spikesim.record import check_input_spikes

    dt = check_dt(dt)
    w0 = network.weight if weights is None else network.check_weights(weights)
    checked = [check_input_spikes(network, inp, duration) for inp in inputs]
    n_trials = len(checked)
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != (n_trials, network.outputs.size):
        raise ValidationError(
            f"targets must have shape ({n_trials}, {network.outputs.size}), got {targets.shape}"
        )
    spec = model.spec_from_network(network, dt, duration, n_trials)
    need = 1
    for times, neurons in checked:
        idx, _, copies = model.generator_arrays(spec, times, neurons)
        need = max(need, copies)
        if copies > 1:
            raise ValidationError(
                "train_standalone needs at most one spike per input neuron per time step; "
                f"a trial has {copies} in one step of {dt} s (use a smaller dt)"
            )
    cap, _ = bs.table_size(network, dt, duration, checked, 1)
    extra = training_extra(
        c,
        alpha=alpha,
        C=C,
        max_change=max_change,
        w_min=w_min,
        w_max=w_max,
        rate_scale=rate_scale,
        duration=duration,
        n_outputs=network.outputs.size,
    )
    before = bs.BUILDS
    proj = bs.ensure_project(
        network,
        dt,
        duration,
        capacity=cap * n_trials,
        copies=1,
        trials_per_run=n_trials,
        root=cache,
        extra=extra,
    )
    targ = np.zeros((n_trials + 1, network.n_neurons))
    targ[:n_trials, network.outputs] = targets
    final = {}
    with bs._in_use(proj):
        spikes = proj.run(w0, checked, arrays={"targ": targ.ravel()}, final=final)
    records = [
        assemble(network, t_in, n_in, idx, t, duration)
        for (t_in, n_in), (idx, t) in zip(checked, spikes, strict=True)
    ]
    losses = np.array(
        [
            trial_loss(
                r.counts()[network.outputs],
                duration,
                kind="mse",
                target=targets[k],
                rate_scale=rate_scale,
            )
            for k, r in enumerate(records)
        ]
    )
    return {
        "weights": final["weights"],
        "records": records,
        "losses": losses,
        "compiled": bs.BUILDS > before,
    }
