"""Pure numerical core shared by the feedforward rate learners (``bp``, ``urfb``, ``frfb``).

Conventions: a layer's weight matrix ``W`` has shape ``(n_in, n_out)`` so that the field
is ``h = a @ W + b`` for a row-major minibatch ``a`` of shape ``(batch, n_in)``; a
feedback matrix ``R`` has shape ``(n_out, n_in)`` and carries the error backwards,
``delta_in = (delta_out @ R) * sigma'(h_in)`` (Amit 2019, eq. 6); backprop is the special
case ``R = W.T``. The output layer is linear; the loss turns its scores into an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from spikesim.errors import ValidationError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "hard-sigmoid", "saturated", "linear")
LOSSES = ("cross-entropy", "squared", "hinge", "sigmoid-bce")
#: the losses that take a dense target (an autoencoder's input), :func:`target_loss_and_grad`
TARGET_LOSSES = ("squared", "sigmoid-bce")
OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32", "float64")


# -- activations -------------------------------------------------------------------------
def activate(name: str, h: np.ndarray) -> np.ndarray:
    """The hidden non-linearity ``sigma(h)`` (elementwise, same shape as ``h``).

    ``saturated`` is Amit's saturated linearity ``clip(0.5 h, -1, 1)`` (Amit 2019, sec. 4;
    the authors' code), ``hard-sigmoid`` is ``clip(h, 0, 1)`` (Scellier & Bengio 2017).
    """
    if name == "relu":
        return np.maximum(h, 0)
    if name == "tanh":
        return np.tanh(h)
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-h))
    if name == "hard-sigmoid":
        return np.clip(h, 0, 1)
    if name == "saturated":
        return np.clip(0.5 * h, -1, 1)
    if name == "linear":
        return h.copy()
    raise ValidationError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def activation_derivative(name: str, h: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``sigma'(h)`` given the field ``h`` and the activity ``a = sigma(h)``."""
    dt = h.dtype
    if name == "relu":
        return (h > 0).astype(dt)
    if name == "tanh":
        return 1 - a * a
    if name == "sigmoid":
        return a * (1 - a)
    if name == "hard-sigmoid":
        return ((h > 0) & (h < 1)).astype(dt)
    if name == "saturated":
        return (np.abs(h) < 2).astype(dt) * dt.type(0.5)
    if name == "linear":
        return np.ones_like(h)
    raise ValidationError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


# -- losses ------------------------------------------------------------------------------
def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-z))``, elementwise, without overflow warnings."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def bce_with_logits(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of targets ``t`` in [0, 1] against ``sigmoid(z)``, elementwise:
    ``-t log sigmoid(z) - (1 - t) log(1 - sigmoid(z)) = max(z, 0) - t z + log1p(exp(-|z|))``
    (the stable form); its derivative in ``z`` is ``sigmoid(z) - t``."""
    return np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z)))


def target_loss_and_grad(name: str, f: np.ndarray, t: np.ndarray):
    """Mean loss over the minibatch against a dense target, and its gradient in the scores.

    Parameters
    ----------
    name : {"squared", "sigmoid-bce"}
        ``0.5 ||f - t||^2``, or ``sum_j bce(t_j, sigmoid(f_j))`` (binary cross-entropy of
        the sigmoid outputs, Alonso et al. 2022's autoencoders), per example.
    f : ndarray, shape (batch, n)
        Output scores.
    t : ndarray, shape (batch, n)
        Targets (an autoencoder's input; in [0, 1] for ``sigmoid-bce``).

    Returns
    -------
    loss : float
        Mean over the minibatch of the per-example sum over outputs.
    grad : ndarray, shape (batch, n)
        ``d loss / d f`` (already divided by the batch size): ``f - t`` or
        ``sigmoid(f) - t``, over ``batch``.
    """
    n = f.shape[0]
    if name == "squared":
        d = f - t
        return float(0.5 * np.mean(np.sum(d * d, axis=1))), d / f.dtype.type(n)
    if name == "sigmoid-bce":
        loss = float(np.mean(np.sum(bce_with_logits(f, t), axis=1)))
        return loss, (sigmoid(f) - t).astype(f.dtype, copy=False) / f.dtype.type(n)
    raise ValidationError(
        f"loss {name!r} takes no dense target; choose one of {', '.join(TARGET_LOSSES)}"
    )


def loss_and_grad(name: str, f: np.ndarray, y: np.ndarray, mu: float = 1.0):
    """Mean loss over the minibatch and its gradient with respect to the scores.

    Parameters
    ----------
    name : {"cross-entropy", "squared", "hinge", "sigmoid-bce"}
        ``cross-entropy``: ``-log softmax(f)_y``; ``squared``: ``0.5 ||f - onehot(y)||^2``;
        ``sigmoid-bce``: binary cross-entropy of ``sigmoid(f)`` to ``onehot(y)``;
        ``hinge``: Amit's multi-class hinge loss (Amit 2019, eq. 3)
        ``relu(1 - f_y) + mu * sum_{c != y} relu(1 + f_c)``.
    f : ndarray, shape (batch, n_classes)
        Output scores (the linear output layer's field).
    y : ndarray of int, shape (batch,)
    mu : float
        The hinge loss's balancing factor for the wrong classes.

    Returns
    -------
    loss : float
        Mean over the minibatch.
    grad : ndarray, shape (batch, n_classes)
        ``d loss / d f`` (already divided by the batch size).
    """
    n = f.shape[0]
    rows = np.arange(n)
    if name == "cross-entropy":
        z = f - f.max(axis=1, keepdims=True)
        ez = np.exp(z)
        s = ez.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, y]))
        g = ez / s
        g[rows, y] -= 1
        return loss, g / f.dtype.type(n)
    if name == "squared":
        d = f.copy()
        d[rows, y] -= 1
        loss = float(0.5 * np.mean(np.sum(d * d, axis=1)))
        return loss, d / f.dtype.type(n)
    if name == "hinge":
        m = 1 + f  # margins of the wrong classes
        m[rows, y] = 1 - f[rows, y]  # margin of the correct class
        w = np.full_like(f, mu)
        w[rows, y] = 1
        active = m > 0
        loss = float(np.sum(w * np.where(active, m, 0)) / n)
        sign = np.ones_like(f)
        sign[rows, y] = -1
        g = (w * sign) * active
        return loss, g / f.dtype.type(n)
    if name == "sigmoid-bce":
        t = np.zeros_like(f)
        t[rows, y] = 1
        return target_loss_and_grad(name, f, t)
    raise ValidationError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


# -- initialisation ----------------------------------------------------------------------
def glorot_uniform(rng: np.random.Generator, n_in: int, n_out: int, dtype) -> np.ndarray:
    """Glorot & Bengio's uniform initialisation, shape ``(n_in, n_out)``:
    ``U(-sqrt(6 / (n_in + n_out)), +sqrt(6 / (n_in + n_out)))``."""
    lim = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-lim, lim, size=(n_in, n_out)).astype(dtype)


def random_mask(rng: np.random.Generator, shape, sparsity: float, dtype) -> np.ndarray:
    """A fixed 0/1 mask with exactly ``round(sparsity * size)`` zeros at random places."""
    size = int(np.prod(shape))
    n_zero = int(round(sparsity * size))
    flat = np.ones(size, dtype=dtype)
    flat[rng.permutation(size)[:n_zero]] = 0
    return flat.reshape(shape)


# -- forward and backward ----------------------------------------------------------------
def forward(x, weights, biases, activation: str):
    """Forward pass of an MLP with a linear output layer.

    Parameters
    ----------
    x : ndarray, shape (batch, n_0)
    weights : list of ndarray, shapes (n_l, n_{l+1})
    biases : list of ndarray (n_{l+1},) or None (no biases)

    Returns
    -------
    acts : list of ndarray
        ``[x, a_1, ..., a_{L-1}, f]``: the input, the hidden activities, the output scores.
    fields : list of ndarray
        ``[h_1, ..., h_L]``: the fields (``h_L = f``).
    """
    acts = [x]
    fields = []
    a = x
    last = len(weights) - 1
    for k, w in enumerate(weights):
        h = a @ w
        if biases is not None:
            h += biases[k]
        fields.append(h)
        a = h if k == last else activate(activation, h)
        acts.append(a)
    return acts, fields


def backward(g_out, acts, fields, feedback: Sequence[np.ndarray], activation: str):
    """Propagate the output error backwards and form the weight increments.

    Implements Amit 2019, eq. 6: ``dC/dW_l = a_{l-1}^T delta_l`` with
    ``delta_{l-1} = (delta_l @ R_l) * sigma'(h_{l-1})``; ``R_l = W_l.T`` is backprop.

    Parameters
    ----------
    g_out : ndarray, shape (batch, n_L)
        ``d loss / d f``.
    feedback : sequence of ndarray, shapes (n_{l+1}, n_l)
        The matrices that carry the error down (``W.T`` views for backprop).

    Returns
    -------
    grad_w : list of ndarray, shapes (n_l, n_{l+1})
    grad_b : list of ndarray, shapes (n_{l+1},)
    """
    n_layers = len(feedback)
    grad_w = [None] * n_layers
    grad_b = [None] * n_layers
    delta = g_out
    for k in range(n_layers - 1, -1, -1):
        grad_w[k] = acts[k].T @ delta
        grad_b[k] = delta.sum(axis=0)
        if k > 0:
            delta = delta @ feedback[k]
            delta *= activation_derivative(activation, fields[k - 1], acts[k])
    return grad_w, grad_b


# -- optimisers --------------------------------------------------------------------------
def sgd_step(params, grads, velocity, lr: float, momentum: float) -> None:
    """In place: ``v <- momentum v + g``; ``p <- p - lr v`` (``v`` unused if momentum 0)."""
    for k, (p, g) in enumerate(zip(params, grads, strict=True)):
        if momentum:
            v = velocity[k]
            v *= momentum
            v += g
            g = v
        p -= p.dtype.type(lr) * g


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _adam_kernel(p, g, m, v, step, beta1, beta2, inv_c2, eps):  # pragma: no cover - jit
    # constants in the arrays' dtype (no float64 promotion); error_model="numpy" drops the
    # division-by-zero check so the loop vectorises
    om1 = (beta1 - beta1 + 1) - beta1
    om2 = (beta2 - beta2 + 1) - beta2
    for i in range(p.size):
        gi = g[i]
        mi = beta1 * m[i] + om1 * gi
        vi = beta2 * v[i] + om2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step * mi / (np.sqrt(vi * inv_c2) + eps)


def adam_step(params, grads, m, v, t: int, lr: float, beta1: float, beta2: float, eps: float):
    """In place Adam step number ``t`` (1-based), Kingma & Ba 2015, Algorithm 1:
    ``m <- b1 m + (1-b1) g``, ``v <- b2 v + (1-b2) g^2``,
    ``p <- p - lr/(1-b1^t) * m / (sqrt(v/(1-b2^t)) + eps)``.

    One fused pass per array (Numba): at batch 1 the elementwise update, not the matrix
    products, dominates a step. Arrays must be C-contiguous.
    """
    c1 = 1 - beta1**t
    c2 = 1 - beta2**t
    for p, g, mk, vk in zip(params, grads, m, v, strict=True):
        dt = p.dtype.type
        g = np.ascontiguousarray(g, dtype=p.dtype)
        _adam_kernel(
            p.reshape(-1),
            g.reshape(-1),
            mk.reshape(-1),
            vk.reshape(-1),
            dt(lr / c1),
            dt(beta1),
            dt(beta2),
            dt(1 / c2),
            dt(eps),
        )


def matmul_flops(sizes: Sequence[int]) -> int:
    """``2 * sum_l n_l n_{l+1}``: flops of one sample's forward pass through the weights."""
    return int(2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)))
