"""Pure numerical core of the convolutional rate networks (Amit 2019, sec. 4 and 4.1).

A network is a *plan*: a tuple of layer records built by :func:`build_plan` from an
architecture string in the paper's notation (``"conv 32 5x5; maxpool 3; drop .8; full 500"``)
and the input's ``(height, width, channels)``. The output layer (linear) is always the last
record. Activities are kept channels-last, shape ``(batch, height, width, channels)``; a
row of the learner's input ``x`` is one image flattened in that order.

Layers with weights, in the layout of :mod:`spikesim.rate._mlp` (``W`` maps ``n_in`` to
``n_out``, a feedback matrix ``R`` maps back, ``R = W^T`` is backprop):

- :class:`Conv` (``conv C KxK``): a tied convolution, padded to keep the size, stride 1;
  ``W`` has shape ``(kh * kw * c_in, c_out)`` (im2col + GEMM: the field is
  ``cols @ W``), ``R`` shape ``(c_out, kh * kw * c_in)``; bias ``(c_out,)``.
- :class:`Conv` with ``untied`` (``uconv C KxK``): the sparse layer with exactly the
  convolution's connectivity and an independent weight per connection (sec. 4.1), as a
  gather kernel: ``W`` shape ``(L, kh * kw * c_in, c_out)`` for the ``L = h_out * w_out``
  output locations (entries that would connect to the padding are held at zero), ``R`` shape
  ``(L, c_out, kh * kw * c_in)``; bias ``(L, c_out)``.
- :class:`Full` (``full N`` and the output layer): ``W`` shape ``(n_in, n_out)``.

Layers without weights: :class:`Pool` (``maxpool K``: max pooling over ``K x K`` windows
with stride 2, padded as TensorFlow's ``SAME`` so that the output is ``ceil(n / 2)``, as in
the paper) and :class:`Drop` (``drop p``: inverted dropout, a fraction ``p`` of the units
zeroed while training, the others scaled by ``1 / (1 - p)``; identity at prediction).

Every :class:`Conv` and hidden :class:`Full` layer is followed by the hidden non-linearity.
The error is carried down as in eq. 6 (``delta_in = delta_out R`` through a layer with
weights, the exact derivative through pooling and dropout, times ``sigma'`` of the field).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numba
import numpy as np

from spikesim import receptive
from spikesim.errors import ValidationError
from spikesim.rate import _mlp

#: named architectures (Amit 2019, sec. 4; one input channel here: Fashion-MNIST 28x28)
ARCHITECTURES = {
    "simpnet": "conv 32 5x5; maxpool 3; drop .8; full 500; drop .3",
    "deepnet": (
        "conv 32 5x5; maxpool 3; conv 32 3x3; conv 32 3x3; maxpool 3; drop .8; "
        "conv 32 3x3; conv 32 3x3; maxpool 3; drop .3; full 500"
    ),
    "simpnet-untied": "uconv 32 5x5; maxpool 3; drop .8; full 500; drop .3",
    "deepnet-untied": (
        "uconv 32 5x5; maxpool 3; uconv 32 3x3; uconv 32 3x3; maxpool 3; drop .8; "
        "uconv 32 3x3; uconv 32 3x3; maxpool 3; drop .3; full 500"
    ),
}


# -- layer records -----------------------------------------------------------------------
class ConvGeometry(NamedTuple):
    """A stride-1 convolution of an ``(h, w, c_in)`` input, padded to keep the size.

    ``pad_top`` / ``pad_left`` rows / columns of zeros before the image (``kh - 1`` in all
    per axis, the extra one after it for an even kernel, as TensorFlow's ``SAME``).
    """

    h: int
    w: int
    c_in: int
    c_out: int
    kh: int
    kw: int
    pad_top: int
    pad_left: int

    @property
    def n_locations(self) -> int:
        return self.h * self.w

    @property
    def patch(self) -> int:
        """Inputs of one output unit, ``kh * kw * c_in``."""
        return self.kh * self.kw * self.c_in


class PoolGeometry(NamedTuple):
    """Max pooling of an ``(h, w, c)`` input over ``k x k`` windows with ``stride``;
    ``h_out = ceil(h / stride)`` with ``SAME`` padding (``pad_top`` before, the rest after)."""

    h: int
    w: int
    c: int
    k: int
    stride: int
    pad_top: int
    pad_left: int
    h_out: int
    w_out: int


class Conv(NamedTuple):
    """A convolutional layer (tied, or ``untied``: the conv-sparse layer of sec. 4.1)."""

    label: str
    geometry: ConvGeometry
    untied: bool


class Pool(NamedTuple):
    label: str
    geometry: PoolGeometry


class Drop(NamedTuple):
    label: str
    p: float


class Full(NamedTuple):
    """A fully connected layer from ``n_in`` (the flattened activity) to ``n_out`` units."""

    label: str
    n_in: int
    n_out: int


Layer = Conv | Pool | Drop | Full


def has_weights(layer: Layer) -> bool:
    return isinstance(layer, Conv | Full)


def weighted(plan: tuple[Layer, ...]) -> list[Layer]:
    """The layers with weights, in order (``W{k}`` is the ``k``-th)."""
    return [layer for layer in plan if has_weights(layer)]


# -- parsing -----------------------------------------------------------------------------
_CONV = re.compile(r"^(u?conv)\s+(\d+)\s+(\d+)\s*x\s*(\d+)$")
_POOL = re.compile(r"^maxpool\s+(\d+)(?:\s+stride\s+(\d+))?(\s+valid)?$")
_DROP = re.compile(r"^drop(?:out)?\s+([0-9]*\.?[0-9]+)$")
_FULL = re.compile(r"^full(?:\s+conn\.?)?\s+(\d+)$")


def expand(architecture: str) -> str:
    """The architecture string with a name of :data:`ARCHITECTURES` replaced by its layers."""
    return ARCHITECTURES.get(architecture.strip().lower(), architecture)


def build_plan(architecture: str, input_shape: tuple[int, int, int], n_out: int):
    """Layer records of an architecture string, output layer included.

    Parameters
    ----------
    architecture : str
        A name of :data:`ARCHITECTURES`, or ``;``-separated layers: ``conv C KxK``,
        ``uconv C KxK``, ``maxpool K`` (stride 2, padded), ``maxpool K stride S [valid]``
        (``valid``: no padding, the windows must tile the input exactly), ``drop p``,
        ``full N``; a final ``output`` is allowed (the output layer is always added).
    input_shape : (height, width, channels)
    n_out : int
        Output units (classes).

    Raises
    ------
    ValidationError
        Naming the layer (its position and text): an unknown layer, a kernel larger than its
        input, a pooling whose windows do not tile a ``valid`` input, a dropout outside
        ``[0, 1)``, a convolution or pooling after a fully connected layer.
    """
    items = [s.strip() for s in expand(architecture).split(";")]
    items = [s for s in items if s]
    if items and items[-1].lower() == "output":
        items = items[:-1]
    h, w, c = (int(v) for v in input_shape)
    spatial = True
    flat = h * w * c
    plan: list[Layer] = []
    for pos, text in enumerate(items, start=1):
        label = f"architecture layer {pos} ({text!r})"
        low = re.sub(r"\s+", " ", text.lower())
        if m := _CONV.match(low):
            c_out, kh, kw = int(m.group(2)), int(m.group(3)), int(m.group(4))
            if not spatial:
                raise ValidationError(f"{label}: a convolution needs an image, not a full layer")
            if min(c_out, kh, kw) < 1:
                raise ValidationError(f"{label}: channels and kernel must be >= 1")
            if kh > h or kw > w:
                raise ValidationError(f"{label}: kernel {kh}x{kw} is larger than its {h}x{w} input")
            geom = ConvGeometry(
                h, w, c, c_out, kh, kw, receptive.same_padding(kh), receptive.same_padding(kw)
            )
            plan.append(Conv(label, geom, m.group(1) == "uconv"))
            c = c_out
        elif m := _POOL.match(low):
            k = int(m.group(1))
            stride = int(m.group(2)) if m.group(2) else 2
            if not spatial:
                raise ValidationError(f"{label}: pooling needs an image, not a full layer")
            if k < 1 or stride < 1:
                raise ValidationError(f"{label}: window and stride must be >= 1")
            if m.group(3):  # valid: no padding
                if k > h or k > w or (h - k) % stride or (w - k) % stride:
                    raise ValidationError(
                        f"{label}: {k}x{k} windows with stride {stride} do not tile the "
                        f"{h}x{w} input (need (size - {k}) divisible by {stride})"
                    )
                geom = PoolGeometry(
                    h, w, c, k, stride, 0, 0, (h - k) // stride + 1, (w - k) // stride + 1
                )
            else:
                h_out, w_out = math.ceil(h / stride), math.ceil(w / stride)
                pad_h = max((h_out - 1) * stride + k - h, 0)
                pad_w = max((w_out - 1) * stride + k - w, 0)
                if k > h + pad_h or k > w + pad_w:
                    raise ValidationError(f"{label}: window {k} is larger than its {h}x{w} input")
                geom = PoolGeometry(h, w, c, k, stride, pad_h // 2, pad_w // 2, h_out, w_out)
            plan.append(Pool(label, geom))
            h, w = geom.h_out, geom.w_out
        elif m := _DROP.match(low):
            p = float(m.group(1))
            if not 0 <= p < 1:
                raise ValidationError(f"{label}: the dropped fraction must be in [0, 1)")
            plan.append(Drop(label, p))
        elif m := _FULL.match(low):
            n = int(m.group(1))
            if n < 1:
                raise ValidationError(f"{label}: a full layer needs >= 1 unit")
            n_in = h * w * c if spatial else flat
            plan.append(Full(label, n_in, n))
            spatial, flat = False, n
        else:
            raise ValidationError(
                f"{label}: not a layer; use conv C KxK, uconv C KxK, maxpool K, "
                f"drop p, full N (or one of {', '.join(ARCHITECTURES)})"
            )
        flat = h * w * c if spatial else flat
    n_in = h * w * c if spatial else flat
    plan.append(Full("output layer", n_in, int(n_out)))
    return tuple(plan)


# -- im2col ------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _im2col_kernel(x, cols, kh, kw, pt, pl):  # pragma: no cover - jit
    b_n, h, w, c_n = x.shape
    for b in range(b_n):
        for i in range(h):
            for j in range(w):
                row = (b * h + i) * w + j
                for di in range(kh):
                    ii = i + di - pt
                    for dj in range(kw):
                        jj = j + dj - pl
                        base = (di * kw + dj) * c_n
                        if 0 <= ii < h and 0 <= jj < w:
                            for c in range(c_n):
                                cols[row, base + c] = x[b, ii, jj, c]
                        else:
                            for c in range(c_n):
                                cols[row, base + c] = 0


@numba.njit(cache=True, nogil=True)
def _col2im_kernel(cols, out, kh, kw, pt, pl):  # pragma: no cover - jit
    b_n, h, w, c_n = out.shape
    for b in range(b_n):
        for i in range(h):
            for j in range(w):
                row = (b * h + i) * w + j
                for di in range(kh):
                    ii = i + di - pt
                    if ii < 0 or ii >= h:
                        continue
                    for dj in range(kw):
                        jj = j + dj - pl
                        if jj < 0 or jj >= w:
                            continue
                        base = (di * kw + dj) * c_n
                        for c in range(c_n):
                            out[b, ii, jj, c] += cols[row, base + c]


def im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Patches of ``x`` (batch, h, w, c_in) as rows, shape ``(batch * h * w, kh * kw * c_in)``
    (patch order ``(di, dj, channel)``; padded positions are zero). One Numba pass."""
    b = x.shape[0]
    cols = np.empty((b * g.h * g.w, g.patch), x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), cols, g.kh, g.kw, g.pad_top, g.pad_left)
    return cols


def col2im(cols: np.ndarray, g: ConvGeometry, batch: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum the patch rows back onto the image, shape
    ``(batch, h, w, c_in)``."""
    out = np.zeros((batch, g.h, g.w, g.c_in), cols.dtype)
    cols = np.ascontiguousarray(cols).reshape(-1, g.patch)
    _col2im_kernel(cols, out, g.kh, g.kw, g.pad_top, g.pad_left)
    return out


def connectivity(g: ConvGeometry) -> np.ndarray:
    """Which patch entries of each output location lie inside the image: 0/1 array of
    shape ``(L, kh * kw * c_in)`` (the others connect to the padding;
    :func:`spikesim.receptive.window_mask` for every input channel)."""
    ok = receptive.window_mask(g.h, g.w, g.kh, g.kw, g.pad_top, g.pad_left)  # (L, kh * kw)
    ok = np.broadcast_to(ok[:, :, None], (g.n_locations, g.kh * g.kw, g.c_in))
    return ok.reshape(g.n_locations, g.patch)


def connectivity_matrix(g: ConvGeometry):
    """The convolution's connectivity as a ``scipy.sparse.csr_matrix`` of 0/1 entries,
    shape ``(h * w * c_in, h * w * c_out)`` (rows: input units, columns: output units, both
    flattened channels-last): the pairs of :func:`spikesim.receptive.conv_edges`, the
    definition the spiking builder's local receptive fields use too."""
    import scipy.sparse

    pre, post = receptive.conv_edges(g.h, g.w, g.c_in, g.c_out, g.kh, g.kw, g.pad_top, g.pad_left)
    data = np.ones(pre.size, np.int8)
    shape = (g.n_locations * g.c_in, g.n_locations * g.c_out)
    return scipy.sparse.csr_matrix((data, (pre, post)), shape=shape)


def untie(weight: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """The untied layer's weights, shape ``(L, kh * kw * c_in, c_out)``, that compute the
    same map as the tied convolution ``weight`` of shape ``(kh * kw * c_in, c_out)``.

    Raises
    ------
    ValidationError
        ``weight``'s shape does not match the geometry (kernel or channels).
    """
    if weight.shape != (g.patch, g.c_out):
        raise ValidationError(
            f"untie: weight has shape {weight.shape}, the convolution {g.kh}x{g.kw} from "
            f"{g.c_in} to {g.c_out} channels needs ({g.patch}, {g.c_out})"
        )
    conn = connectivity(g).astype(weight.dtype)
    return conn[:, :, None] * weight[None, :, :]


# -- max pooling -------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _pool_forward_kernel(a, out, arg, k, s, pt, pl):  # pragma: no cover - jit
    b_n, h, w, c_n = a.shape
    ho, wo = out.shape[1], out.shape[2]
    for b in range(b_n):
        for oi in range(ho):
            for oj in range(wo):
                for c in range(c_n):
                    best = -np.inf
                    where = 0
                    for di in range(k):
                        ii = oi * s + di - pt
                        if ii < 0 or ii >= h:
                            continue
                        for dj in range(k):
                            jj = oj * s + dj - pl
                            if jj < 0 or jj >= w:
                                continue
                            v = a[b, ii, jj, c]
                            if v > best:
                                best = v
                                where = di * k + dj
                    out[b, oi, oj, c] = best
                    arg[b, oi, oj, c] = where


@numba.njit(cache=True, nogil=True)
def _pool_backward_kernel(delta, arg, out, k, s, pt, pl):  # pragma: no cover - jit
    b_n, ho, wo, c_n = delta.shape
    for b in range(b_n):
        for oi in range(ho):
            for oj in range(wo):
                for c in range(c_n):
                    di, dj = divmod(arg[b, oi, oj, c], k)
                    out[b, oi * s + di - pt, oj * s + dj - pl, c] += delta[b, oi, oj, c]


def pool_forward(a: np.ndarray, g: PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Max over each window (padding never wins). Returns the pooled activity
    ``(batch, h_out, w_out, c)`` and the winning window offset ``di * k + dj`` (int16,
    the first maximum in row-major window order on ties)."""
    b = a.shape[0]
    out = np.empty((b, g.h_out, g.w_out, g.c), a.dtype)
    arg = np.empty(out.shape, np.int16)
    a = np.ascontiguousarray(a)
    _pool_forward_kernel(a, out, arg, g.k, g.stride, g.pad_top, g.pad_left)
    return out, arg


def pool_backward(delta: np.ndarray, arg: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """Route ``delta`` (batch, h_out, w_out, c) to the winners: shape ``(batch, h, w, c)``."""
    out = np.zeros((delta.shape[0], g.h, g.w, g.c), delta.dtype)
    delta = np.ascontiguousarray(delta)
    _pool_backward_kernel(delta, arg, out, g.k, g.stride, g.pad_top, g.pad_left)
    return out


# -- initialisation ----------------------------------------------------------------------
def fans(layer: Conv | Full) -> tuple[int, int]:
    """Glorot's ``(fan_in, fan_out)``: ``kh kw c_in`` and ``kh kw c_out`` for a convolution."""
    if isinstance(layer, Full):
        return layer.n_in, layer.n_out
    g = layer.geometry
    return g.patch, g.kh * g.kw * g.c_out


def tied_shape(layer: Conv | Full) -> tuple[int, int]:
    """``(n_in, n_out)`` of one location's weights: ``(kh kw c_in, c_out)`` for a convolution."""
    if isinstance(layer, Full):
        return layer.n_in, layer.n_out
    return layer.geometry.patch, layer.geometry.c_out


def init_weight(
    rng: np.random.Generator, layer: Conv | Full, dtype, *, transpose: bool, independent: bool
) -> np.ndarray:
    """Glorot-uniform weights (``transpose``: a feedback matrix, shape ``(n_out, n_in)``).

    An untied layer gets one draw per location if ``independent``, else one draw repeated
    at every location (the tied convolution it starts as); entries at the padding are zero.
    """
    fan_in, fan_out = fans(layer)
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    shape = tied_shape(layer)[::-1] if transpose else tied_shape(layer)
    if not (isinstance(layer, Conv) and layer.untied):
        return rng.uniform(-lim, lim, size=shape).astype(dtype)
    n_loc = layer.geometry.n_locations
    if independent:
        w = rng.uniform(-lim, lim, size=(n_loc, *shape)).astype(dtype)
    else:
        w = np.repeat(rng.uniform(-lim, lim, size=shape).astype(dtype)[None], n_loc, axis=0)
    return w * untied_mask(layer, dtype, transpose=transpose)


def untied_mask(layer: Conv, dtype, *, transpose: bool) -> np.ndarray:
    """0/1 connectivity of an untied layer broadcastable to its ``W`` (``(L, P, 1)``) or,
    with ``transpose``, to its ``R`` (``(L, 1, P)``)."""
    conn = connectivity(layer.geometry).astype(dtype)
    return conn[:, None, :] if transpose else conn[:, :, None]


def init_mask(
    rng: np.random.Generator, layer: Conv | Full, sparsity: float, dtype, *, transpose: bool
) -> np.ndarray:
    """Fixed random 0/1 mask with a fraction ``sparsity`` of zeros (Amit 2019's 50% pruning),
    drawn in one location's shape and repeated over an untied layer's locations (so the
    tied start is a pruned convolution)."""
    shape = tied_shape(layer)[::-1] if transpose else tied_shape(layer)
    m = _mlp.random_mask(rng, shape, sparsity, dtype)
    if isinstance(layer, Conv) and layer.untied:
        m = np.repeat(m[None], layer.geometry.n_locations, axis=0)
    return m


def bias_shape(layer: Conv | Full) -> tuple[int, ...]:
    if isinstance(layer, Full):
        return (layer.n_out,)
    g = layer.geometry
    return (g.n_locations, g.c_out) if layer.untied else (g.c_out,)


def n_connections(layer: Conv | Full) -> int:
    """Weights of a layer that connect two units (an untied layer's padding excluded)."""
    if isinstance(layer, Conv) and layer.untied:
        return int(connectivity(layer.geometry).sum()) * layer.geometry.c_out
    a, b = tied_shape(layer)
    return a * b


# -- forward and backward ----------------------------------------------------------------
class Cache(NamedTuple):
    """What the backward pass needs of one layer: its input (``cols`` for a convolution,
    the flattened activity for a full layer), the field ``h`` and activity ``a`` of a
    layer with weights, the pooling winners, or the dropout mask."""

    inp: np.ndarray | None
    h: np.ndarray | None
    a: np.ndarray | None
    aux: np.ndarray | None
    in_shape: tuple[int, ...]


def dropout_mask(rng: np.random.Generator, shape, p: float, dtype) -> np.ndarray:
    """Inverted-dropout multiplier: 0 with probability ``p``, else ``1 / (1 - p)``."""
    keep = rng.random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * np.dtype(dtype).type(1.0 / (1.0 - p))


def _conv_field(cols, w, b, layer: Conv, batch: int):
    g = layer.geometry
    if layer.untied:
        # gather kernel: one (batch, P) @ (P, c_out) product per location
        ct = cols.reshape(batch, g.n_locations, g.patch).transpose(1, 0, 2)
        h = np.matmul(ct, w)  # (L, batch, c_out)
        if b is not None:
            h += b[:, None, :]
        return np.ascontiguousarray(h.transpose(1, 0, 2)).reshape(batch, g.h, g.w, g.c_out)
    h = cols @ w
    if b is not None:
        h += b
    return h.reshape(batch, g.h, g.w, g.c_out)


def forward(x, plan, weights, biases, activation: str, rng: np.random.Generator | None):
    """Forward pass; dropout is applied only when ``rng`` is given (training).

    Parameters
    ----------
    x : ndarray, shape (batch, h * w * c)
        Images flattened channels-last (the plan's input shape).
    plan : tuple of layer records (:func:`build_plan`)
    weights, biases : lists over the layers with weights (biases may be None)

    Returns
    -------
    scores : ndarray, shape (batch, n_out)
    caches : list of :class:`Cache`, one per layer
    """
    batch = x.shape[0]
    first = plan[0]
    if isinstance(first, Conv):
        g = first.geometry
        a = x.reshape(batch, g.h, g.w, g.c_in)
    elif isinstance(first, Pool):
        g = first.geometry
        a = x.reshape(batch, g.h, g.w, g.c)
    else:
        a = x
    caches = []
    k = 0
    last = len(plan) - 1
    for pos, layer in enumerate(plan):
        shape = a.shape
        if isinstance(layer, Conv):
            cols = im2col(a, layer.geometry)
            h = _conv_field(cols, weights[k], None if biases is None else biases[k], layer, batch)
            a = _mlp.activate(activation, h)
            caches.append(Cache(cols, h, a, None, shape))
            k += 1
        elif isinstance(layer, Full):
            inp = a.reshape(batch, -1)
            h = inp @ weights[k]
            if biases is not None:
                h += biases[k]
            a = h if pos == last else _mlp.activate(activation, h)
            caches.append(Cache(inp, h, a, None, shape))
            k += 1
        elif isinstance(layer, Pool):
            a, arg = pool_forward(a, layer.geometry)
            caches.append(Cache(None, None, None, arg, shape))
        else:  # Drop
            if rng is not None and layer.p > 0:
                m = dropout_mask(rng, a.shape, layer.p, a.dtype)
                a = a * m
            else:
                m = None
            caches.append(Cache(None, None, None, m, shape))
    return a, caches


def backward(g_out, plan, caches, feedback, activation: str):
    """Carry the output error down and form every layer's weight and bias increments.

    Amit 2019, eq. 6 layer by layer: at a layer with weights ``dC/dW = inp^T delta``
    (per location for an untied layer), the error below is ``delta R`` (``col2im`` of it
    for a convolution); pooling routes the error to the window's winner, dropout multiplies
    it by its mask; ``sigma'(h)`` is applied at every hidden layer's field. Nothing is
    propagated below the first layer with weights.

    Parameters
    ----------
    g_out : ndarray, shape (batch, n_out)
        ``d loss / d scores``.
    feedback : list over the layers with weights (index 0 unused)
        ``R`` of each layer (``W^T`` for backprop; swapped last axes for an untied layer).

    Returns
    -------
    grad_w, grad_b : lists over the layers with weights, shapes of ``W`` and of the biases
    """
    wl = [pos for pos, layer in enumerate(plan) if has_weights(layer)]
    n_w = len(wl)
    grad_w: list = [None] * n_w
    grad_b: list = [None] * n_w
    batch = g_out.shape[0]
    delta = g_out
    k = n_w
    last = len(plan) - 1
    for pos in range(last, wl[0] - 1, -1):
        layer, c = plan[pos], caches[pos]
        if isinstance(layer, Pool):
            delta = pool_backward(delta.reshape(c.aux.shape), c.aux, layer.geometry)
            continue
        if isinstance(layer, Drop):
            if c.aux is not None:
                delta = delta.reshape(c.aux.shape) * c.aux
            continue
        k -= 1
        if pos != last:
            delta = times_derivative(delta, c.h, c.a, activation)
        if isinstance(layer, Full):
            grad_w[k] = c.inp.T @ delta
            grad_b[k] = delta.sum(axis=0)
            if k > 0:
                delta = (delta @ feedback[k]).reshape(c.in_shape)
            continue
        g = layer.geometry
        if layer.untied:
            dt = delta.reshape(batch, g.n_locations, g.c_out).transpose(1, 0, 2)  # (L, b, c)
            ct = c.inp.reshape(batch, g.n_locations, g.patch).transpose(1, 2, 0)  # (L, P, b)
            grad_w[k] = np.matmul(ct, dt)
            grad_b[k] = dt.sum(axis=1)
            if k > 0:
                dcols = np.matmul(dt, feedback[k]).transpose(1, 0, 2)  # (b, L, P)
                delta = col2im(np.ascontiguousarray(dcols), g, batch)
        else:
            d2 = delta.reshape(batch * g.n_locations, g.c_out)
            grad_w[k] = c.inp.T @ d2
            grad_b[k] = d2.sum(axis=0)
            if k > 0:
                delta = col2im(d2 @ feedback[k], g, batch)
    return grad_w, grad_b


@numba.njit(cache=True, nogil=True)
def _saturated_derivative_kernel(delta, h, out):  # pragma: no cover - jit
    half = (h[0] - h[0] + 1) / 2  # 0.5 in the arrays' dtype
    zero = half - half
    for i in range(h.size):
        out[i] = delta[i] * (half if abs(h[i]) < 2 else zero)


def times_derivative(delta: np.ndarray, h: np.ndarray, a: np.ndarray, activation: str):
    """``delta * sigma'(h)`` (same shape as ``h``); one Numba pass for ``saturated``."""
    delta = delta.reshape(h.shape)
    if activation == "saturated" and h.size and h.flags.c_contiguous:
        out = np.empty_like(h)
        _saturated_derivative_kernel(
            np.ascontiguousarray(delta).reshape(-1), h.reshape(-1), out.reshape(-1)
        )
        return out
    return delta * _mlp.activation_derivative(activation, h, a)


def tie_gradient(grad: np.ndarray, layer: Conv, dtype) -> np.ndarray:
    """An untied layer's increment in its tied phase (sec. 4.1): the sum over locations,
    repeated at every location and masked by the connectivity, so weights that start equal
    stay equal and the layer computes exactly the tied convolution."""
    tied = grad.sum(axis=0)
    return np.broadcast_to(tied, grad.shape) * untied_mask(layer, dtype, transpose=False)


def forward_flops(plan) -> list[int]:
    """Flops (2 per multiply-add) of one sample through each layer with weights."""
    out = []
    for layer in weighted(plan):
        if isinstance(layer, Full):
            out.append(2 * layer.n_in * layer.n_out)
        else:
            g = layer.geometry
            out.append(2 * g.n_locations * g.patch * g.c_out)
    return out


# -- filter similarity (Amit 2019, Fig. 6) -----------------------------------------------
def interior_locations(g: ConvGeometry) -> np.ndarray:
    """Indices of the output locations whose whole patch lies inside the image."""
    return np.nonzero(connectivity(g).all(axis=1))[0]


def filter_similarity(w: np.ndarray, g: ConvGeometry) -> float:
    """How alike an untied layer's filters are across locations (the Fig. 6 claim as a
    number): for each output channel the mean cosine similarity of the filters (the
    ``kh * kw * c_in`` weights of a location) over all pairs of interior locations, averaged
    over channels. 1: tied (every location the same filter); about 0: independent draws.

    Parameters
    ----------
    w : ndarray, shape (L, kh * kw * c_in, c_out)
    """
    if w.shape != (g.n_locations, g.patch, g.c_out):
        raise ValidationError(
            f"filter_similarity: weights of shape {w.shape} do not fit the untied layer "
            f"({g.n_locations}, {g.patch}, {g.c_out})"
        )
    f = np.asarray(w[interior_locations(g)], np.float64)  # (n, P, C)
    n = f.shape[0]
    if n < 2:
        raise ValidationError("filter_similarity: fewer than two interior locations")
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    u = np.divide(f, norm, out=np.zeros_like(f), where=norm > 0)
    s = u.sum(axis=0)  # (P, C)
    # sum over ordered pairs i != j of u_i . u_j = ||sum u||^2 - sum ||u_i||^2
    self_dot = (u * u).sum(axis=(0, 1))
    pairs = ((s * s).sum(axis=0) - self_dot) / (n * (n - 1))
    return float(pairs.mean())
