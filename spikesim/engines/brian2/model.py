"""The spiking model as Brian2 objects; shared by every Brian2 engine and the code generator.

This is the only place (besides the engine modules) where Brian2 units appear. Nothing
here is imported unless a Brian2 engine is used: ``import brian2`` happens inside functions.

The contract (DESIGN.md) on a clock of step ``dt``:

* ``dv/dt = -v / tau_syn`` integrated exactly (``v <- v exp(-dt / tau_syn)`` per step,
  in the ``groups`` slot), threshold ``v >= S``, reset ``v = 0``.
* Refractoriness is explicit, in integer steps: a spike in step ``k`` sets ``rend = k +
  round(t_ref / dt)``, and an arrival in step ``i`` adds ``sign * w`` to ``v`` only if
  ``i >= rend`` (``v_post += sgn * w * int(int(t / dt + 0.5) >= rend_post)``; an arrival
  exactly at the end of the refractory period counts, as in the event engine). (Brian2's
  ``(unless refractory)`` alone would not stop ``on_pre`` from adding to ``v``.) While
  refractory ``v`` stays 0, so no threshold test can pass.
* **Same-step propagation in DAG depth order.** Each depth ``1 <= l < L`` of the DAG
  (``L`` the deepest) has its own threshold event ``s<l>`` (``v >= thr and lvl == l``)
  and its own outgoing ``Synapses`` (``on_event``). Within the ``thresholds`` slot of a
  step the order is: the input group's threshold, the input synapses, then for ``l = 1,
  2, ..., L - 1``: event ``s<l>``, its reset (``v = 0``, ``rend``, ``spk = 1``), its
  outgoing synapses; then the final ``spike`` event ``spk > 0.5 or (v >= thr and lvl ==
  L)``, which tests depth ``L`` (it has no outgoing edges) and collects the step's spikes
  of every depth for the ``SpikeMonitor`` and the ``on_post`` pathways. Its reset (in the
  ``resets`` slot) repeats the spike reset, a no-op for the depths already reset, and
  clears ``spk``. Every
  edge goes from a lower to a higher depth, so every arrival of a step (zero-delay ones
  from spikes of the same step included) is added before the target's threshold test of
  that step: arrivals of a step are summed before the test and consumed by the spike they
  cause, as in the event engine's tie rule, and zero-delay cascades happen within one
  step as they happen at one instant in the exact model.
* Delays are rounded up to whole steps (``ceil(d / dt)``) and input spikes are placed at
  ``ceil(t / dt)``, so every spike time is late by ``[0, dt)`` per edge plus ``[0, dt)``
  for the input: a neuron of depth ``D`` is late by less than ``(D + 1) dt`` (the
  conformance tolerance; docs/engines.md), and exact for inputs on the grid and zero
  delays.

Inputs come in one of two ways:

* ``"generator"`` (runtime engine): a ``SpikeGeneratorGroup`` with ``n_inputs * copies``
  neurons; the ``c``-th spike of an input neuron within one step goes to copy ``c`` (a
  SpikeGeneratorGroup cannot spike twice in one step).
* ``"table"`` (standalone engines, which must change inputs without recompiling; the
  arrays of a ``SpikeGeneratorGroup`` are read-only on the command line of Brian2 2.10):
  a NeuronGroup of ``n_inputs * copies`` neurons; neuron ``q`` owns entries ``ptr[q] ..
  pend[q] - 1`` of a ``TimedArray`` lookup table ``in_step`` (read with a 1 s table step,
  so ``in_step(k * second)`` is entry ``k``), fires when its next entry's step is reached
  and advances ``ptr``; ``nxt`` caches the step of its next entry, so the per-step test
  is one comparison. The table has a fixed ``capacity``; ``ptr``, ``pend``, ``nxt`` and
  ``in_step.values`` are set per run via the binary's command line (``run_args``).
"""

from __future__ import annotations

import numpy as np


def spec_from_network(network, dt: float, duration: float, trials_per_run: int = 1) -> dict:
    """Plain arrays describing what the Brian2 objects need (no Brian2 import).

    With ``trials_per_run = B > 1`` one run simulates ``B`` trials back to back: trial
    ``b`` occupies steps ``[b P, b P + n_steps)`` with period ``P = n_steps + gap``; the
    gap (``depth * max delay steps + 2``) lets every spike of the trial arrive before the
    state is reset (``v = 0``, not refractory) at the next trial's first step, so trials do
    not interact. Spikes in the gap are discarded.
    """
    inputs = np.asarray(network.inputs, np.int64)
    is_in = network.is_input[network.pre]
    slot = np.searchsorted(inputs, network.pre)
    delay_steps = np.ceil(network.delay / dt - 1e-6).astype(np.int64)
    n_steps = int(np.ceil(duration / dt - 1e-6))
    depth = network.depth().astype(np.int64)
    max_d = int(delay_steps.max()) if delay_steps.size else 0
    period = n_steps if trials_per_run == 1 else n_steps + int(depth.max()) * max_d + 2
    return {
        "n": int(network.n_neurons),
        "inputs": inputs,
        "in_edges": np.flatnonzero(is_in),
        "int_edges": np.flatnonzero(~is_in),
        "slot": slot,
        "pre": np.asarray(network.pre, np.int64),
        "post": np.asarray(network.post, np.int64),
        "sign": np.asarray(network.sign, np.float64),
        "delay_steps": delay_steps,
        "tau": np.asarray(network.tau_syn, np.float64),
        "thr": np.asarray(network.threshold, np.float64),
        "tref": np.asarray(network.t_ref, np.float64),
        "dt": float(dt),
        "n_steps": n_steps,
        "depth": depth,
        "outputs": np.asarray(network.outputs, np.int64),
        "trials_per_run": int(trials_per_run),
        "period": int(period),
    }


def input_steps(times: np.ndarray, dt: float) -> np.ndarray:
    """Clock step of each input spike: ``ceil(t / dt)`` (with a 1e-6 step tolerance)."""
    return np.ceil(np.asarray(times) / dt - 1e-6).astype(np.int64)


def input_table(spec: dict, trials: list, capacity: int, copies: int):
    """Arrays for the ``"table"`` input mode, for up to ``trials_per_run`` trials.

    ``trials`` is a list of ``(times, neurons)``; trial ``b``'s steps are offset by
    ``b * period``. Returns ``ptr (n_in * copies,) int32, pend (n_in * copies,) int32,
    step (capacity,), nxt (n_in * copies,)``; the entries of table neuron ``q + n_in * c``
    are the steps in which input slot ``q`` spikes more than ``c`` times, sorted, and
    ``nxt`` is the step of its first spike (:data:`NEVER` if none). Raises ValueError
    ``(kind, needed)`` if more than ``capacity`` entries or ``copies`` copies are needed.
    """
    idx_all, step_all = [], []
    for b, (times, neurons) in enumerate(trials):
        idx, steps, need = generator_arrays(spec, times, neurons)
        if need > copies:
            raise ValueError("copies", need)
        idx_all.append(idx)
        step_all.append(steps + b * spec["period"])
    idx = np.concatenate(idx_all) if idx_all else np.zeros(0, np.int64)
    steps = np.concatenate(step_all) if step_all else np.zeros(0, np.int64)
    if idx.size > capacity:
        raise ValueError("capacity", idx.size)
    n_tab = spec["inputs"].size * copies
    # steps are sorted within each (trial, idx) and trials come in order: a stable sort by
    # idx alone sorts by (idx, step)
    order = np.argsort(idx, kind="stable")
    idx, steps = idx[order], steps[order]
    ptr = np.searchsorted(idx, np.arange(n_tab)).astype(np.int32)
    pend = np.searchsorted(idx, np.arange(n_tab), side="right").astype(np.int32)
    step = np.zeros(capacity)
    step[: idx.size] = steps
    nxt = np.where(ptr < pend, step[np.minimum(ptr, capacity - 1)], NEVER)
    return ptr, pend, step, nxt


def split_trials(spec: dict, idx: np.ndarray, steps: np.ndarray, n_trials: int):
    """Split a run's spikes ``(neuron, step)`` into ``n_trials`` trials: list of
    ``(neurons, times in s)``, spikes in the gaps dropped."""
    trial = steps // spec["period"]
    order = np.argsort(trial, kind="stable")  # already sorted when recorded in time order
    trial, idx, steps = trial[order], idx[order], steps[order]
    local = steps - trial * spec["period"]
    bounds = np.searchsorted(trial, np.arange(n_trials + 1))
    out = []
    for b in range(n_trials):
        sl = slice(bounds[b], bounds[b + 1])
        keep = local[sl] < spec["n_steps"]
        out.append((idx[sl][keep].astype(np.int64), local[sl][keep] * spec["dt"]))
    return out


def generator_arrays(spec: dict, times: np.ndarray, neurons: np.ndarray):
    """``(indices, step, copies)`` for the ``"generator"`` input mode: the ``c``-th spike
    of input slot ``q`` within one step goes to generator neuron ``q + n_in * c``."""
    n_in = spec["inputs"].size
    slot = np.searchsorted(spec["inputs"], neurons)
    steps = input_steps(times, spec["dt"])
    keep = steps < spec["n_steps"]
    slot, steps = slot[keep], steps[keep]
    order = np.argsort(slot * (spec["n_steps"] + 1) + steps, kind="stable")
    slot, steps = slot[order], steps[order]
    # rank within each run of equal (slot, step): 0, 1, 2, ...
    new = np.ones(slot.size, bool)
    new[1:] = (np.diff(slot) != 0) | (np.diff(steps) != 0)
    pos = np.arange(slot.size)
    copy = pos - np.maximum.accumulate(np.where(new, pos, 0))
    copies = int(copy.max()) + 1 if copy.size else 1
    return slot + n_in * copy, steps, copies


#: ``nxt`` of an input-table neuron with no spike left (a step no run reaches).
NEVER = 1e18

NEURON_EQS = """
v : 1
vdec : 1 (constant)
thr : 1 (constant)
tsteps : integer (constant)
rend : integer
spk : 1
lvl : integer (constant)
"""

ON_PRE = "v_post += sgn * w * int(int(t / dt + 0.5) >= rend_post)"


def build(
    b2,
    spec: dict,
    *,
    input_mode: str,
    copies: int = 1,
    capacity: int = 1,
    record_v=None,
    extra: dict | None = None,
) -> dict:
    """Create the Brian2 objects for ``spec``; returns them by name (weights unset).

    Parameters
    ----------
    b2 : module
        The ``brian2`` module.
    spec : dict
        From :func:`spec_from_network`.
    input_mode : {"generator", "table"}
    copies : int
        Input-neuron copies (spikes of one input neuron in one step).
    capacity : int
        Length of the input table (``"table"`` mode).
    record_v : ndarray of int, optional
        Neurons whose ``v`` a StateMonitor records every step (after the resets).
    extra : dict, optional
        Additions by a learning rule (the model itself knows none), all strings:
        ``neuron_eqs`` (extra neuron variables, starting at 0), ``spike_code`` (run when
        a neuron spikes; it may run twice in the step of a spike, so it must give the same
        state when repeated, like ``x = f(t)``), ``step_spike_code`` (run exactly once per
        spike, at the end of its step, e.g. a counter), ``syn_eqs``, ``on_pre`` (added to
        every synapse's ``on_pre``), ``on_post`` (run for every synapse of a neuron that
        spiked, after all of the step's arrivals and threshold tests),
        ``trial_start_code`` (neurons, at the first step of every trial when
        ``trials_per_run > 1``), ``constants`` (a dict name -> value usable in that code)
        and ``setup`` (``"module:function"`` called as ``f(b2, objs, spec, extra)`` to add
        objects before the network is assembled).
    """
    extra = extra or {}
    consts = dict(extra.get("constants", {}))
    second = b2.second
    dt = spec["dt"] * second
    # Every object runs on Brian2's ``defaultclock``: brian2cuda's synapse template refers to
    # it by name, so objects with their own ``dt=`` (a clock each) do not compile there.
    b2.defaultclock.dt = dt
    n = spec["n"]
    n_in = spec["inputs"].size
    depth = spec["depth"]
    levels = int(depth.max()) if n else 0
    # levels 1 .. L-1 have their own events; the deepest level L (no outgoing edges) is
    # tested by the final "spike" event itself, which also collects the spikes of the
    # earlier levels (spk = 1): one threshold pass fewer per step
    events = {f"s{k}": f"v >= thr and lvl == {k}" for k in range(1, levels)}
    fired = "v = 0\nrend = int(t / dt + 0.5) + tsteps\n" + extra.get("spike_code", "")
    G = b2.NeuronGroup(
        n,
        NEURON_EQS + extra.get("neuron_eqs", ""),
        threshold=f"spk > 0.5 or (v >= thr and lvl == {levels})" if levels else "spk > 0.5",
        reset=fired + "\nspk = 0\n" + extra.get("step_spike_code", ""),
        events=events,
        name="neurons",
        namespace=consts,
    )
    # dv/dt = -v / tau_syn integrated exactly: v <- v exp(-dt / tau_syn), with the factor
    # computed once here (Brian2's "exact" method would evaluate the exp every step)
    G.vdec = np.exp(-spec["dt"] / spec["tau"])
    G.run_regularly("v = v * vdec", when="groups", name="decay")
    G.thr = spec["thr"]
    G.tsteps = np.round(spec["tref"] / spec["dt"]).astype(np.int64)
    G.lvl = depth
    G.thresholder["spike"].when = "thresholds"
    G.thresholder["spike"].order = 10 * levels
    # one clock for everything done once per trial (a clock per object would cost the
    # network loop a clock look-up per object and step)
    trial_clock = b2.Clock(dt=spec["period"] * dt, name="trialclock")
    objs = {"neurons": G, "trial_clock": trial_clock}
    if spec["trials_per_run"] > 1:  # a new trial starts: reset the state
        G.run_regularly(
            "v = 0\nrend = 0\n" + extra.get("trial_start_code", ""),
            clock=trial_clock,
            when="start",
            name="newtrial",
        )
    for k in range(1, levels):
        G.thresholder[f"s{k}"].when = "thresholds"
        G.thresholder[f"s{k}"].order = 10 * k
        G.run_on_event(f"s{k}", fired + "\nspk = 1", when="thresholds", order=10 * k + 1)
    n_src = max(n_in * copies, 1)
    if input_mode == "generator":
        src = b2.SpikeGeneratorGroup(n_src, np.zeros(0, int), np.zeros(0) * second, name="inputs")
    elif input_mode == "table":
        tab_step = b2.TimedArray(np.zeros(capacity), dt=1 * second, name="in_step")
        # ``nxt``: the step of the neuron's next spike (NEVER if none), so the per-step
        # test is one comparison; set per run (``input_table``), advanced at each spike
        src = b2.NeuronGroup(
            n_src,
            "ptr : integer\npend : integer\nnxt : 1",
            threshold="nxt < t / dt + 0.5",
            reset=f"ptr += 1\nnxt = in_step(ptr * second) + {NEVER:g} * int(ptr >= pend)",
            name="inputs",
            namespace={"in_step": tab_step},
        )
        src.nxt = NEVER  # until a run sets it
        objs["in_step"] = tab_step
    else:  # pragma: no cover - internal
        raise ValueError(input_mode)
    runner = src if input_mode == "generator" else src.thresholder["spike"]
    runner.when = "thresholds"
    runner.order = 0
    objs["inputs"] = src
    syn_model = "w : 1\nsgn : 1 (constant)\n" + extra.get("syn_eqs", "")
    on_pre = ON_PRE + "\n" + extra.get("on_pre", "")
    on_post = extra.get("on_post")

    def make_synapses(source, name, event):
        S = b2.Synapses(
            source,
            G,
            syn_model,
            on_pre=on_pre,
            on_post=on_post,
            on_event={"pre": event, "post": "spike"} if on_post else event,
            name=name,
            namespace=consts,
        )
        if on_post:
            S.post.when = "thresholds"
            S.post.order = 10 * levels + 1
        return S

    in_e = spec["in_edges"]
    if in_e.size:
        i = np.concatenate([spec["slot"][in_e] + n_in * c for c in range(copies)])
        S = make_synapses(src, "syn_in", "spike")
        S.connect(i=i, j=np.tile(spec["post"][in_e], copies))
        S.sgn = np.tile(spec["sign"][in_e], copies)
        S.delay = np.tile(spec["delay_steps"][in_e], copies) * dt
        S.pre.when = "thresholds"
        S.pre.order = 1
        objs["syn_in"] = S
        objs["syn_in_edges"] = np.tile(in_e, copies)
    int_e = spec["int_edges"]
    src_depth = depth[spec["pre"][int_e]]
    for k in range(1, levels):  # the deepest level has no outgoing edges
        e = int_e[src_depth == k]
        if not e.size:
            continue
        name = f"syn_l{k}"
        S2 = make_synapses(G, name, f"s{k}")
        S2.connect(i=spec["pre"][e], j=spec["post"][e])
        S2.sgn = spec["sign"][e]
        S2.delay = spec["delay_steps"][e] * dt
        S2.pre.when = "thresholds"
        S2.pre.order = 10 * k + 2
        objs[name] = S2
        objs[name + "_edges"] = e
    objs["spikes"] = b2.SpikeMonitor(G, name="spikemon")
    if record_v is not None and len(record_v):
        objs["vmon"] = b2.StateMonitor(G, "v", record=np.asarray(record_v), when="end", name="vmon")
    if extra.get("setup"):  # "module:function", called as f(b2, objs, spec, extra)
        import importlib

        mod, func = extra["setup"].split(":")
        getattr(importlib.import_module(mod), func)(b2, objs, spec, extra)
    net = b2.Network([o for o in objs.values() if isinstance(o, b2.BrianObject)])
    objs["net"] = net
    return objs


def synapse_names(objs: dict) -> list[str]:
    """Names of the Synapses objects in ``objs``."""
    return [k for k in objs if k.startswith("syn_") and not k.endswith("_edges")]


def set_weights(objs: dict, weights: np.ndarray) -> None:
    """Set the weight magnitudes (n_edges,) on the synapses (runtime mode)."""
    for name in synapse_names(objs):
        objs[name].w = weights[objs[name + "_edges"]]
