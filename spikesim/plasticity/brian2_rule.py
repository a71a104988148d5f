"""Schmidt-Hieber's reward-modulated STDP inside Brian2 (no Python between spikes).

The eligibility of SH eq. (2.4), as :func:`spikesim.plasticity.eligibility` defines it,

    E_ij = sum over arrivals tau of i's spikes at j (tau < duration) of
           exp(-c (tau - T_minus)) - exp(-c (T_plus - tau)),

is accumulated by Brian2 ``Synapses`` code while the network runs:

* every neuron keeps ``htl = exp(c tl)`` of its last spike time ``tl`` (0 before its first
  spike; ``spike_code``);
* ``on_pre`` (an arrival at ``tau = t``) adds ``exp(-c t) htl_post = exp(-c (t - tl_post))``
  (T_minus: the post spike of an earlier step; a spike this arrival causes comes later in
  the same step, so it is not T_minus; 0 if the target has not spiked), and adds
  ``exp(c t)`` to the synapse's pending sum ``apend`` (the arrivals without a T_plus yet);
* ``on_post`` (the target spikes at ``T_plus = t``, after all arrivals of the step) subtracts
  ``apend exp(-c t) = sum_k exp(-c (T_plus - tau_k))`` and clears ``apend``;
* arrivals left pending at the end have no T_plus and contribute 0; arrivals during the
  target's refractory period count (only the potential ignores them).

Factored form. ``exp(+-c t)`` depends on the time only, so Brian2 evaluates it once per
step and code object, and a synapse event costs a few multiply-adds and no ``exp``. In the
training benchmark (docs/guide/benchmarks.md) the input synapses' ``on_post`` became 5.6x
and their ``on_pre`` 2.8x faster than with each synapse storing its last arrival time and
decaying its own sum.
``t`` is the time since the trial started, so the stored values stay below ``exp(c T)``:
:func:`check_rate` refuses ``c T > 600`` (float64 overflows near ``exp(709)``). Sums of
positive terms times one factor lose nothing in relative precision.

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


#: Largest ``c * T`` (T: the span of one trial's times) the factored form accepts:
#: ``exp(c T)`` must stay far from float64's overflow (about ``exp(709)``).
MAX_CT = 600.0


def check_rate(c: float, span: float) -> float:
    """``c`` as a float, checked positive and with ``c * span <= MAX_CT`` (see the module
    docstring: the factored bookkeeping stores ``exp(c t)`` for ``t`` up to ``span``)."""
    c = float(c)
    if not np.isfinite(c) or c <= 0:
        raise ValidationError(f"the STDP rate c must be a positive number (1/s), got {c!r}")
    if c * span > MAX_CT:
        raise ValidationError(
            f"c * trial length = {c} * {span} s = {c * span:g} > {MAX_CT:g}: the Brian2 "
            "eligibility stores exp(c t) within a trial, which would overflow; use the event "
            "engine's Numba kernel (spikesim.plasticity.eligibility) or shorter trials"
        )
    return c


def _stdp_code(tt: str, win: str) -> dict:
    """The eligibility bookkeeping with trial time ``tt`` (seconds, an expression of ``t``
    only) and gate ``win`` (1 inside the trial window, 0 outside)."""
    grow = f"exp(c_stdp * ({tt}) / second)"
    shrink = f"exp(-c_stdp * ({tt}) / second)"
    return {
        "neuron_eqs": "htl : 1\n",
        "spike_code": f"htl = {grow}",
        "syn_eqs": "E : 1\napend : 1\n",
        "on_pre": f"E += {win} * {shrink} * htl_post\napend += {win} * {grow}",
        "on_post": f"E -= {win} * apend * {shrink}\napend = apend * (1 - {win})",
    }


def stdp_extra(c: float, duration: float) -> dict:
    """The additions to the Brian2 model that accumulate the eligibility with rate ``c``
    (1/s) over a trial of ``duration`` seconds; see
    :func:`spikesim.engines.brian2.model.build` (``extra``)."""
    c = check_rate(c, duration)
    code = _stdp_code("t", "1")
    code["constants"] = {"c_stdp": c}
    return code


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

    from spikesim.engines.brian2 import model
    from spikesim.engines.brian2.common import TARGETS, assemble, brian2_error, check_dt
    from spikesim.errors import EngineError
    from spikesim.record import check_input_spikes

    if target not in TARGETS:
        raise EngineError(f"unsupported option target={target!r}; choose numpy or cython")
    dt = check_dt(dt)
    w = network.weight if weights is None else network.check_weights(weights)
    times, neurons = check_input_spikes(network, input_spikes, duration)
    extra = stdp_extra(c, duration)
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

#: 1 in the window of a trial, 0 in the gap after it (a function of ``t`` only).
WIN = "int((int(t / dt + 0.5) % period_steps) < window_steps)"
#: Time since the start of the current trial (seconds; a function of ``t`` only).
TT = "(int(t / dt + 0.5) % period_steps) * dt"


def training_extra(
    c: float,
    *,
    learning_rate: float,
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
    code = _stdp_code(TT, WIN)
    return {
        "neuron_eqs": code["neuron_eqs"] + "cnt : 1\nisout : 1 (constant)\ntgt : 1\n"
        "a_lin : 1 (linked)\na_g : 1\n",
        "spike_code": code["spike_code"],
        "step_spike_code": f"cnt += isout * {WIN}",
        "syn_eqs": code["syn_eqs"],
        "on_pre": code["on_pre"],
        "on_post": code["on_post"],
        "trial_start_code": "cnt = 0\nhtl = 0\ntgt = targ(t, i)",
        "constants": {
            "c_stdp": float(c),  # checked by train_standalone (check_rate)
            "alpha_c": float(learning_rate),
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
    once = objs["trial_clock"]  # the model's once-per-trial clock
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
        clock=once,  # it and the readout's sum run once per trial
        name="ctrl",
        namespace=dict(consts),
    )
    ctrl.run_regularly(
        "L = lsum\na = alpha_c * (L - Lprev) * C_c * int(k >= 2)\nLprev = L\nk += 1",
        clock=once,
        when="start",
        order=-30,
        name="ctrl_loss",
    )
    readout = b2.Synapses(
        G,
        ctrl,
        "lsum_post = ((cnt_pre * inv_T - tgt_pre) / rate_scale) ** 2 / n_out : 1 (summed)",
        name="readout",
        namespace=dict(consts),
    )
    readout.connect(i=outs, j=np.zeros(outs.size, np.int64))
    summed = readout.summed_updaters["lsum_post"]
    summed.when, summed.order = "start", -40  # before ctrl_loss reads lsum
    G.a_lin = b2.linked_var(ctrl, "a", index=np.zeros(n, np.int64))
    # synapses cannot read a linked variable of their target: copy it first
    G.run_regularly("a_g = a_lin", clock=once, when="start", order=-20, name="take_a")
    for name in [k for k in objs if k.startswith("syn_") and not k.endswith("_edges")]:
        objs[name].run_regularly(
            UPDATE_CODE.replace("a_trial", "a_g_post"),
            clock=once,
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
    c: float | None = None,
    learning_rate: float,
    C: float = 1.0,
    max_change: float = 0.5,
    w_min: float = 0.0,
    w_max: float = np.inf,
    rule=None,
    rate_scale: float = 1.0,
    dt: float = 1e-4,
    weights: np.ndarray | None = None,
    cache=None,
    records: bool = True,
    threads: int = 0,
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
    c, learning_rate, C : float
        STDP rate (1/s), learning rate (``alpha`` of eq. 4.1), STDP amplitude.
    max_change, w_min, w_max : float
        Clipping as in :func:`spikesim.plasticity.rule.sh_update`.
    rule : Rule, optional
        Instead of ``c, C, max_change, w_min, w_max``: a rule object; it must run on
        ``brian2-standalone`` (:attr:`Rule.engines`: SH only), else a ValidationError
        names it.
    rate_scale : float
        Rate (hertz) dividing the rate errors of the loss.
    dt : float
        Time step in seconds.
    weights : ndarray, shape (n_edges,), optional
        Initial weights (default ``network.weight``).
    cache : path, optional
        Project cache root.
    records : bool
        Return each trial's SpikeRecord (``False``: ``records`` is None; saves time when
        only the weights and losses are wanted).
    threads : int
        OpenMP threads of the compiled loop (0: single-threaded; a separate build).

    Returns
    -------
    dict
        ``weights`` (n_edges,) after the last update, ``records`` (one SpikeRecord per
        trial, or None), ``losses`` (n_trials,) of the trials (from the records, as
        :func:`spikesim.plasticity.loss.trial_loss` computes them), ``compiled`` (whether
        this call compiled the project).

    Notes
    -----
    One compilation per (structure, number of trials, hyper-parameters); a later call with
    new inputs, targets or initial weights reuses the binary. Each input neuron may spike
    at most once per time step (a second spike would go to a copy synapse with its own
    weight).
    """
    from spikesim.engines.brian2 import model
    from spikesim.engines.brian2 import project as bs
    from spikesim.engines.brian2.common import assemble, check_dt
    from spikesim.engines.brian2.options import BuildOptions
    from spikesim.plasticity.loss import trial_loss
    from spikesim.record import check_input_spikes

    if rule is not None:
        from spikesim.plasticity.base import check_rule_engine

        check_rule_engine(rule, "brian2-standalone")
        if c is not None:
            raise ValidationError("give the rule's parameters through rule= or c=..., not both")
        c, C, max_change, w_min, w_max = rule.c, rule.C, rule.max_change, rule.w_min, rule.w_max
    if c is None:
        raise ValidationError("train_standalone needs c (the STDP rate, 1/s) or rule=SH(...)")
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
    check_rate(c, spec["period"] * dt)  # trial time runs over the gap too
    cap, copies = bs.table_size(network, dt, duration, checked, 1, min_copies=1)
    if copies > 1:
        raise ValidationError(
            "train_standalone needs at most one spike per input neuron per time step; "
            f"a trial has {copies} in one step of {dt} s (use a smaller dt)"
        )
    extra = training_extra(
        c,
        learning_rate=learning_rate,
        C=C,
        max_change=max_change,
        w_min=w_min,
        w_max=w_max,
        rate_scale=rate_scale,
        duration=duration,
        n_outputs=network.outputs.size,
    )
    before = bs.BUILDS
    opts = BuildOptions(capacity=cap * n_trials, copies=1, openmp_threads=threads, extra=extra)
    proj = bs.ensure_project(network, dt, duration, opts, trials_per_run=n_trials, root=cache)
    targ = np.zeros((n_trials + 1, network.n_neurons))
    targ[:n_trials, network.outputs] = targets
    final = {}
    with bs.in_use(proj):
        spikes = proj.run(w0, checked, arrays={"targ": targ.ravel()}, final=final)
    slot = np.full(network.n_neurons, -1)
    slot[network.outputs] = np.arange(network.outputs.size)
    losses = np.empty(n_trials)
    for k, (idx, _) in enumerate(spikes):
        out = slot[idx]
        counts = np.bincount(out[out >= 0], minlength=network.outputs.size)
        losses[k] = trial_loss(
            counts, duration, kind="mse", target=targets[k], rate_scale=rate_scale
        )
    recs = None
    if records:
        recs = [
            assemble(network, t_in, n_in, idx, t, duration)
            for (t_in, n_in), (idx, t) in zip(checked, spikes, strict=True)
        ]
    return {
        "weights": final["weights"],
        "records": recs,
        "losses": losses,
        "compiled": bs.BUILDS > before,
    }
