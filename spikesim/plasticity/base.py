"""The plasticity-rule interface and its registry.

A local learning rule is a frozen, validated parameter record (a frozen dataclass that
subclasses :class:`Rule`) plus two Numba kernels:

- ``trace``: ``trace(kp, net, spikes, duration, out)``, one trial's spikes (a
  :class:`~spikesim.engines.event.TrialSpikes`: the event kernel's spikes by neuron and,
  when the trainer ran the kernel, its sorted arrivals, which SH's eligibility reuses) ->
  a per-edge trace (for SH the eligibility ``E`` of eq. 2.4), written into ``out`` of
  shape (n_edges,);
- ``update``: ``w`` on the edges ``lo:hi`` <- the rule's update from the trace and the
  trial's learning signal (for SH eq. 4.1, ``w <- w * clip(1 + a E)``), returning the
  summed size of the relative changes over the range (SH: ``sum_e |a E_e|``, before
  clipping; the trainer reports its mean as ``rel_change``). Edges must not interact: an
  update of ``lo:hi`` then ``hi:m`` equals one of ``0:m`` (the trainer splits it over
  threads).

The trainer (:mod:`spikesim.plasticity.trainer`) owns everything that is not the rule: the
forward pass, the losses and their decoding, baselines, learning-rate schedules,
Christensen-Kallsen presentations, batching and threads. It hands the kernels small typed
records: the rule's kernel parameters (:meth:`Rule.kernel_params`, a NamedTuple), its state
(:attr:`Rule.State`, a NamedTuple of per-edge arrays), the network
(:class:`spikesim.engines.event.EventNet`) and the spikes.

The kernels are reached from compiled code through :func:`rule_trace` and
:func:`rule_update`, which dispatch on the *type* of the kernel-parameter record (Numba
overloads, resolved at compile time, so the trainer's loops stay cacheable). A new rule
subclasses :class:`Rule`, writes its two ``@njit`` kernels, and registers all three with
:func:`register_rule`; :func:`spikesim.testing.rule.check_rule` checks it.

Perturbing rules (``Rule.perturbs = "weights"`` or ``"nodes"``): a third kernel runs
*before* each trial. From ``seed`` (an integer the trainer derives from the run's seed and
the global trial number, so a trial's noise does not depend on threads, batching or
resuming) it draws the trial's noise, writes it to the trial's trace row ``E`` (n_edges,)
and returns the signed weights the trial is simulated with:

- ``"weights"``: ``perturb(kp, seed, w, sign, E) -> signed``, noise per edge (weight
  perturbation, :class:`~spikesim.plasticity.perturbation.WeightPerturbation`);
- ``"nodes"``: ``perturb(kp, seed, net, w, sign, E) -> signed``, with the network record
  (:class:`~spikesim.engines.event.EventNet`), noise per neuron (node perturbation,
  :class:`~spikesim.plasticity.perturbation.NodePerturbation`).

The trace kernel then runs on the same row and may combine it with the trial's spikes
(weight perturbation adds nothing; node perturbation multiplies it by the presynaptic
activity). For every other rule (``perturbs = None``) the trial runs on the trainer's
weights unchanged.

Learning signals (``Rule.signal``): ``"scalar"``, one number per trial (SH: ``alpha_k (L_k -
L_bar_k)``); ``"per-output"`` and ``"per-neuron"`` are reserved names for rules that need
one signal per output or per neuron (not yet supported by the trainer).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from numba import njit
from numba.extending import overload

from spikesim.engines.event import TrialSpikes, no_arrivals
from spikesim.errors import ValidationError

__all__ = [
    "SIGNALS",
    "Rule",
    "available_rules",
    "check_rule_engine",
    "get_rule",
    "register_rule",
    "rule_trace",
    "rule_update",
    "rule_weights",
    "trial_seed",
]

SIGNALS = ("scalar", "per-output", "per-neuron")

_RULES: dict[str, type] = {}
_TRACE: dict[type, object] = {}  # kernel-parameter record type -> njit trace kernel
_UPDATE: dict[type, object] = {}
_PERTURB: dict[type, object] = {}  # perturbing rules only


class Rule:
    """Base class of a plasticity rule: a frozen dataclass of its parameters.

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` and set the class attributes
    below; construction validates (:meth:`validate`), so a rule that exists is valid.

    Attributes
    ----------
    name : str
        Registry name (``rule.kind`` in an experiment file).
    signal : {"scalar", "per-output", "per-neuron"}
        The learning signal the update needs.
    State : type
        NamedTuple of the rule's per-edge state arrays, each shape (n_edges,); its field
        names are the rule's keys in a trainer checkpoint.
    engines : tuple of str
        The engines whose training loop runs the rule's kernels: ``("event",)`` (the
        trainer, default); SH adds ``"brian2-standalone"`` (its update as Brian2 code,
        :func:`spikesim.plasticity.brian2_rule.train_standalone`).
        :func:`check_rule_engine` refuses the others, naming them.
    perturbs : {None, "weights", "nodes"}
        What the rule perturbs before each trial (with a ``perturb`` kernel; see the module
        docstring). Default None: nothing.
    separable : bool
        The update depends on the signal and the trace only through their product
        ``signal * trace_e`` edge by edge (and the rule state does not see the trace on its
        own), so a per-edge signal can be folded into the trace: what the trainer's split
        loss (``loss_split``) needs. Default False; a rule declares it (a property where it
        depends on a parameter).

    Each parameter's ``dataclasses.field`` metadata may hold ``doc`` (one line, with units:
    the experiment file's documentation of ``rule.KEY``) and ``config_default`` (the default
    an experiment file gets where the Python default cannot be written in TOML and JSON,
    e.g. ``1e9`` for an infinite weight ceiling).
    """

    name: ClassVar[str]
    signal: ClassVar[str]
    State: ClassVar[type]
    perturbs: ClassVar[str | None] = None
    engines: ClassVar[tuple[str, ...]] = ("event",)
    separable: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self.validate()

    # -- to be provided by a rule ---------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ValidationError` naming the key (``rule.KEY must ...``)."""
        raise NotImplementedError

    def kernel_params(self, *, noise_scale: float = 1.0) -> tuple:
        """The NamedTuple the kernels receive. ``noise_scale``: the trainer's
        Christensen-Kallsen scaling (``sqrt(presentations)`` or 1) of the spike-time
        noise the rule sees; a rule without such a time scale ignores it."""
        raise NotImplementedError

    def init_state(self, n_edges: int) -> tuple:
        """The initial :attr:`State` for ``n_edges`` edges."""
        raise NotImplementedError

    def trace_reference(self, network, record, *, noise_scale: float = 1.0) -> np.ndarray:
        """A slow, obvious pure-Python per-trial trace (the conformance reference)."""
        raise NotImplementedError

    def weight_bounds(self) -> tuple[float, float]:
        """``(low, high)``: every update leaves the weights in this closed range."""
        return 0.0, np.inf

    # -- provided -------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The parameter names."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def state_from(self, values: dict, n_edges: int) -> tuple:
        """A :attr:`State` from a checkpoint's entries (missing entries: initial values)."""
        init = self.init_state(n_edges)
        out = []
        for name, default in zip(self.State._fields, init, strict=True):
            if name not in values:
                out.append(default)
                continue
            arr = np.array(values[name], dtype=default.dtype)
            if arr.shape != default.shape:
                raise ValidationError(
                    f"checkpoint entry {name!r} has shape {arr.shape}, expected {default.shape}"
                )
            out.append(arr)
        return self.State(*out)

    def trace(self, network, start, count, buf, duration: float, *, noise_scale: float = 1.0):
        """The per-trial trace from the event engine's output, shape (n_edges,).

        ``start, count`` (n_neurons,) and ``buf``: neuron ``j``'s sorted spike times (s)
        are ``buf[start[j]:start[j] + count[j]]``; ``duration`` in seconds.
        """
        from spikesim.engines.event import event_net

        out = np.zeros(network.n_edges)
        _trace_one(
            self.kernel_params(noise_scale=noise_scale),
            event_net(network),
            np.ascontiguousarray(start, dtype=np.int64),
            np.ascontiguousarray(count, dtype=np.int64),
            np.ascontiguousarray(buf, dtype=np.float64),
            float(duration),
            out,
        )
        return out

    def perturbed(self, w, sign, seed: int, *, network=None) -> tuple[np.ndarray, np.ndarray]:
        """A perturbing rule's trial weights and noise for ``seed`` (the trainer's
        :func:`trial_seed`): ``(signed weights, trace row)``, each shape (n_edges,).
        ``network`` (a :class:`~spikesim.graph.Network` with these edges) is needed by
        rules that perturb nodes."""
        if self.perturbs is None:
            raise ValidationError(f"rule {self.name!r} does not perturb its trials")
        w = np.ascontiguousarray(w, dtype=np.float64)
        sign = np.ascontiguousarray(sign, dtype=np.float64)
        E = np.zeros(w.shape[0])
        if self.perturbs == "weights":
            signed = _weights_one(self.kernel_params(), int(seed), w, sign, E)
            return np.asarray(signed), E
        if network is None or network.n_edges != w.shape[0]:
            raise ValidationError(
                f"rule {self.name!r} perturbs nodes: give network= (the network of these "
                f"{w.shape[0]} edges)"
            )
        from spikesim.engines.event import event_net

        signed = _nodes_one(self.kernel_params(), int(seed), event_net(network), w, sign, E)
        return np.asarray(signed), E

    def update(self, w, trace, signal: float, state) -> tuple[np.ndarray, tuple, float]:
        """One update of all edges (pure: the inputs are not modified).

        Parameters
        ----------
        w : ndarray, shape (n_edges,)
            Weight magnitudes.
        trace : ndarray, shape (n_edges,)
            The trial's trace.
        signal : float
            The trial's learning signal (``signal = "scalar"`` rules).
        state : State

        Returns
        -------
        (ndarray, State, float)
            New weights, new state, the summed size of the relative changes.
        """
        w = np.array(w, dtype=np.float64)
        E = np.array(trace, dtype=np.float64)
        if w.ndim != 1 or E.shape != w.shape:
            raise ValidationError(
                f"w and trace must have one shape (n_edges,), got {w.shape}, {E.shape}"
            )
        st = self.State(*(np.array(a) for a in state))
        rel = _update_one(self.kernel_params(), st, w, E, float(signal))
        return w, st, float(rel)


def register_rule(
    cls: type, trace_kernel, update_kernel, params_type: type, perturb_kernel=None
) -> type:
    """Register a rule class and its kernels (``params_type``: its kernel-parameter
    NamedTuple, the type the compiled dispatch keys on; ``perturb_kernel``: exactly for
    rules with ``perturbs`` set)."""
    if not (isinstance(cls, type) and issubclass(cls, Rule)):
        raise ValidationError(f"{cls!r} is not a Rule subclass")
    if cls.signal not in SIGNALS:
        raise ValidationError(f"{cls.__name__}.signal = {cls.signal!r} is not one of {SIGNALS}")
    if cls.perturbs not in (None, "weights", "nodes"):
        raise ValidationError(
            f"{cls.__name__}.perturbs = {cls.perturbs!r} is not one of None, 'weights', 'nodes'"
        )
    if (cls.perturbs is not None) != (perturb_kernel is not None):
        raise ValidationError(
            f"{cls.__name__}.perturbs = {cls.perturbs!r} but a perturb kernel was "
            f"{'not ' if perturb_kernel is None else ''}given"
        )
    _RULES[cls.name] = cls
    _TRACE[params_type] = trace_kernel
    _UPDATE[params_type] = update_kernel
    if perturb_kernel is not None:
        _PERTURB[params_type] = (cls.perturbs, perturb_kernel)
    return cls


def check_rule_engine(rule: Rule, engine: str) -> None:
    """Raise :class:`ValidationError` if ``rule`` cannot be trained on ``engine`` (the
    message names the rule, the engine and the engines it runs on)."""
    if engine not in rule.engines:
        raise ValidationError(
            f"rule {rule.name!r} cannot run on engine {engine!r}: its kernels run on "
            f"{', '.join(rule.engines)} only"
        )


def available_rules() -> list[str]:
    """Names of the registered rules (the package's modules register theirs on import:
    importing any part of :mod:`spikesim.plasticity` imports them all)."""
    return sorted(_RULES)


def get_rule(name: str) -> type:
    """The rule class registered as ``name``."""
    names = available_rules()
    if name not in _RULES:
        raise ValidationError(f"rule.kind = {name!r} is not one of {', '.join(names)}")
    return _RULES[name]


# -- compiled dispatch -------------------------------------------------------------------------
def rule_trace(kp, net, spikes, duration, out):
    """Compiled code only: the rule of ``kp`` fills ``out`` (n_edges,) with one trial's trace
    from its ``spikes`` (:class:`~spikesim.engines.event.TrialSpikes`)."""
    raise NotImplementedError("rule_trace is called from Numba code only")


def rule_update(kp, ks, w, E, signal, lo, hi):
    """Compiled code only: the rule of ``kp`` updates ``w[lo:hi]`` (and its state ``ks``)
    with the trace ``E`` and the learning signal; returns the summed size of the relative
    changes over the range."""
    raise NotImplementedError("rule_update is called from Numba code only")


def rule_weights(kp, run_seed, trial, net, w, sign, signed, E):
    """Compiled code only: the signed weights (n_edges,) global trial ``trial`` runs with. A
    perturbing rule draws its noise from ``trial_seed(run_seed, trial)`` into the trace row
    ``E`` and returns perturbed weights (a new array); any other rule returns ``signed``
    itself (and computes nothing). ``net``: the network's EventNet record."""
    raise NotImplementedError("rule_weights is called from Numba code only")


@overload(rule_weights, jit_options={"nogil": True})
def _ov_weights(kp, run_seed, trial, net, w, sign, signed, E):
    cls = getattr(kp, "instance_class", None)
    if cls not in _TRACE:
        return None
    kind = _PERTURB.get(cls, (None, None))[0]
    if kind is None:

        def plain(kp, run_seed, trial, net, w, sign, signed, E):
            return signed

        return plain
    if kind == "weights":

        def impl(kp, run_seed, trial, net, w, sign, signed, E):
            return rule_perturb(kp, trial_seed(run_seed, trial), w, sign, E)

        return impl

    def impl_nodes(kp, run_seed, trial, net, w, sign, signed, E):
        return rule_perturb_nodes(kp, trial_seed(run_seed, trial), net, w, sign, E)

    return impl_nodes


def rule_perturb(kp, seed, w, sign, E):
    """Compiled code only: a weight-perturbing rule's ``perturb`` kernel with the seed given."""
    raise NotImplementedError("rule_perturb is called from Numba code only")


@overload(rule_perturb, jit_options={"nogil": True})
def _ov_perturb(kp, seed, w, sign, E):
    kind, kernel = _PERTURB.get(getattr(kp, "instance_class", None), (None, None))
    if kind != "weights":
        return None

    def impl(kp, seed, w, sign, E):
        return kernel(kp, seed, w, sign, E)

    return impl


def rule_perturb_nodes(kp, seed, net, w, sign, E):
    """Compiled code only: a node-perturbing rule's ``perturb`` kernel with the seed given."""
    raise NotImplementedError("rule_perturb_nodes is called from Numba code only")


@overload(rule_perturb_nodes, jit_options={"nogil": True})
def _ov_perturb_nodes(kp, seed, net, w, sign, E):
    kind, kernel = _PERTURB.get(getattr(kp, "instance_class", None), (None, None))
    if kind != "nodes":
        return None

    def impl(kp, seed, net, w, sign, E):
        return kernel(kp, seed, net, w, sign, E)

    return impl


@njit(cache=True, nogil=True)
def _weights_one(kp, seed, w, sign, E):
    return rule_perturb(kp, seed, w, sign, E)


@njit(cache=True, nogil=True)
def _nodes_one(kp, seed, net, w, sign, E):
    return rule_perturb_nodes(kp, seed, net, w, sign, E)


@njit(cache=True, nogil=True)
def trial_seed(run_seed, trial):
    """The perturbation seed of global trial ``trial`` of a run (splitmix64 of the two,
    reduced to 32 bits: Numba's ``np.random.seed`` takes a 32-bit integer)."""
    z = np.uint64(run_seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(trial)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z >> np.uint64(32))


@overload(rule_trace, jit_options={"nogil": True})
def _ov_trace(kp, net, spikes, duration, out):
    kernel = _TRACE.get(getattr(kp, "instance_class", None))
    if kernel is None:
        return None

    def impl(kp, net, spikes, duration, out):
        kernel(kp, net, spikes, duration, out)

    return impl


@overload(rule_update, jit_options={"nogil": True})
def _ov_update(kp, ks, w, E, signal, lo, hi):
    kernel = _UPDATE.get(getattr(kp, "instance_class", None))
    if kernel is None:
        return None

    def impl(kp, ks, w, E, signal, lo, hi):
        return kernel(kp, ks, w, E, signal, lo, hi)

    return impl


@njit(cache=True, nogil=True)
def _trace_one(kp, net, start, count, buf, duration, out):
    rule_trace(kp, net, TrialSpikes(start, count, buf, no_arrivals()), duration, out)


@njit(cache=True, nogil=True)
def _update_one(kp, ks, w, E, signal):
    return rule_update(kp, ks, w, E, signal, 0, w.shape[0])


@njit(cache=True, nogil=True)
def _update_ranges(kp, ks, w, E, signal, bounds):
    total = 0.0
    for i in range(bounds.shape[0] - 1):
        total += rule_update(kp, ks, w, E, signal, bounds[i], bounds[i + 1])
    return total


def _update_range_once(rule: Rule, w, trace, signal: float, state, bounds):
    """:meth:`Rule.update` done range by range (``bounds``: edge boundaries); for tests."""
    w = np.array(w, dtype=np.float64)
    E = np.array(trace, dtype=np.float64)
    st = rule.State(*(np.array(a) for a in state))
    rel = _update_ranges(
        rule.kernel_params(), st, w, E, float(signal), np.asarray(bounds, np.int64)
    )
    return w, st, float(rel)
