"""Local receptive fields: the connectivity of a stride-1 convolution padded to keep the size.

The one definition of which input unit feeds which output unit in such a convolution,
shared by the spiking builder (:func:`spikesim.plasticity.tasks.ei_network` with
``receptive``: a hidden layer of local receptive fields) and the rate learners' conv layers
(:mod:`spikesim.rate._conv`: the untied layer's mask and ``connectivity_matrix``).

An image of ``h x w`` pixels and ``c_in`` channels is flattened channels-last: unit
``(i * w + j) * c_in + ch``. A ``kh x kw`` kernel with ``c_out`` output channels gives
``h * w * c_out`` output units, unit ``(i * w + j) * c_out + co`` at output location
``(i, j)``; it is fed by the input units ``(i + di - pad_top, j + dj - pad_left, ch)`` for
``0 <= di < kh``, ``0 <= dj < kw`` and every ``ch`` that lie inside the image (padding that
keeps the size, as TensorFlow's ``SAME``: :func:`same_padding` rows / columns before the
image, the rest of ``kernel - 1`` after it). Every output channel of a location has the same
window. This module is core: it imports no engine and nothing of the learners.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["ReceptiveField", "conv_edges", "receptive_field", "same_padding", "window_mask"]


def same_padding(kernel: int) -> int:
    """Rows (columns) of padding before the image of a size-keeping stride-1 convolution
    with a kernel of ``kernel`` rows (columns): ``(kernel - 1) // 2`` (the extra one of an
    even kernel goes after the image)."""
    return (int(kernel) - 1) // 2


def window_mask(
    h: int, w: int, kh: int, kw: int, pad_top: int | None = None, pad_left: int | None = None
) -> np.ndarray:
    """Which kernel positions of each output location lie inside the image.

    Parameters
    ----------
    h, w : int
        Image rows and columns (pixels); the output has the same size.
    kh, kw : int
        Kernel rows and columns.
    pad_top, pad_left : int, optional
        Padding before the image (default :func:`same_padding` of ``kh`` / ``kw``).

    Returns
    -------
    ndarray of bool, shape (h * w, kh * kw)
        Row ``i * w + j`` (output location), column ``di * kw + dj`` (kernel position):
        True where the input pixel ``(i + di - pad_top, j + dj - pad_left)`` is in the image.
    """
    pt = same_padding(kh) if pad_top is None else int(pad_top)
    pl = same_padding(kw) if pad_left is None else int(pad_left)
    ii = np.arange(h)[:, None] + np.arange(kh)[None, :] - pt  # (h, kh)
    jj = np.arange(w)[:, None] + np.arange(kw)[None, :] - pl  # (w, kw)
    ok_i = (ii >= 0) & (ii < h)
    ok_j = (jj >= 0) & (jj < w)
    ok = ok_i[:, None, :, None] & ok_j[None, :, None, :]  # (h, w, kh, kw)
    return ok.reshape(h * w, kh * kw)


def conv_edges(
    h: int,
    w: int,
    c_in: int,
    c_out: int,
    kh: int,
    kw: int,
    pad_top: int | None = None,
    pad_left: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (input unit, output unit) pairs of a stride-1 convolution padded to keep the size.

    Parameters
    ----------
    h, w, c_in : int
        Input image rows, columns and channels (units flattened channels-last).
    c_out : int
        Output channels (``h * w * c_out`` output units, channels-last).
    kh, kw : int
        Kernel rows and columns.
    pad_top, pad_left : int, optional
        Padding before the image (default :func:`same_padding`).

    Returns
    -------
    pre, post : ndarray of int64, shape (n_pairs,)
        Input unit and output unit of every connection, in post-major order (the pairs into
        one output unit contiguous, their inputs ascending); ``n_pairs`` is ``c_out * c_in``
        times the number of in-image kernel positions summed over the ``h * w`` locations.
    """
    ok = window_mask(h, w, kh, kw, pad_top, pad_left)  # (L, kh * kw)
    pt = same_padding(kh) if pad_top is None else int(pad_top)
    pl = same_padding(kw) if pad_left is None else int(pad_left)
    oi, oj = np.divmod(np.arange(h * w), w)
    di, dj = np.divmod(np.arange(kh * kw), kw)
    pixel = (oi[:, None] + di[None, :] - pt) * w + (oj[:, None] + dj[None, :] - pl)  # (L, K)
    src = pixel[:, :, None] * c_in + np.arange(c_in)  # (L, K, c_in)
    valid = np.broadcast_to(ok[:, :, None], src.shape).reshape(h * w, -1)  # (L, P)
    src = src.reshape(h * w, -1)
    shape = (h * w, c_out, src.shape[1])
    keep = np.broadcast_to(valid[:, None, :], shape)
    pre = np.broadcast_to(src[:, None, :], shape)[keep]
    dst = np.arange(h * w)[:, None] * c_out + np.arange(c_out)  # (L, c_out)
    post = np.broadcast_to(dst[:, :, None], shape)[keep]
    return pre.astype(np.int64), post.astype(np.int64)


class ReceptiveField(NamedTuple):
    """A layer of local receptive fields over an image (checked by :func:`receptive_field`).

    ``image = (h, w, c_in)``, ``kernel = (kh, kw)``, ``channels = c_out``: the layer has
    ``h * w * channels`` neurons, neuron ``(i * w + j) * channels + co`` fed by the
    ``kh x kw x c_in`` window of pixels around ``(i, j)`` (:func:`conv_edges`).
    """

    image: tuple[int, int, int]
    kernel: tuple[int, int]
    channels: int

    @property
    def n_inputs(self) -> int:
        """Input units of the image, ``h * w * c_in``."""
        h, w, c = self.image
        return h * w * c

    @property
    def n_outputs(self) -> int:
        """Neurons of the layer, ``h * w * channels``."""
        h, w, _ = self.image
        return h * w * self.channels

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pre, post)`` of the layer (input unit, layer neuron; :func:`conv_edges`)."""
        h, w, c = self.image
        kh, kw = self.kernel
        return conv_edges(h, w, c, self.channels, kh, kw)


def _positive_ints(name: str, value, n: int | Sequence[int]) -> tuple[int, ...]:
    lengths = (n,) if isinstance(n, int) else tuple(n)
    vals = np.atleast_1d(np.asarray(value, dtype=object)).ravel().tolist()
    ok = len(vals) in lengths and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1 for v in vals
    )
    if not ok:
        want = " or ".join(str(k) for k in lengths)
        raise ValidationError(
            f"receptive field: {name} must be {want} integers >= 1, got {value!r}"
        )
    return tuple(int(v) for v in vals)


def receptive_field(image, kernel, channels) -> ReceptiveField:
    """A checked :class:`ReceptiveField`.

    Parameters
    ----------
    image : (h, w) or (h, w, c_in) of int
        The image the inputs are (pixels, channels-last; ``c_in`` 1 if omitted).
    kernel : int or (kh, kw) of int
        Window size, pixels (an int: square).
    channels : int
        Neurons per location (output channels), >= 1.

    Raises
    ------
    ValidationError
        Naming the value: sizes that are not positive integers, channels < 1, a kernel
        larger than the image.
    """
    img = _positive_ints("image", image, (2, 3))
    img = (*img, 1) if len(img) == 2 else img
    ker = _positive_ints("kernel", kernel, (1, 2))
    ker = ker * 2 if len(ker) == 1 else ker
    if isinstance(channels, bool) or not isinstance(channels, int | np.integer) or channels < 1:
        raise ValidationError(
            f"receptive field: channels must be an integer >= 1, got {channels!r}"
        )
    h, w, _ = img
    kh, kw = ker
    if kh > h or kw > w:
        raise ValidationError(f"receptive field: kernel {kh}x{kw} is larger than the {h}x{w} image")
    return ReceptiveField(img, ker, int(channels))
