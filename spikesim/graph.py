"""The spiking network: a directed acyclic graph (DAG) of threshold neurons.

See ``../shared/DESIGN.md`` ("The spiking model") and Schmidt-Hieber (2023), sec. 2.
Edge ``e`` goes from ``pre[e]`` to ``post[e]`` with weight magnitude ``weight[e] >= 0``,
fixed sign ``sign[e]`` in {+1, -1} and delay ``delay[e] >= 0`` (seconds). Neuron ``j``'s
potential is the superposition of exponential kernels of its arrivals since its last reset,

    V_j(t) = sum_{arrivals (e, tau), tau <= t} sign[e] * weight[e] * exp(-(t - tau) / tau_syn[j]),

it spikes when ``V_j >= threshold[j]``, resets to 0 and ignores arrivals for ``t_ref[j]``.

This module only describes structure and parameters; it never imports an engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["Network", "NetworkArrays", "layer_edges", "layered", "random_dag"]


# Largest network the builders accept (memory guard; a clear error instead of an OOM kill).
MAX_NEURONS = 10**8
MAX_EDGES = 10**8

#: Peak bytes of :func:`layered` per possible edge (the pairs it enumerates and draws)
#: and per edge it keeps, fitted to ``tracemalloc`` peaks of ``layered([1000, 1000])``,
#: ``layered([2000, 2000])`` (114 B per edge, dense) and ``layered([3000, 3000],
#: p_connect=0.1)`` (2.55e8 B), Python 3.12, numpy 2.
BYTES_PER_POSSIBLE_EDGE = 19
BYTES_PER_EDGE = 96
#: Fraction of ``MemAvailable`` a network may take when ``SPIKESIM_MEMORY_LIMIT`` is unset.
MEMORY_FRACTION = 0.5


def memory_limit() -> int:
    """Bytes a network build may take: ``$SPIKESIM_MEMORY_LIMIT`` if set, else
    :data:`MEMORY_FRACTION` of ``MemAvailable`` in ``/proc/meminfo`` (no limit where that
    cannot be read)."""
    import os

    raw = os.environ.get("SPIKESIM_MEMORY_LIMIT")
    if raw:
        try:
            value = int(float(raw))
        except ValueError:
            raise ValidationError(
                f"SPIKESIM_MEMORY_LIMIT={raw!r} is not a number of bytes"
            ) from None
        if value <= 0:
            raise ValidationError(f"SPIKESIM_MEMORY_LIMIT={raw!r} must be positive")
        return value
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(MEMORY_FRACTION * int(line.split()[1]) * 1024)
    except OSError:
        pass
    return 2**63 - 1


def estimate_layered_bytes(sizes, p_connect: float) -> int:
    """Peak memory (bytes) of ``layered(sizes, p_connect=p_connect)``.

    ``possible`` = sum of products of consecutive layer sizes (every pair is enumerated),
    expected edges = ``possible * p_connect``; the estimate is ``possible *``
    :data:`BYTES_PER_POSSIBLE_EDGE` ``+ expected *`` :data:`BYTES_PER_EDGE`.
    """
    possible = sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    expected = possible * float(p_connect)
    return int(possible * BYTES_PER_POSSIBLE_EDGE + expected * BYTES_PER_EDGE)


def check_memory(estimate: int, what: str) -> None:
    """Refuse (ValidationError with the estimate and the limit) a build over the limit."""
    limit = memory_limit()
    if estimate > limit:
        raise ValidationError(
            f"{what} would take about {estimate / 2**30:.3g} GiB, more than the limit "
            f"{limit / 2**30:.3g} GiB (half the available memory; set SPIKESIM_MEMORY_LIMIT "
            "in bytes to change it)"
        )


def _asarray(name: str, value) -> np.ndarray:
    try:
        return np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"{name} must be an array of numbers: {exc}") from None


def _int_arg(name: str, value, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValidationError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValidationError(f"{name} must be {rng}, got {value!r}")
    return int(value)


def _float_arg(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValidationError(f"{name} must be a number, got {value!r}")
    try:
        f = float(value)
    except OverflowError:
        f = np.inf
    if not np.isfinite(f):
        raise ValidationError(f"{name} must be finite, got {value!r}")
    return f


def _as_1d(name: str, value, n: int, dtype, *, allow_scalar: bool, per: str = "") -> np.ndarray:
    arr = _asarray(name, value)
    per = f" ({per})" if per else ""
    if arr.ndim == 0:
        if not allow_scalar:
            raise ValidationError(f"{name} must be an array of length {n}{per}, got a scalar")
        arr = np.full(n, arr.item())
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValidationError(f"{name} must have length {n}{per}, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValidationError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype != np.float64:
        # compare and cast in float64 (float16 comparisons with 2**63 overflow)
        with np.errstate(over="ignore"):
            arr = arr.astype(np.float64)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        k = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValidationError(f"{name}[{k}] is {arr[k].item()!r}; all values must be finite")
    if np.dtype(dtype).kind == "i" and arr.size:
        # values that int64 cannot hold would wrap around in the cast
        if arr.dtype.kind == "f":
            too_big = np.abs(arr) >= 2.0**63
        elif arr.dtype.kind == "u":
            too_big = arr > np.iinfo(np.int64).max
        else:
            too_big = np.zeros(arr.shape, bool)
        if too_big.any():
            k = int(np.flatnonzero(too_big)[0])
            raise ValidationError(f"{name}[{k}] = {arr[k].item()!r} is out of range")
    out = arr.astype(dtype)
    if np.dtype(dtype).kind == "i" and arr.dtype.kind == "f" and not np.array_equal(out, arr):
        k = int(np.flatnonzero(out != arr)[0])
        raise ValidationError(f"{name}[{k}] = {arr[k].item()!r} is not an integer")
    return np.ascontiguousarray(out)


def _ids_1d(name: str, value) -> np.ndarray:
    """A 1-d int64 array of ids from a scalar or a 1-d array_like."""
    arr = np.atleast_1d(_asarray(name, value))
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    return _as_1d(name, arr, arr.shape[0], np.int64, allow_scalar=False)


def _find_cycle(n: int, pre: np.ndarray, post: np.ndarray) -> list[int]:
    """Return the neurons of one directed cycle (first repeated at the end), or []."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(pre.tolist(), post.tolist(), strict=True):
        adj[a].append(b)
    color = [0] * n  # 0 new, 1 on stack, 2 done
    parent = [-1] * n
    for root in range(n):
        if color[root]:
            continue
        stack = [(root, 0)]
        color[root] = 1
        while stack:
            v, k = stack[-1]
            if k < len(adj[v]):
                stack[-1] = (v, k + 1)
                w = adj[v][k]
                if color[w] == 0:
                    color[w] = 1
                    parent[w] = v
                    stack.append((w, 0))
                elif color[w] == 1:
                    cycle = [v]
                    while cycle[-1] != w:
                        cycle.append(parent[cycle[-1]])
                    cycle.reverse()
                    return cycle + [cycle[0]]
            else:
                color[v] = 2
                stack.pop()
    return []


class NetworkArrays(NamedTuple):
    """A network's arrays as one read-only record, for numerical kernels.

    Every array is read-only and C-contiguous; ``n = n_neurons``, ``m = n_edges``.

    Attributes
    ----------
    order : ndarray of int64, shape (n,)
        A topological order (inputs first).
    is_input : ndarray of bool, shape (n,)
    in_ptr, in_edges : ndarray of int64, shapes (n + 1,), (m,)
        Incoming CSR: neuron ``j``'s incoming edges are ``in_edges[in_ptr[j]:in_ptr[j+1]]``
        (grouped by target, in edge order within a target).
    out_ptr, out_edges : ndarray of int64, shapes (n + 1,), (m,)
        Outgoing CSR, the same for sources.
    pre, post : ndarray of int64, shape (m,)
    weight : ndarray of float64, shape (m,)
        Weight magnitudes (threshold units).
    delay : ndarray of float64, shape (m,)
        Seconds.
    sign : ndarray of int, shape (m,)
        +1 or -1.
    tau_syn, threshold, t_ref : ndarray of float64, shape (n,)
        Seconds, threshold units, seconds.
    """

    order: np.ndarray
    is_input: np.ndarray
    in_ptr: np.ndarray
    in_edges: np.ndarray
    out_ptr: np.ndarray
    out_edges: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    sign: np.ndarray
    tau_syn: np.ndarray
    threshold: np.ndarray
    t_ref: np.ndarray


@dataclass(frozen=True, eq=False)
class Network:
    """A spiking DAG: structure, weights and neuron parameters.

    Parameters
    ----------
    n_neurons : int
        Number of neurons ``n``; neurons are ``0 .. n-1``.
    pre, post : array_like of int, shape (n_edges,)
        Source and target neuron of each edge.
    weight : array_like of float, shape (n_edges,)
        Weight magnitudes ``w_ij >= 0`` (units of the potential, threshold-relative).
    delay : array_like of float, shape (n_edges,) or scalar, optional
        Transmission delays ``d_ij >= 0`` in seconds (default 0).
    sign : array_like of {+1, -1}, shape (n_edges,) or scalar, optional
        Fixed sign of each edge; +1 excitatory (default), -1 inhibitory.
    inputs : array_like of int
        Input neurons (driven by encoded data; no incoming edges allowed).
    outputs : array_like of int
        Output neurons (decoded into a prediction).
    tau_syn : float or array_like, shape (n_neurons,)
        Synaptic (kernel) time constant in seconds, > 0.
    threshold : float or array_like, shape (n_neurons,)
        Firing threshold ``S`` > 0.
    t_ref : float or array_like, shape (n_neurons,)
        Refractory period in seconds, >= 0. Arrivals in ``[t_spike, t_spike + t_ref)`` are
        ignored.
    layers : sequence of array_like of int, optional
        Neuron groups for plotting (e.g. the layers of a layered network).

    Raises
    ------
    ValidationError
        Mismatched lengths, out-of-range neuron ids, NaN or infinite values, negative
        weights or delays, a sign other than +-1, an edge into an input neuron, non-positive
        tau_syn or threshold, negative t_ref, or a cycle (its neurons are named).
    """

    n_neurons: int
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay: np.ndarray | float = 0.0
    sign: np.ndarray | int = 1
    inputs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    outputs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tau_syn: np.ndarray | float = 0.01
    threshold: np.ndarray | float = 1.0
    t_ref: np.ndarray | float = 0.002
    layers: tuple[np.ndarray, ...] | None = None

    def __post_init__(self) -> None:
        n = self.n_neurons
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValidationError(f"n_neurons must be a positive integer, got {n!r}")
        if n > MAX_NEURONS:
            raise ValidationError(f"n_neurons = {n} is more than the limit {MAX_NEURONS}")
        n = int(n)
        set_ = object.__setattr__
        set_(self, "n_neurons", n)
        pre = _asarray("pre", self.pre)
        if pre.ndim != 1:
            raise ValidationError(f"pre must be one-dimensional, got shape {pre.shape}")
        m = pre.shape[0]
        pre = _as_1d("pre", pre, m, np.int64, allow_scalar=False)
        post = _as_1d(
            "post", self.post, m, np.int64, allow_scalar=False, per="one per edge, as many as pre"
        )
        for name, arr in (("pre", pre), ("post", post)):
            bad = np.flatnonzero((arr < 0) | (arr >= n))
            if bad.size:
                k = int(bad[0])
                raise ValidationError(f"{name}[{k}] = {arr[k]} is not a neuron (n_neurons = {n})")
        weight = _as_1d(
            "weight",
            self.weight,
            m,
            np.float64,
            allow_scalar=True,
            per="one per edge, as many as pre",
        )
        delay = _as_1d(
            "delay",
            self.delay,
            m,
            np.float64,
            allow_scalar=True,
            per="one per edge, as many as pre",
        )
        sign = _as_1d(
            "sign", self.sign, m, np.float64, allow_scalar=True, per="one per edge, as many as pre"
        )
        for name, arr in (("weight", weight), ("delay", delay)):
            bad = np.flatnonzero(arr < 0)
            if bad.size:
                k = int(bad[0])
                raise ValidationError(f"{name}[{k}] = {arr[k].item()!r} is negative")
        bad = np.flatnonzero((sign != 1) & (sign != -1))
        if bad.size:
            k = int(bad[0])
            raise ValidationError(f"sign[{k}] = {sign[k].item()!r}; signs must be +1 or -1")
        sign = sign.astype(np.int8)
        inputs = np.unique(_ids_1d("inputs", self.inputs))
        outputs = _ids_1d("outputs", self.outputs)
        for name, arr in (("inputs", inputs), ("outputs", outputs)):
            bad = np.flatnonzero((arr < 0) | (arr >= n))
            if bad.size:
                raise ValidationError(
                    f"{name} contains {arr[bad[0]]}, which is not a neuron (n_neurons = {n})"
                )
        is_input = np.zeros(n, bool)
        is_input[inputs] = True
        into_input = np.flatnonzero(is_input[post])
        if into_input.size:
            k = int(into_input[0])
            raise ValidationError(
                f"edge {k} ({pre[k]} -> {post[k]}) goes into input neuron {post[k]}; "
                "input neurons are driven by data only"
            )
        tau = _as_1d(
            "tau_syn", self.tau_syn, n, np.float64, allow_scalar=True, per="one per neuron"
        )
        thr = _as_1d(
            "threshold", self.threshold, n, np.float64, allow_scalar=True, per="one per neuron"
        )
        tref = _as_1d("t_ref", self.t_ref, n, np.float64, allow_scalar=True, per="one per neuron")
        for name, arr, ok in (
            ("tau_syn", tau, tau > 0),
            ("threshold", thr, thr > 0),
            ("t_ref", tref, tref >= 0),
        ):
            bad = np.flatnonzero(~ok)
            if bad.size:
                k = int(bad[0])
                rel = ">= 0" if name == "t_ref" else "> 0"
                raise ValidationError(f"{name} of neuron {k} is {arr[k].item()!r}; must be {rel}")
        order = _topological_order(n, pre, post)
        if order is None:
            cycle = _find_cycle(n, pre, post)
            raise ValidationError("the network has a cycle: " + " -> ".join(str(c) for c in cycle))
        for name, arr in (
            ("pre", pre),
            ("post", post),
            ("weight", weight),
            ("delay", delay),
            ("sign", sign),
            ("inputs", inputs),
            ("outputs", outputs),
            ("tau_syn", tau),
            ("threshold", thr),
            ("t_ref", tref),
        ):
            arr.setflags(write=False)
            set_(self, name, arr)
        if self.layers is not None:
            try:
                groups = list(self.layers)
            except TypeError:
                raise ValidationError(
                    f"layers must be a sequence of neuron-id arrays, got {self.layers!r}"
                ) from None
            layers = tuple(_ids_1d(f"layers[{k}]", g) for k, g in enumerate(groups))
            for k, g in enumerate(layers):
                bad = np.flatnonzero((g < 0) | (g >= n))
                if bad.size:
                    raise ValidationError(
                        f"layers[{k}] contains {g[bad[0]]}, which is not a neuron (n_neurons = {n})"
                    )
            set_(self, "layers", layers)
        order.setflags(write=False)
        set_(self, "_order", order)
        # Incoming CSR: edges grouped by target, in edge order within a target.
        in_edges = np.argsort(post, kind="stable").astype(np.int64)
        in_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(post, minlength=n), out=in_ptr[1:])
        out_edges = np.argsort(pre, kind="stable").astype(np.int64)
        out_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(pre, minlength=n), out=out_ptr[1:])
        for arr in (in_edges, in_ptr, out_edges, out_ptr, is_input):
            arr.setflags(write=False)
        set_(self, "_in_edges", in_edges)
        set_(self, "_in_ptr", in_ptr)
        set_(self, "_out_edges", out_edges)
        set_(self, "_out_ptr", out_ptr)
        set_(self, "_is_input", is_input)

    # -- derived structure ----------------------------------------------------------------
    def arrays(self) -> NetworkArrays:
        """All of the network's arrays, the derived CSR structure included, as one record.

        The public way for kernels (engines, plasticity) to read the structure; the arrays
        are the network's own read-only arrays (no copies).
        """
        return NetworkArrays(
            order=self._order,
            is_input=self._is_input,
            in_ptr=self._in_ptr,
            in_edges=self._in_edges,
            out_ptr=self._out_ptr,
            out_edges=self._out_edges,
            pre=self.pre,
            post=self.post,
            weight=self.weight,
            delay=self.delay,
            sign=self.sign,
            tau_syn=self.tau_syn,
            threshold=self.threshold,
            t_ref=self.t_ref,
        )

    @property
    def n_edges(self) -> int:
        """Number of edges (synapses)."""
        return int(self.pre.shape[0])

    @property
    def order(self) -> np.ndarray:
        """A topological order of the neurons, shape (n_neurons,) (inputs first)."""
        return self._order

    @property
    def is_input(self) -> np.ndarray:
        """Boolean mask of input neurons, shape (n_neurons,)."""
        return self._is_input

    @property
    def signed_weight(self) -> np.ndarray:
        """``sign * weight``, shape (n_edges,)."""
        return self.sign * self.weight

    def incoming(self, j: int) -> np.ndarray:
        """Edge ids into neuron ``j``."""
        return self._in_edges[self._in_ptr[j] : self._in_ptr[j + 1]]

    def outgoing(self, i: int) -> np.ndarray:
        """Edge ids out of neuron ``i``."""
        return self._out_edges[self._out_ptr[i] : self._out_ptr[i + 1]]

    def depth(self) -> np.ndarray:
        """Longest path (in edges) from any source to each neuron, shape (n_neurons,)."""
        d = np.zeros(self.n_neurons, np.int64)
        for j in self._order:
            e = self.incoming(j)
            if e.size:
                d[j] = d[self.pre[e]].max() + 1
        return d

    def groups(self) -> list[np.ndarray]:
        """Neuron groups for plotting: ``layers`` if given, else neurons grouped by depth."""
        if self.layers is not None:
            return list(self.layers)
        d = self.depth()
        return [np.flatnonzero(d == k) for k in range(int(d.max()) + 1)]

    def with_weights(self, weight: np.ndarray) -> Network:
        """A copy of this network with new weight magnitudes, shape (n_edges,)."""
        return Network(
            n_neurons=self.n_neurons,
            pre=self.pre,
            post=self.post,
            weight=weight,
            delay=self.delay,
            sign=self.sign,
            inputs=self.inputs,
            outputs=self.outputs,
            tau_syn=self.tau_syn,
            threshold=self.threshold,
            t_ref=self.t_ref,
            layers=self.layers,
        )

    def check_weights(self, weight) -> np.ndarray:
        """Validate a weight vector for this network; returns it as float64 (n_edges,)."""
        w = _as_1d("weights", weight, self.n_edges, np.float64, allow_scalar=False)
        bad = np.flatnonzero(w < 0)
        if bad.size:
            k = int(bad[0])
            raise ValidationError(f"weights[{k}] = {w[k].item()!r} is negative")
        return w

    def structure_key(self) -> str:
        """A hash of everything but the weights (for caches keyed by structure)."""
        import hashlib

        h = hashlib.sha1()
        for arr in (
            self.pre,
            self.post,
            self.delay,
            self.sign,
            self.inputs,
            self.outputs,
            self.tau_syn,
            self.threshold,
            self.t_ref,
        ):
            h.update(np.ascontiguousarray(arr).tobytes())
            h.update(b"|")
        h.update(str(self.n_neurons).encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"Network(n_neurons={self.n_neurons}, n_edges={self.n_edges}, "
            f"inputs={self.inputs.size}, outputs={self.outputs.size})"
        )


def _topological_order(n: int, pre: np.ndarray, post: np.ndarray) -> np.ndarray | None:
    """Kahn's algorithm, smallest index first among ready neurons; None if cyclic."""
    import heapq

    indeg = np.bincount(post, minlength=n)
    adj_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n), out=adj_ptr[1:])
    adj = post[np.argsort(pre, kind="stable")]
    ready = [int(v) for v in np.flatnonzero(indeg == 0)]
    heapq.heapify(ready)
    indeg = indeg.copy()
    order = []
    while ready:
        v = heapq.heappop(ready)
        order.append(v)
        for w in adj[adj_ptr[v] : adj_ptr[v + 1]].tolist():
            indeg[w] -= 1
            if indeg[w] == 0:
                heapq.heappush(ready, w)
    if len(order) < n:
        return None
    return np.asarray(order, np.int64)


def layer_edges(sizes: Sequence[int]) -> tuple[np.ndarray, tuple[np.ndarray, ...], list]:
    """The dense connections of a layered network ``sizes[0] -> ... -> sizes[-1]``.

    The shared core of the layered builders (:func:`layered`,
    :func:`spikesim.plasticity.tasks.ei_network`); it draws no random numbers.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes (already validated); neurons are numbered layer by layer.

    Returns
    -------
    offsets : ndarray of int, shape (n_layers + 1,)
        Layer ``k`` is neurons ``offsets[k] .. offsets[k+1] - 1``.
    layers : tuple of ndarray of int
        The neurons of each layer.
    transitions : list of (ndarray, ndarray)
        Per layer transition ``k``, the ``(pre, post)`` of every pair of layer ``k`` and
        layer ``k + 1``, each shape (sizes[k] * sizes[k+1],), in post-major order (the
        edges into one neuron are contiguous).
    """
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    layers = tuple(np.arange(offsets[k], offsets[k + 1]) for k in range(len(sizes)))
    transitions = []
    for k in range(len(sizes) - 1):
        a, b = layers[k], layers[k + 1]
        transitions.append((np.tile(a, b.size), np.repeat(b, a.size)))
    return offsets, layers, transitions


def layered(
    sizes: Sequence[int],
    *,
    p_connect: float = 1.0,
    weight_mean: float | Sequence[float] | None = None,
    weight_spread: float = 1.0,
    inhibitory_fraction: float = 0.0,
    delay: float = 0.0,
    tau_syn: float = 0.01,
    threshold: float = 1.0,
    t_ref: float = 0.002,
    seed: int = 0,
) -> Network:
    """A layered feed-forward network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, e.g. ``[784, 100, 10]``; the first layer are the inputs, the last the
        outputs. Neurons are numbered layer by layer.
    p_connect : float
        Probability of each possible edge between consecutive layers (1.0: dense).
    weight_mean : float or sequence of float, optional
        Mean weight per layer transition (one value, or ``len(sizes) - 1`` values). Default
        ``2 * threshold / (p_connect * fan_in)``.
    weight_spread : float
        Weights are uniform on ``mean * [1 - spread, 1 + spread]`` (0 <= spread <= 1).
    inhibitory_fraction : float
        Fraction of edges made inhibitory (sign -1), chosen at random.
    delay : float
        Delay of every edge, seconds.
    tau_syn, threshold, t_ref : float
        Neuron parameters (seconds, threshold units, seconds).
    seed : int
        Seed for the connectivity, weights and signs.

    Returns
    -------
    Network
    """
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValidationError(f"sizes must be a list of layer sizes, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValidationError(f"sizes must list at least two positive layer sizes, got {sizes}")
    sizes = [_int_arg(f"sizes[{k}]", s, low=1, high=MAX_NEURONS) for k, s in enumerate(sizes)]
    if sum(sizes) > MAX_NEURONS:
        raise ValidationError(f"sizes {sizes} add up to more than {MAX_NEURONS} neurons")
    p_connect = _float_arg("p_connect", p_connect)
    weight_spread = _float_arg("weight_spread", weight_spread)
    inhibitory_fraction = _float_arg("inhibitory_fraction", inhibitory_fraction)
    threshold = _float_arg("threshold", threshold)
    if not 0.0 < p_connect <= 1.0:
        raise ValidationError(f"p_connect must be in (0, 1], got {p_connect!r}")
    check_memory(
        estimate_layered_bytes(sizes, p_connect), f"layered({sizes}, p_connect={p_connect:g})"
    )
    if not 0.0 <= weight_spread <= 1.0:
        raise ValidationError(f"weight_spread must be in [0, 1], got {weight_spread!r}")
    if not 0.0 <= inhibitory_fraction <= 1.0:
        raise ValidationError(f"inhibitory_fraction must be in [0, 1], got {inhibitory_fraction!r}")
    seed = _int_arg("seed", seed, low=0)
    n_trans = len(sizes) - 1
    if weight_mean is None:
        means = [2.0 * threshold / (p_connect * sizes[k]) for k in range(n_trans)]
    else:
        wm = _asarray("weight_mean", weight_mean)
        if wm.dtype.kind not in "iuf" or wm.ndim > 1 or wm.size not in (1, n_trans):
            raise ValidationError(
                f"weight_mean must be one number or {n_trans} numbers (one per layer "
                f"transition), got {weight_mean!r}"
            )
        means = [_float_arg(f"weight_mean[{k}]", v) for k, v in enumerate(wm.ravel().tolist())]
        means = means * n_trans if len(means) == 1 else means
    rng = np.random.default_rng(seed)
    offsets, layers, transitions = layer_edges(sizes)
    pres, posts, weights = [], [], []
    for k, (pp, qq) in enumerate(transitions):
        if p_connect < 1.0:
            keep = rng.random(pp.size) < p_connect
            pp, qq = pp[keep], qq[keep]
        w = means[k] * rng.uniform(1 - weight_spread, 1 + weight_spread, pp.size)
        pres.append(pp)
        posts.append(qq)
        weights.append(w)
    pre = np.concatenate(pres)
    post = np.concatenate(posts)
    weight = np.concatenate(weights)
    sign = np.where(rng.random(pre.size) < inhibitory_fraction, -1, 1)
    return Network(
        n_neurons=int(offsets[-1]),
        pre=pre,
        post=post,
        weight=weight,
        delay=delay,
        sign=sign,
        inputs=layers[0],
        outputs=layers[-1],
        tau_syn=tau_syn,
        threshold=threshold,
        t_ref=t_ref,
        layers=layers,
    )


def random_dag(
    n_neurons: int,
    *,
    n_inputs: int,
    n_outputs: int,
    p_edge: float = 0.3,
    weight_range: tuple[float, float] = (0.2, 1.0),
    delay_range: tuple[float, float] = (0.0, 0.002),
    inhibitory_fraction: float = 0.2,
    tau_syn: float = 0.01,
    threshold: float = 1.0,
    t_ref: float = 0.002,
    seed: int = 0,
) -> Network:
    """A random DAG: a random order of the neurons, each forward pair an edge with ``p_edge``.

    The first ``n_inputs`` neurons of the order are inputs (no incoming edges), the last
    ``n_outputs`` are outputs. Weights and delays (seconds) are uniform on their ranges.
    """
    n_neurons = _int_arg("n_neurons", n_neurons, low=2)
    n_inputs = _int_arg("n_inputs", n_inputs, low=1)
    n_outputs = _int_arg("n_outputs", n_outputs, low=1)
    if n_inputs + n_outputs > n_neurons:
        raise ValidationError(
            f"need 1 <= n_inputs, 1 <= n_outputs and n_inputs + n_outputs <= n_neurons; "
            f"got {n_inputs}, {n_outputs}, {n_neurons}"
        )
    if n_neurons * (n_neurons - 1) // 2 > MAX_EDGES:
        raise ValidationError(
            f"n_neurons = {n_neurons} allows more than {MAX_EDGES} edges, the limit of random_dag"
        )
    p_edge = _float_arg("p_edge", p_edge)
    if not 0.0 <= p_edge <= 1.0:
        raise ValidationError(f"p_edge must be in [0, 1], got {p_edge!r}")
    inhibitory_fraction = _float_arg("inhibitory_fraction", inhibitory_fraction)
    if not 0.0 <= inhibitory_fraction <= 1.0:
        raise ValidationError(f"inhibitory_fraction must be in [0, 1], got {inhibitory_fraction!r}")
    ranges = {}
    for name, value in (("weight_range", weight_range), ("delay_range", delay_range)):
        try:
            lo, hi = value
        except (TypeError, ValueError):
            raise ValidationError(f"{name} must be a pair (low, high), got {value!r}") from None
        lo, hi = _float_arg(f"{name}[0]", lo), _float_arg(f"{name}[1]", hi)
        if not 0.0 <= lo <= hi:
            raise ValidationError(f"{name} must satisfy 0 <= low <= high, got {value!r}")
        ranges[name] = (lo, hi)
    weight_range, delay_range = ranges["weight_range"], ranges["delay_range"]
    seed = _int_arg("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_neurons)
    a, b = np.triu_indices(n_neurons, k=1)
    keep = (rng.random(a.size) < p_edge) & (b >= n_inputs)
    pre, post = perm[a[keep]], perm[b[keep]]
    m = pre.size
    weight = rng.uniform(*weight_range, m)
    delay = rng.uniform(*delay_range, m)
    sign = np.where(rng.random(m) < inhibitory_fraction, -1, 1)
    return Network(
        n_neurons=n_neurons,
        pre=pre,
        post=post,
        weight=weight,
        delay=delay,
        sign=sign,
        inputs=perm[:n_inputs],
        outputs=perm[n_neurons - n_outputs :],
        tau_syn=tau_syn,
        threshold=threshold,
        t_ref=t_ref,
    )
