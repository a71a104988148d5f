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
from numba import njit

from spikesim.errors import ValidationError

__all__ = ["Network", "NetworkArrays", "layer_edges", "layered", "random_dag"]


# Largest network the builders accept (memory guard; a clear error instead of an OOM kill).
MAX_NEURONS = 10**8
MAX_EDGES = 10**8
_HASH_CHUNK = 1 << 20

#: Peak bytes of :func:`layered` per edge of a dense layer transition (``p_connect = 1``):
#: the network's own arrays and nothing else (``pre``, ``post`` int32, ``weight`` float64,
#: ``in_edges``, ``out_edges`` int32; uniform delays and signs are stride-0 views), fitted to
#: ``tracemalloc`` peaks of ``layered([1000, 1000])`` and ``layered([2000, 2000])`` (24.1 B),
#: Python 3.12, numpy 2.
BYTES_PER_EDGE = 24
#: With ``p_connect < 1``: a byte per possible pair (the drawn mask) and 44 bytes per kept
#: edge (the kept pairs' indices as temporaries), fitted to ``layered([300, 300], 0.5)`` and
#: ``layered([3000, 3000], p_connect)`` for 0.1 and 0.5 (1 + 44).
BYTES_PER_POSSIBLE_EDGE = 1
BYTES_PER_SPARSE_EDGE = 44
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

    ``possible`` = sum of products of consecutive layer sizes; dense (``p_connect = 1``):
    ``possible *`` :data:`BYTES_PER_EDGE`; otherwise ``possible *``
    :data:`BYTES_PER_POSSIBLE_EDGE` ``+ possible * p_connect *`` :data:`BYTES_PER_SPARSE_EDGE`.
    """
    possible = sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if float(p_connect) >= 1.0:
        return possible * BYTES_PER_EDGE
    expected = possible * float(p_connect)
    return int(possible * BYTES_PER_POSSIBLE_EDGE + expected * BYTES_PER_SPARSE_EDGE)


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


def _as_1d(
    name: str,
    value,
    n: int,
    dtype,
    *,
    allow_scalar: bool,
    per: str = "",
    broadcast: bool = False,
) -> np.ndarray:
    """``value`` checked and cast to a 1-d ``dtype`` array of length ``n``.

    The checks are reductions (``min``/``max``) that allocate nothing per element; the
    offending element is only searched for once a check failed. A scalar becomes a
    stride-0 read-only view of one value (``broadcast=True``) or a full array.
    """
    arr = _asarray(name, value)
    per = f" ({per})" if per else ""
    scalar = arr.ndim == 0
    if scalar:
        if not allow_scalar:
            raise ValidationError(f"{name} must be an array of length {n}{per}, got a scalar")
        arr = arr.reshape(1)
    elif arr.ndim != 1 or arr.shape[0] != n:
        raise ValidationError(f"{name} must have length {n}{per}, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValidationError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype != np.float64:
        # compare and cast in float64 (float16 comparisons with 2**63 overflow)
        with np.errstate(over="ignore"):
            arr = arr.astype(np.float64)
    if arr.dtype.kind == "f" and arr.size:
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(arr.min()) and np.isfinite(arr.max())
        if not finite:
            k = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValidationError(f"{name}[{k}] is {arr[k].item()!r}; all values must be finite")
    target = np.dtype(dtype)
    if (
        target.kind == "i"
        and arr.size
        and arr.dtype.kind != "b"
        and not np.can_cast(arr.dtype, target, "safe")
    ):
        # values the target integer cannot hold would wrap around in the cast (an integer
        # type the target holds entirely needs no check: two passes fewer per id array)
        info = np.iinfo(target)
        lo, hi = arr.min(), arr.max()
        if arr.dtype.kind == "f":
            bad_range = lo < float(info.min) or hi >= -float(info.min)
        else:
            bad_range = int(lo) < info.min or int(hi) > info.max
        if bad_range:
            if arr.dtype.kind == "f":
                bad = (arr < float(info.min)) | (arr >= -float(info.min))
            else:
                bad = (arr < info.min) | (arr > info.max)
            k = int(np.flatnonzero(bad)[0])
            raise ValidationError(f"{name}[{k}] = {arr[k].item()!r} is out of range")
    out = arr if arr.dtype == target else arr.astype(target)
    if target.kind == "i" and arr.dtype.kind == "f" and not np.array_equal(out, arr):
        k = int(np.flatnonzero(out != arr)[0])
        raise ValidationError(f"{name}[{k}] = {arr[k].item()!r} is not an integer")
    if scalar:
        return np.broadcast_to(out, (n,)) if broadcast else np.full(n, out[0], target)
    if out.strides == (0,) and n:
        return np.broadcast_to(out[:1].copy(), (n,))  # a uniform view: one value of its own
    if out is arr and (arr.flags.writeable or arr.base is not None):
        out = arr.copy()  # not the caller's array: nobody may write to the network's data
    return np.ascontiguousarray(out)


def _uniform_view(arr: np.ndarray) -> np.ndarray:
    """``arr`` as a stride-0 read-only view of its one value when all its values are equal
    (no memory per element), else ``arr`` itself."""
    if arr.size == 0 or arr.strides == (0,):
        return arr
    if arr.min() == arr.max():
        return np.broadcast_to(arr[:1].copy(), arr.shape)
    return arr


#: Integer type of the per-edge neuron ids ``pre`` and ``post`` (4 bytes per id: neurons
#: are fewer than :data:`MAX_NEURONS` < 2**31).
NEURON_INDEX = np.int32


def edge_index_dtype(n_edges: int) -> np.dtype:
    """Integer type of edge ids for a network of ``n_edges`` edges: int32 below 2**31
    edges, else int64."""
    return np.dtype(np.int32) if n_edges < 2**31 else np.dtype(np.int64)


@njit(cache=True, nogil=True)
def _counting_csr(keys, n, perm):  # pragma: no cover - compiled
    """Stable counting sort of edges by ``keys`` (n_edges,) in ``[0, n)``: fills ``perm``
    (n_edges,) with the edge ids grouped by key, in edge order within a key, and returns
    ``ptr`` (n + 1,): key ``k``'s edges are ``perm[ptr[k]:ptr[k+1]]``. O(n + n_edges), no
    per-edge temporaries (what ``np.argsort(keys, kind="stable")`` gives)."""
    m = keys.shape[0]
    ordered = True
    for e in range(1, m):
        ordered &= keys[e] >= keys[e - 1]
    if ordered:  # already grouped (e.g. the incoming edges of a layered network)
        # key k's edges start where the keys reach k: a binary search per key instead of a
        # counting pass (whose increments of one counter per run form a dependency chain)
        ptr = np.searchsorted(keys, np.arange(n + 1), side="left").astype(np.int64)
        for e in range(m):
            perm[e] = e
        return ptr
    ptr = _tiled_perm(keys, n, perm)  # e.g. the outgoing edges of dense layers
    if ptr.shape[0] > 0:
        return ptr
    ptr = np.zeros(n + 1, np.int64)
    for e in range(m):
        ptr[keys[e] + 1] += 1
    for k in range(n):
        ptr[k + 1] += ptr[k]
    pos = ptr[:n].copy()
    for e in range(keys.shape[0]):
        k = keys[e]
        perm[pos[k]] = e
        pos[k] += 1
    return ptr


@njit(cache=True, nogil=True)
def _tiled_perm(keys, n, perm):  # pragma: no cover - compiled
    """The stable grouping of :func:`_counting_csr` without counting or scattering, when
    ``keys`` (in ``[0, n)``) is a run of *segments*, each one block of consecutive keys
    ``a, a+1, ..., a+na-1`` repeated ``nb`` times, every segment's keys above the previous
    segment's (the sources of dense post-major layers, :func:`layered`). Key ``a + i`` of
    the segment starting at edge ``s0`` then has the edges ``s0 + i + r na``,
    ``r = 0 .. nb-1``: ``perm`` is written in order (sequential writes instead of one
    write stream per key) and ``ptr`` follows from the segments. Returns ``ptr`` (n + 1,),
    or an empty array (``perm`` untouched) if ``keys`` is not such a run."""
    m = keys.shape[0]
    fail = np.zeros(0, np.int64)
    seg = np.empty((16, 4), np.int64)  # (first edge, a, na, nb) per segment; grows
    ns = 0
    e = 0
    prev = -1  # the largest key of the previous segment
    while e < m:
        a = keys[e]
        if a <= prev:
            return fail
        na = 1
        while e + na < m and keys[e + na] == a + na:
            na += 1
        if a + na > n:
            return fail
        nb = 1
        while e + (nb + 1) * na <= m:
            s0 = e + nb * na
            same = True
            for i in range(na):
                if keys[s0 + i] != a + i:
                    same = False
                    break
            if not same:
                break
            nb += 1
        if ns == seg.shape[0]:
            grown = np.empty((2 * ns, 4), np.int64)
            grown[:ns] = seg
            seg = grown
        seg[ns, 0] = e
        seg[ns, 1] = a
        seg[ns, 2] = na
        seg[ns, 3] = nb
        ns += 1
        prev = a + na - 1
        e += nb * na
    ptr = np.zeros(n + 1, np.int64)
    for q in range(ns):
        a, na, nb = seg[q, 1], seg[q, 2], seg[q, 3]
        for i in range(na):
            ptr[a + i + 1] = nb
    for k in range(n):
        ptr[k + 1] += ptr[k]
    for q in range(ns):
        e, a, na, nb = seg[q, 0], seg[q, 1], seg[q, 2], seg[q, 3]
        for i in range(na):
            p = ptr[a + i]
            for r in range(nb):
                perm[p + r] = e + i + r * na
    return ptr


@njit(cache=True, nogil=True)
def _id_stats(pre, post):  # pragma: no cover - compiled
    """One pass over the edges' ids: ``(min(pre), max(pre), min(post), max(post),
    increase)`` with ``increase`` whether ``pre[e] < post[e]`` for every edge (four
    reductions and the test of increasing ids in one). At least one edge."""
    lo_a = hi_a = pre[0]
    lo_b = hi_b = post[0]
    up = True
    for e in range(pre.shape[0]):
        a = pre[e]
        b = post[e]
        lo_a = min(lo_a, a)
        hi_a = max(hi_a, a)
        lo_b = min(lo_b, b)
        hi_b = max(hi_b, b)
        up &= a < b
    return lo_a, hi_a, lo_b, hi_b, up


@njit(cache=True, nogil=True)
def _kahn(n, post, out_ptr, out_edges):  # pragma: no cover - compiled
    """Kahn's topological order, the smallest neuron id first among ready neurons (a
    binary min-heap); returns (order (n,), number ordered). Fewer than ``n`` ordered means
    a cycle."""
    indeg = np.zeros(n, np.int64)
    for e in range(post.shape[0]):
        indeg[post[e]] += 1
    heap = np.empty(n, np.int64)
    size = 0
    for v in range(n):  # increasing ids: already a valid heap
        if indeg[v] == 0:
            heap[size] = v
            size += 1
    order = np.empty(n, np.int64)
    done = 0
    while size > 0:
        v = heap[0]
        size -= 1
        last = heap[size]
        i = 0
        while True:  # sift ``last`` down from the root
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and heap[c + 1] < heap[c]:
                c += 1
            if heap[c] >= last:
                break
            heap[i] = heap[c]
            i = c
        if size > 0:
            heap[i] = last
        order[done] = v
        done += 1
        for q in range(out_ptr[v], out_ptr[v + 1]):
            w = post[out_edges[q]]
            indeg[w] -= 1
            if indeg[w] == 0:
                i = size  # sift ``w`` up
                size += 1
                while i > 0:
                    par = (i - 1) // 2
                    if heap[par] <= w:
                        break
                    heap[i] = heap[par]
                    i = par
                heap[i] = w
    return order, done


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


def _edge_signs(value, m: int) -> np.ndarray:
    """Edge signs as int8 (m,), a stride-0 view when all are equal; ValidationError naming
    the first value other than +1 or -1."""
    arr = _asarray("sign", value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
        scalar = True
    else:
        scalar = False
        if arr.ndim != 1 or arr.shape[0] != m:
            raise ValidationError(
                f"sign must have length {m} (one per edge, as many as pre), got shape {arr.shape}"
            )
    if arr.dtype.kind not in "biuf":
        raise ValidationError(f"sign must be numeric, got dtype {arr.dtype}")
    k = _first_not_sign(arr) if arr.size else -1
    if k >= 0:
        idx = "" if scalar else f"[{k}]"
        raise ValidationError(f"sign{idx} = {arr[k].item()!r}; signs must be +1 or -1")
    out = arr.astype(np.int8)
    return np.broadcast_to(out, (m,)) if scalar else _uniform_view(out)


@njit(cache=True, nogil=True)
def _first_not_sign(arr):  # pragma: no cover - compiled
    """Index of the first value other than +1 or -1 (NaN included), or -1."""
    for k in range(arr.shape[0]):
        v = arr[k]
        if not (v == 1 or v == -1):
            return k
    return -1


@njit(cache=True, nogil=True)
def _first_edge_into(post, is_input):  # pragma: no cover - compiled
    """Index of the first edge whose target is an input neuron, or -1."""
    for e in range(post.shape[0]):
        if is_input[post[e]]:
            return e
    return -1


class NetworkArrays(NamedTuple):
    """A network's arrays as one read-only record, for numerical kernels.

    Every array is read-only; ``n = n_neurons``, ``m = n_edges``. Per-edge arrays are
    C-contiguous except ``delay`` and ``sign`` when all edges share one value: then they
    are stride-0 views of that value (``strides == (0,)``; no memory per edge). Kernels
    index them as any array.

    Attributes
    ----------
    order : ndarray of int64, shape (n,)
        A topological order (inputs first): Kahn's, the smallest id first among ready
        neurons.
    is_input : ndarray of bool, shape (n,)
    in_ptr, in_edges : ndarray of int64, shape (n + 1,); int32 (int64 from 2**31 edges), (m,)
        Incoming CSR: neuron ``j``'s incoming edges are ``in_edges[in_ptr[j]:in_ptr[j+1]]``
        (grouped by target, in edge order within a target).
    out_ptr, out_edges : the same types and shapes
        Outgoing CSR, the same for sources.
    pre, post : ndarray of int32, shape (m,)
    weight : ndarray of float64, shape (m,)
        Weight magnitudes (threshold units).
    delay : ndarray of float64, shape (m,)
        Seconds.
    sign : ndarray of int8, shape (m,)
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
        pre = _as_1d("pre", pre, m, NEURON_INDEX, allow_scalar=False)
        post = _as_1d(
            "post",
            self.post,
            m,
            NEURON_INDEX,
            allow_scalar=False,
            per="one per edge, as many as pre",
        )
        increase = True
        if m:
            lo_a, hi_a, lo_b, hi_b, increase = _id_stats(pre, post)
            for name, arr, lo, hi in (("pre", pre, lo_a, hi_a), ("post", post, lo_b, hi_b)):
                if lo < 0 or hi >= n:
                    k = int(np.flatnonzero((arr < 0) | (arr >= n))[0])
                    raise ValidationError(
                        f"{name}[{k}] = {arr[k]} is not a neuron (n_neurons = {n})"
                    )
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
            broadcast=True,
        )
        for name, arr in (("weight", weight), ("delay", delay)):
            if m and arr.min() < 0:
                k = int(np.flatnonzero(arr < 0)[0])
                raise ValidationError(f"{name}[{k}] = {arr[k].item()!r} is negative")
        sign = _edge_signs(self.sign, m)
        delay = _uniform_view(delay)
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
        k = _first_edge_into(post, is_input) if inputs.size else -1
        if k >= 0:
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
        # Outgoing CSR first (Kahn's order walks it), then incoming: edges grouped by source
        # / target, in edge order within one (stable counting sorts, O(n + m)).
        eidx = edge_index_dtype(m)
        out_edges = np.empty(m, eidx)
        out_ptr = _counting_csr(pre, n, out_edges)
        if increase:
            # every edge goes to a larger id: Kahn's smallest-first order is 0, 1, ..., n-1
            # (by induction, neuron k's sources are all < k, so k is the smallest ready one)
            order, done = np.arange(n, dtype=np.int64), n
        else:
            order, done = _kahn(n, post, out_ptr, out_edges)
        if done < n:
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
        in_edges = np.empty(m, eidx)
        in_ptr = _counting_csr(post, n, in_edges)
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
        """A copy of this network with new weight magnitudes, shape (n_edges,).

        The structure (and its derived CSR and order) is shared with this network, not
        recomputed; only the weights are checked.
        """
        w = self.check_weights(weight)
        w.setflags(write=False)
        new = object.__new__(Network)
        new.__dict__.update(self.__dict__)
        object.__setattr__(new, "weight", w)
        return new

    def check_weights(self, weight) -> np.ndarray:
        """Validate a weight vector for this network; returns it as float64 (n_edges,)."""
        w = _as_1d("weights", weight, self.n_edges, np.float64, allow_scalar=False)
        if w.size and w.min() < 0:
            k = int(np.flatnonzero(w < 0)[0])
            raise ValidationError(f"weights[{k}] = {w[k].item()!r} is negative")
        return w

    def structure_key(self) -> str:
        """A hash of everything but the weights (for caches keyed by structure)."""
        import hashlib

        h = hashlib.sha1()
        for arr, dtype in (
            (self.pre, np.int64),
            (self.post, np.int64),
            (self.delay, np.float64),
            (self.sign, np.int8),
            (self.inputs, np.int64),
            (self.outputs, np.int64),
            (self.tau_syn, np.float64),
            (self.threshold, np.float64),
            (self.t_ref, np.float64),
        ):
            # the values in fixed types, chunk by chunk: the same key whatever the arrays'
            # storage (int32 ids, stride-0 uniform views), without a full-size copy
            for k in range(0, arr.shape[0], _HASH_CHUNK):
                h.update(np.ascontiguousarray(arr[k : k + _HASH_CHUNK], dtype).tobytes())
            h.update(b"|")
        h.update(str(self.n_neurons).encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"Network(n_neurons={self.n_neurons}, n_edges={self.n_edges}, "
            f"inputs={self.inputs.size}, outputs={self.outputs.size})"
        )


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
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    layers = tuple(np.arange(offsets[k], offsets[k + 1]) for k in range(len(sizes)))
    if p_connect < 1.0:
        counts, keeps = [], []
        for k in range(n_trans):
            keep = _draw_below(rng, sizes[k] * sizes[k + 1], p_connect)
            weights_k = _draw_uniform(rng, int(np.count_nonzero(keep)), means[k], weight_spread)
            keeps.append(keep)
            counts.append(weights_k)
        m = sum(w.size for w in counts)
    else:
        m = sum(sizes[k] * sizes[k + 1] for k in range(n_trans))
    pre = np.empty(m, NEURON_INDEX)
    post = np.empty(m, NEURON_INDEX)
    weight = np.empty(m)
    s0 = 0
    for k in range(n_trans):
        na, nb = sizes[k], sizes[k + 1]
        a = np.arange(offsets[k], offsets[k + 1], dtype=NEURON_INDEX)
        b = np.arange(offsets[k + 1], offsets[k + 2], dtype=NEURON_INDEX)
        if p_connect < 1.0:
            # the kept pairs of the post-major enumeration (target j, source i)
            idx = np.flatnonzero(keeps[k])
            s1 = s0 + idx.size
            np.take(a, idx % na, out=pre[s0:s1])
            np.take(b, idx // na, out=post[s0:s1])
            weight[s0:s1] = counts[k]
            keeps[k] = counts[k] = None
        else:
            # post-major: the edges into one neuron are contiguous; filled in place
            s1 = s0 + na * nb
            pre[s0:s1].reshape(nb, na)[:] = a
            post[s0:s1].reshape(nb, na)[:] = b[:, None]
            _draw_uniform(rng, na * nb, means[k], weight_spread, out=weight[s0:s1])
        s0 = s1
    if inhibitory_fraction > 0.0:
        sign = _draw_below(rng, m, inhibitory_fraction).view(np.int8)
        sign *= -2
        sign += 1  # True (drawn below the fraction) -> -1, False -> +1
    else:
        sign = 1  # no draw: it would be the last one, nothing after it changes
    for arr in (pre, post, weight):
        arr.setflags(write=False)  # handed over to the network without a copy
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


#: Doubles drawn at once by the chunked draws (8 MiB): ``Generator.random`` gives the same
#: stream in chunks as in one call.
_DRAW_CHUNK = 1 << 20


def _draw_below(rng, size: int, p: float) -> np.ndarray:
    """``rng.random(size) < p`` (bool, shape (size,)), drawn in chunks: 1 byte per
    element at peak instead of 9."""
    out = np.empty(size, bool)
    buf = np.empty(min(size, _DRAW_CHUNK))
    for k in range(0, size, _DRAW_CHUNK):
        u = buf[: min(_DRAW_CHUNK, size - k)]
        rng.random(out=u)
        np.less(u, p, out=out[k : k + u.size])
    return out


def _draw_uniform(rng, size: int, mean: float, spread: float, out=None) -> np.ndarray:
    """``mean * rng.uniform(1 - spread, 1 + spread, size)``, bit for bit, written into
    ``out`` (float64, shape (size,)) without temporaries: ``uniform(lo, hi)`` is
    ``lo + (hi - lo) * u`` for ``u = rng.random()``."""
    if out is None:
        out = np.empty(size)
    lo, hi = 1.0 - spread, 1.0 + spread
    rng.random(out=out)
    out *= hi - lo
    out += lo
    out *= mean
    return out


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
