"""NIR (Neuromorphic Intermediate Representation) export and import.

spikesim's neuron (``docs/model.md``; Schmidt-Hieber 2023, sec. 2) is a leaky
integrate-and-fire neuron with delta (current-pulse) synapses whose membrane time constant
is ``tau_syn``: an arrival of signed weight ``s w`` makes ``V`` jump by ``s w``, and ``V``
relaxes to 0 with time constant ``tau_syn``. NIR's LIF node is

    tau dv/dt = (v_leak - v) + R I,

so a delta current ``I = a delta(t - t0)`` makes ``v`` jump by ``R a / tau``. Export writes
``tau = r = tau_syn`` (``R / tau = 1``), so a Linear weight *is* the jump of the potential,
``v_leak = v_reset = 0`` and ``v_threshold = threshold``. Import accepts any ``r > 0`` and
scales weights by ``r / tau``. Edge delays become ``nir.Delay`` nodes. NIR has no
refractory period: export keeps ``t_ref`` in the LIF node's metadata (key ``"t_ref"``, read
back by :func:`from_nir`, ignored by other tools) and warns with
:class:`~spikesim.interop.NIRExportWarning` when any ``t_ref > 0``.

The tables of the mapping are in ``docs/guide/interop.md``.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np

from spikesim.errors import ValidationError
from spikesim.graph import Network

__all__ = ["from_nir", "to_nir"]

# Metadata keys (graph and node level) that spikesim writes and reads back.
NEURONS_KEY = "spikesim_neurons"  # global neuron ids of a node's channels
T_REF_KEY = "t_ref"
FORMAT_KEY = "spikesim_format"
FORMAT = "spikesim.network.nir"


def _nir():
    try:
        import nir
    except ImportError:
        raise ImportError(
            "NIR export/import needs the optional dependency 'nir'; install it with "
            "pip install 'spikesim[nir]'"
        ) from None
    return nir


# -- export --------------------------------------------------------------------------------


def _groups(network: Network) -> list[np.ndarray]:
    """Non-input neurons grouped by depth (one LIF node per group; no edges inside one)."""
    depth = network.depth()
    rest = np.flatnonzero(~network.is_input)
    return [g for k in range(int(depth.max()) + 1) if (g := rest[depth[rest] == k]).size]


def to_nir(network: Network):
    """Export a network as a NIR graph.

    Nodes: ``"input"`` (``nir.Input``, the input neurons in increasing id), one
    ``nir.LIF`` node ``"lif_<k>"`` per depth ``k`` of the non-input neurons, ``"output"``
    (``nir.Output``, the output neurons in ``network.outputs`` order), and between them
    ``nir.Linear`` weights (``"w_<a>_<b>"``) and ``nir.Delay`` nodes. Between two groups
    whose edges share one delay ``d`` the path is ``src -> Delay(d) -> Linear -> dst`` (no
    Delay when ``d = 0``); with several delays each edge gets a channel of its own:
    ``src -> Linear (select) -> Delay (per edge) -> Linear (weights) -> dst``. Every node
    records the global neuron ids of its channels in metadata ``"spikesim_neurons"``; the
    graph's metadata holds ``n_neurons`` and the layers.

    Parameters
    ----------
    network : Network

    Returns
    -------
    nir.NIRGraph
        LIF parameters per neuron: ``tau = r = tau_syn`` (seconds), ``v_leak = v_reset =
        0``, ``v_threshold = threshold``; Linear weights ``sign * weight`` (shape
        ``(n_post, n_pre)``; parallel edges with equal delay are summed); metadata
        ``"t_ref"`` (seconds) on each LIF node.

    Warns
    -----
    NIRExportWarning
        When any ``t_ref > 0``: NIR's LIF has no refractory period, so it is kept in node
        metadata only (spikesim reads it back; other tools ignore it).
    """
    nir = _nir()
    from spikesim.interop import NIRExportWarning

    if not isinstance(network, Network):
        raise ValidationError(f"network must be a spikesim.Network, got {type(network).__name__}")
    net = network
    groups = _groups(net)
    inputs = np.asarray(net.inputs, np.int64)
    # node of every neuron: 0 = input, k + 1 = groups[k]; position within the node
    node_of = np.zeros(net.n_neurons, np.int64)
    pos = np.zeros(net.n_neurons, np.int64)
    node_of[inputs] = 0
    pos[inputs] = np.arange(inputs.size)
    names = ["input"]
    members = [inputs]
    for k, g in enumerate(groups):
        node_of[g] = k + 1
        pos[g] = np.arange(g.size)
        names.append(f"lif_{k}")
        members.append(g)
    nodes: dict = {}
    if inputs.size:
        nodes["input"] = nir.Input(
            input_type={"input": np.array([inputs.size])},
            metadata={
                NEURONS_KEY: inputs,
                # parameters of the input neurons (unused by NIR; kept for the round trip)
                "tau_syn": np.array(net.tau_syn[inputs], np.float64),
                "threshold": np.array(net.threshold[inputs], np.float64),
                T_REF_KEY: np.array(net.t_ref[inputs], np.float64),
            },
        )
    for k, g in enumerate(groups):
        tau = np.array(net.tau_syn[g], np.float64)
        nodes[names[k + 1]] = nir.LIF(
            tau=tau,
            r=tau.copy(),
            v_leak=np.zeros(g.size),
            v_threshold=np.array(net.threshold[g], np.float64),
            v_reset=np.zeros(g.size),
            metadata={NEURONS_KEY: g, T_REF_KEY: np.array(net.t_ref[g], np.float64)},
        )
    edges: list[tuple[str, str]] = []
    sw = net.signed_weight.astype(np.float64)
    pairs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for e, (a, b) in enumerate(
        zip(node_of[net.pre].tolist(), node_of[net.post].tolist(), strict=True)
    ):
        pairs[(a, b)].append(e)
    for (a, b), elist in sorted(pairs.items()):
        e = np.asarray(elist, np.int64)
        src, dst = names[a], names[b]
        n_a, n_b = members[a].size, members[b].size
        tag = f"{a}_{b}"
        delays = np.unique(net.delay[e])
        if delays.size == 1:
            w = np.zeros((n_b, n_a))
            np.add.at(w, (pos[net.post[e]], pos[net.pre[e]]), sw[e])
            head = src
            if delays[0] > 0:
                nodes[f"d_{tag}"] = nir.Delay(delay=np.full(n_a, delays[0]))
                edges.append((src, f"d_{tag}"))
                head = f"d_{tag}"
            nodes[f"w_{tag}"] = nir.Linear(weight=w)
            edges += [(head, f"w_{tag}"), (f"w_{tag}", dst)]
        else:
            m = e.size
            sel = np.zeros((m, n_a))
            sel[np.arange(m), pos[net.pre[e]]] = 1.0
            w = np.zeros((n_b, m))
            w[pos[net.post[e]], np.arange(m)] = sw[e]
            nodes[f"s_{tag}"] = nir.Linear(weight=sel)
            nodes[f"d_{tag}"] = nir.Delay(delay=np.array(net.delay[e], np.float64))
            nodes[f"w_{tag}"] = nir.Linear(weight=w)
            edges += [(src, f"s_{tag}"), (f"s_{tag}", f"d_{tag}"), (f"d_{tag}", f"w_{tag}")]
            edges.append((f"w_{tag}", dst))
    # NIR wants every root to be an Input: feed a LIF node without incoming edges (neurons
    # that can never fire) from the inputs by zero weights (dropped again on import)
    fed = {b for (_, b) in pairs}
    for k in range(len(groups)):
        if k + 1 not in fed and inputs.size:
            nodes[f"z_{k + 1}"] = nir.Linear(weight=np.zeros((groups[k].size, inputs.size)))
            edges += [("input", f"z_{k + 1}"), (f"z_{k + 1}", names[k + 1])]
    outputs = np.asarray(net.outputs, np.int64)
    if outputs.size:
        nodes["output"] = nir.Output(
            output_type={"output": np.array([outputs.size])}, metadata={NEURONS_KEY: outputs}
        )
        for a in np.unique(node_of[outputs]).tolist():
            k = np.flatnonzero(node_of[outputs] == a)
            if k.size == outputs.size and np.array_equal(outputs, members[a]):
                edges.append((names[a], "output"))
                continue
            sel = np.zeros((outputs.size, members[a].size))
            sel[k, pos[outputs[k]]] = 1.0
            nodes[f"o_{a}"] = nir.Linear(weight=sel)
            edges += [(names[a], f"o_{a}"), (f"o_{a}", "output")]
    meta = {FORMAT_KEY: FORMAT, "n_neurons": np.int64(net.n_neurons)}
    if net.layers is not None:
        meta["layer_ptr"] = np.concatenate([[0], np.cumsum([g.size for g in net.layers])])
        meta["layer_neurons"] = (
            np.concatenate(net.layers).astype(np.int64) if net.layers else np.zeros(0, np.int64)
        )
    if np.any(net.t_ref > 0):
        warnings.warn(
            "NIR has no refractory period: t_ref is kept in the LIF nodes' metadata "
            "('t_ref', seconds), which spikesim.from_nir reads back but other tools ignore",
            NIRExportWarning,
            stacklevel=3,  # the caller of spikesim.to_nir
        )
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
    except ValueError as exc:  # nir's type inference (e.g. a graph with no Output)
        raise ValidationError(f"NIR cannot represent {net!r}: {exc}") from None


# -- import --------------------------------------------------------------------------------

_LINEAR = ("Linear", "Affine", "Delay", "Scale", "Flatten")
_WHY = {
    "CubaLIF": (
        "a current-based LIF filters its input with a synaptic time constant, so a "
        "spike's effect on v is a difference (or, for tau_syn = tau_mem, an alpha function) "
        "of exponentials; spikesim's potential is a single exponential per arrival "
        "(delta synapses), so no CubaLIF is exactly a spikesim neuron"
    ),
    "IF": "an integrate-and-fire neuron has no leak (tau = infinity); spikesim needs tau_syn > 0",
    "LI": "a leaky integrator does not spike; spikesim neurons are threshold neurons",
    "CubaLI": "a leaky integrator does not spike; spikesim neurons are threshold neurons",
    "I": "an integrator does not spike; spikesim neurons are threshold neurons",
    "Threshold": "a bare threshold has no potential; spikesim neurons are LIF neurons",
    "Conv1d": "convolutions are not supported; expand them into a Linear (Affine) node",
    "Conv2d": "convolutions are not supported; expand them into a Linear (Affine) node",
    "SumPool2d": "pooling is not supported; expand it into a Linear node",
    "AvgPool2d": "pooling is not supported; expand it into a Linear node",
    "NIRGraph": "nested graphs (subgraphs) are not supported; flatten the graph first",
}
# metadata conventions that declare a model spikesim does not have
_SOFT_RESET = ("subtract", "soft", "zero_subtract")


def _vec(node_name: str, field: str, value, n: int | None = None) -> np.ndarray:
    arr = np.asarray(value, np.float64)
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, arr.item())
    if arr.ndim != 1:
        raise ValidationError(
            f"NIR node {node_name!r}: {field} must be one-dimensional, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"NIR node {node_name!r}: {field} has non-finite values")
    return arr


def _meta_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _meta_str(value.item())
    return str(value)


def _check_lif(name: str, node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a LIF node is a spikesim neuron; return (tau, jump scale r/tau, threshold)."""
    tau = _vec(name, "tau", node.tau)
    n = tau.size
    r = _vec(name, "r", node.r, n)
    v_leak = _vec(name, "v_leak", node.v_leak, n)
    v_thr = _vec(name, "v_threshold", node.v_threshold, n)
    v_reset = _vec(name, "v_reset", np.zeros(n) if node.v_reset is None else node.v_reset, n)
    meta = node.metadata or {}
    for key in ("reset", "reset_mechanism"):
        if key in meta and _meta_str(meta[key]).lower() in _SOFT_RESET:
            raise ValidationError(
                f"NIR node {name!r}: metadata {key} = {_meta_str(meta[key])!r} is a soft "
                "(subtractive) reset; spikesim resets the potential to 0"
            )
    for key in ("beta", "dt"):
        if key in meta:
            raise ValidationError(
                f"NIR node {name!r}: metadata {key!r} declares a time-discretised leak "
                "(v <- beta v + input per step); spikesim's leak is continuous, so the "
                "graph is not exact here; export the continuous tau instead"
            )
    for field, arr, ok, need in (
        ("tau", tau, tau > 0, "> 0 seconds (spikesim's tau_syn)"),
        ("r", r, r > 0, "> 0"),
        ("v_threshold", v_thr, v_thr > 0, "> 0 (spikesim's threshold)"),
        ("v_leak", v_leak, v_leak == 0, "0 (spikesim's potential relaxes to 0)"),
        ("v_reset", v_reset, v_reset == 0, "0 (spikesim resets the potential to 0)"),
    ):
        bad = np.flatnonzero(~ok)
        if bad.size:
            k = int(bad[0])
            raise ValidationError(
                f"NIR node {name!r}: {field}[{k}] = {arr[k].item()!r}; must be {need}"
            )
    return tau, r / tau, v_thr


def _linear_map(name: str, node) -> tuple[str, np.ndarray]:
    """(kind, parameter) of a pass-through node: ('matrix', W) or ('delay', d) or ('scale', s)."""
    kind = type(node).__name__
    if kind in ("Linear", "Affine"):
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2 or not np.all(np.isfinite(w)):
            raise ValidationError(
                f"NIR node {name!r}: {kind} weight must be a finite 2-d matrix, got shape {w.shape}"
            )
        if kind == "Affine":
            bias = np.asarray(node.bias, np.float64)
            if np.any(bias != 0):
                raise ValidationError(
                    f"NIR node {name!r}: Affine bias is nonzero (a constant input current); "
                    "spikesim neurons are driven by spikes only"
                )
        return "matrix", w
    if kind == "Delay":
        d = _vec(name, "delay", node.delay)
        if np.any(d < 0):
            raise ValidationError(f"NIR node {name!r}: negative delay {d[d < 0][0]!r}")
        return "delay", d
    if kind == "Scale":
        return "scale", _vec(name, "scale", node.scale)
    # Flatten: an identity when the data is already one-dimensional
    shape_in = np.asarray(node.input_type.get("input", []))
    shape_out = np.asarray(node.output_type.get("output", []))
    if shape_in.size != 1 or shape_out.size != 1 or int(shape_in[0]) != int(shape_out[0]):
        raise ValidationError(
            f"NIR node {name!r}: Flatten of shape {shape_in.tolist()} -> {shape_out.tolist()}; "
            "only one-dimensional data is supported"
        )
    return "scale", np.ones(int(shape_in[0]))


def from_nir(graph) -> Network:
    """Import a NIR graph as a network.

    Accepts graphs of ``Input``, ``Output``, ``LIF`` (the spiking populations) and, between
    them, ``Linear``, ``Affine`` (zero bias), ``Delay``, ``Scale`` and one-dimensional
    ``Flatten`` nodes, in any arrangement without cycles: each path from a spiking node to
    a LIF node is composed into edges ``(pre, post, weight, delay)``; parallel paths of
    equal delay are summed and zero weights dropped. A LIF's weights are scaled by ``r /
    tau`` (the jump of ``v`` per unit input, see the module docstring). Neurons are
    numbered node by node (Input nodes first, then LIF nodes in graph order), unless the
    graph was written by :func:`to_nir`, whose neuron ids and ``t_ref`` metadata are
    restored (other graphs get ``t_ref = 0``: NIR's LIF has no refractory period).

    Parameters
    ----------
    graph : nir.NIRGraph

    Returns
    -------
    Network

    Raises
    ------
    ValidationError
        Naming the node and why when it is not the spikesim model: a CubaLIF, IF, LI or
        other non-LIF neuron, a nonzero ``v_leak`` or ``v_reset``, a soft reset or
        time-discretised leak declared in metadata, a nonzero Affine bias, an output that is
        not a spiking neuron, a cycle (recurrence), or a multi-dimensional shape.
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ValidationError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    for name, kind in kinds.items():
        if kind in _WHY:
            raise ValidationError(f"NIR node {name!r} is a {kind}: {_WHY[kind]}")
        if kind not in ("Input", "Output", "LIF") + _LINEAR:
            raise ValidationError(f"NIR node {name!r} is a {kind}, which spikesim cannot import")
    parents: dict[str, list[str]] = defaultdict(list)
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise ValidationError(
                    f"NIR edge ({a!r}, {b!r}) names a node {end!r} not in the graph"
                )
        parents[b].append(a)
    # spiking populations and their neuron ids
    ours = _meta_str((graph.metadata or {}).get(FORMAT_KEY, "")) == FORMAT
    # an Input without spikesim ids in a spikesim graph was added by nir for a root LIF
    # node (neurons without incoming edges); it carries no neurons
    auto = {
        n
        for n, k in kinds.items()
        if ours and k == "Input" and NEURONS_KEY not in (graph.nodes[n].metadata or {})
    }
    spiking = [n for n, k in kinds.items() if k == "Input" and n not in auto]
    spiking += [n for n, k in kinds.items() if k == "LIF"]
    ids: dict[str, np.ndarray] = {}
    lif: dict[str, tuple] = {}
    nxt = 0
    for name in spiking:
        node = graph.nodes[name]
        if kinds[name] == "Input":
            shape = np.asarray(node.input_type["input"]).ravel()
            if shape.size != 1:
                raise ValidationError(
                    f"NIR node {name!r}: input shape {shape.tolist()}; only one-dimensional "
                    "inputs are supported"
                )
            size = int(shape[0])
        else:
            lif[name] = _check_lif(name, node)
            size = lif[name][0].size
        if ours and NEURONS_KEY in node.metadata:
            ids[name] = np.asarray(node.metadata[NEURONS_KEY], np.int64).reshape(-1)
        else:
            ids[name] = np.arange(nxt, nxt + size)
        if ids[name].size != size:
            raise ValidationError(
                f"NIR node {name!r}: metadata {NEURONS_KEY} has {ids[name].size} ids for "
                f"{size} channels"
            )
        nxt += size
    n_neurons = int(graph.metadata["n_neurons"]) if ours else nxt

    # terms of a node's output channels: (channel, src neuron, weight, delay) arrays
    memo: dict[str, tuple] = {}

    def terms(name: str, stack: tuple[str, ...]) -> tuple:
        if name in memo:
            return memo[name]
        if name in stack:
            raise ValidationError(
                "the NIR graph has a cycle (recurrence), which spikesim's DAG cannot hold: "
                + " -> ".join(stack[stack.index(name) :] + (name,))
            )
        kind = kinds[name]
        if name in auto:
            out = tuple(np.zeros(0, dt) for dt in (np.int64, np.int64, np.float64, np.float64))
        elif kind in ("Input", "LIF") and stack:
            g = ids[name]
            out = (np.arange(g.size), g, np.ones(g.size), np.zeros(g.size))
        else:
            out = _inputs_of(name, stack + (name,))
            if kind in _LINEAR:
                out = _apply(name, graph.nodes[name], out)
        memo[name] = out
        return out

    def _inputs_of(name: str, stack: tuple[str, ...]) -> tuple:
        parts = [terms(p, stack) for p in parents.get(name, [])]
        if not parts:
            return tuple(np.zeros(0, dt) for dt in (np.int64, np.int64, np.float64, np.float64))
        return tuple(np.concatenate(col) for col in zip(*parts, strict=True))

    def _apply(name: str, node, t: tuple) -> tuple:
        ch, src, w, d = t
        kind, p = _linear_map(name, node)
        if kind == "matrix":
            if ch.size and ch.max() >= p.shape[1]:
                raise ValidationError(
                    f"NIR node {name!r}: weight has {p.shape[1]} columns but its input has "
                    f"{int(ch.max()) + 1} channels"
                )
            rows, cols = np.nonzero(p)
            # every term on input channel c feeds every nonzero p[:, c]
            order = np.argsort(cols, kind="stable")
            rows, cols = rows[order], cols[order]
            start = np.searchsorted(cols, ch, side="left")
            stop = np.searchsorted(cols, ch, side="right")
            cnt = stop - start
            k = np.repeat(np.arange(ch.size), cnt)
            idx = (
                np.concatenate([np.arange(a, b) for a, b in zip(start, stop, strict=True)])
                if k.size
                else np.zeros(0, np.int64)
            )
            r = rows[idx]
            return (r, src[k], w[k] * p[r, cols[idx]], d[k])
        if ch.size and ch.max() >= p.size:
            raise ValidationError(
                f"NIR node {name!r}: has {p.size} channels but its input has {int(ch.max()) + 1}"
            )
        if kind == "delay":
            return (ch, src, w, d + p[ch])
        return (ch, src, w * p[ch], d)

    pre, post, weight, delay = [], [], [], []
    for name in lif:
        ch, src, w, d = _inputs_of(name, (name,))
        g = ids[name]
        if ch.size and ch.max() >= g.size:
            raise ValidationError(
                f"NIR node {name!r} has {g.size} neurons but its input has "
                f"{int(ch.max()) + 1} channels"
            )
        w = w * lif[name][1][ch]
        dst = g[ch]
        # sum parallel terms with equal (src, dst, delay)
        key = np.stack([src.astype(np.float64), dst.astype(np.float64), d], axis=1)
        if key.shape[0]:
            uniq, inv = np.unique(key, axis=0, return_inverse=True)
            tot = np.zeros(uniq.shape[0])
            np.add.at(tot, inv.ravel(), w)
            keep = tot != 0
            pre.append(uniq[keep, 0].astype(np.int64))
            post.append(uniq[keep, 1].astype(np.int64))
            weight.append(tot[keep])
            delay.append(uniq[keep, 2])
    outputs = []
    # nir adds an Output node for every leaf; in a spikesim graph only the one with ids counts
    out_nodes = [
        n
        for n, k in kinds.items()
        if k == "Output" and not (ours and NEURONS_KEY not in (graph.nodes[n].metadata or {}))
    ]
    for name in out_nodes:
        ch, src, w, d = _inputs_of(name, (name,))
        shape = np.asarray(graph.nodes[name].output_type["output"]).ravel()
        n_out = int(shape[0]) if shape.size == 1 else -1
        for c in range(max(n_out, 0)):
            hit = ch == c
            if hit.sum() != 1 or w[hit][0] != 1.0 or d[hit][0] != 0.0:
                raise ValidationError(
                    f"NIR node {name!r}: output channel {c} is not exactly one spiking neuron "
                    "(spikesim's outputs are neurons; a graph ending in a Linear/Affine "
                    "layer outputs currents, not spikes)"
                )
            outputs.append(int(src[hit][0]))
    cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)  # noqa: E731
    w_all = cat(weight, np.float64)
    n_total = max(n_neurons, 1)
    tau = np.full(n_total, 0.01)
    thr = np.ones(n_total)
    t_ref = np.zeros(n_total)
    for name, (tau_k, _, thr_k) in lif.items():
        g = ids[name]
        tau[g], thr[g] = tau_k, thr_k
        if ours and T_REF_KEY in graph.nodes[name].metadata:
            t_ref[g] = np.asarray(graph.nodes[name].metadata[T_REF_KEY], np.float64).reshape(-1)
    input_nodes = [n for n in spiking if kinds[n] == "Input"]
    for name in input_nodes:
        meta = graph.nodes[name].metadata or {}
        for key, arr in (("tau_syn", tau), ("threshold", thr), (T_REF_KEY, t_ref)):
            if ours and key in meta:
                arr[ids[name]] = np.asarray(meta[key], np.float64).reshape(-1)
    inputs = cat([ids[n] for n in input_nodes], np.int64)
    layers = None
    meta = graph.metadata or {}
    if ours and "layer_ptr" in meta:
        ptr = np.asarray(meta["layer_ptr"], np.int64)
        flat = np.asarray(meta["layer_neurons"], np.int64)
        layers = tuple(flat[ptr[k] : ptr[k + 1]] for k in range(ptr.size - 1))
    elif not ours:
        layers = tuple(ids[n] for n in spiking)
    return Network(
        n_neurons=n_total,
        pre=cat(pre, np.int64),
        post=cat(post, np.int64),
        weight=np.abs(w_all),
        delay=cat(delay, np.float64),
        sign=np.where(w_all < 0, -1, 1),
        inputs=inputs,
        outputs=np.asarray(outputs, np.int64),
        tau_syn=tau,
        threshold=thr,
        t_ref=t_ref,
        layers=layers,
    )
