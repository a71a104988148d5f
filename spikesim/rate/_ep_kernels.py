"""Numba kernels of equilibrium propagation (``spikesim.rate.ep``): the fused relaxation.

The whole free + nudged relaxation of one minibatch (Scellier & Bengio 2017, eq. 54, the
hard-sigmoid network of ``ep``) runs in one call: the states are kept feature-major,
``(n_k, batch)``, in flat buffers holding every layer (so one weight element multiplies a
contiguous batch row in both the forward ``s_{k-1} W_k`` and the backward ``s_k W_k^T``
products), with no allocation per step. Arithmetic stays in the arrays' dtype (float32
constants for float32 arrays). The elementwise step is the reference ``ep.relax``
operation for operation; the matrix products sum in a fixed sequential order (the
reference's BLAS products sum in their own order), so the two agree to rounding.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["relax_fused"]


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _dot(a, b, n):  # pragma: no cover - jit
    # sum_i a[i] b[i]: the only reassociated sum (a vectorised reduction, as in BLAS)
    acc = b[0] - b[0]
    for i in range(n):
        acc += a[i] * b[i]
    return acc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _relax_kernel(
    drive, states, weights_t, biases, target, n_free, n_nudged, eps, beta, free_out, nudged_out
):  # pragma: no cover - jit
    n_layers = len(states)
    batch = drive.shape[0]
    off = np.zeros(n_layers + 1, dtype=np.int64)
    for k in range(n_layers):
        off[k + 1] = off[k] + states[k].shape[1]
    total = off[n_layers]
    n1 = off[1]
    dt = drive.dtype
    cur = np.empty((batch, total), dtype=dt)
    nxt = np.empty((batch, total), dtype=dt)
    fwd = np.empty((batch, total), dtype=dt)  # s_{k-1} W_k (k >= 2)
    bwd = np.zeros((batch, total), dtype=dt)  # s_{k+1} W_{k+1}^T
    base = np.empty((batch, n1), dtype=dt)  # rho(x) W_1 + b_1, fixed for the minibatch
    zero = dt.type(0.0)
    one = dt.type(1.0)
    keep = one - eps
    two_beta = dt.type(2.0) * beta
    b1 = biases[0]
    for b in range(batch):
        for k in range(n_layers):
            s = states[k]
            for j in range(s.shape[1]):
                cur[b, off[k] + j] = s[b, j]
        for i in range(n1):
            base[b, i] = drive[b, i] + b1[i]
    for step in range(n_free + n_nudged):
        if step == n_free:  # end of the free phase
            for k in range(n_layers):
                o = free_out[k]
                for b in range(batch):
                    for j in range(o.shape[1]):
                        o[b, j] = cur[b, off[k] + j]
        nudge = step >= n_free
        for b in range(batch):
            c = cur[b]
            f = fwd[b]
            g = bwd[b]
            g[:] = zero
            # W_{k+1} (0-based k >= 1) couples layers k-1 and k; its transpose's row j
            # gives the forward dot product and the backward axpy
            for k in range(1, n_layers):
                wt = weights_t[k]
                lo = off[k - 1]
                hi = off[k]
                n_lo = hi - lo
                s_lo = c[lo:hi]
                g_lo = g[lo:hi]
                for j in range(wt.shape[0]):
                    row = wt[j]
                    f[hi + j] = _dot(s_lo, row, n_lo)
                    a = c[hi + j]
                    for i in range(n_lo):
                        g_lo[i] += a * row[i]
            t = target[b]
            nb = nxt[b]
            for k in range(n_layers):
                lo = off[k]
                n_k = off[k + 1] - lo
                bk = biases[k]
                last = k == n_layers - 1
                if k == 0:
                    d0 = base[b]
                    for j in range(n_k):
                        d = d0[j]
                        if not last:
                            d = d + g[j]
                        elif nudge:
                            d = d + two_beta * (t[j] - c[j])
                        nb[j] = min(max(keep * c[j] + eps * d, zero), one)
                elif not last:
                    for j in range(n_k):
                        d = (f[lo + j] + bk[j]) + g[lo + j]
                        nb[lo + j] = min(max(keep * c[lo + j] + eps * d, zero), one)
                else:
                    for j in range(n_k):
                        d = f[lo + j] + bk[j]
                        if nudge:
                            d = d + two_beta * (t[j] - c[lo + j])
                        nb[lo + j] = min(max(keep * c[lo + j] + eps * d, zero), one)
        cur, nxt = nxt, cur
    for k in range(n_layers):
        o = nudged_out[k]
        for b in range(batch):
            for j in range(o.shape[1]):
                o[b, j] = cur[b, off[k] + j]
    return total


def relax_fused(drive, states, weights, biases, *, n_free, n_nudged, eps, beta=0.0, target=None):
    """Free phase then nudged phase of eq. 54 in one Numba call.

    Parameters
    ----------
    drive : ndarray, shape (batch, n_1)
        ``rho(x) @ W_1``.
    states : list of ndarray, shapes (batch, n_k), k = 1..N
        Initial states in ``[0, 1]``; not modified.
    weights, biases : lists of ndarray
        ``W_k`` shape ``(n_{k-1}, n_k)``, ``b_k`` shape ``(n_k,)``, k = 1..N (``W_1`` is
        only in ``drive``).
    n_free, n_nudged : int
        Steps of the free phase (``beta = 0``) and of the nudged phase (from its end).
    eps, beta : float
        Step size and nudging strength (force ``2 beta (target - s_N)`` on the output).
    target : ndarray, shape (batch, n_N), optional
        One-hot targets (unused when ``n_nudged == 0``).

    Returns
    -------
    free, nudged : lists of ndarray, shapes (batch, n_k)
        The states after ``n_free`` steps and after ``n_free + n_nudged`` steps; equal to
        ``ep.relax`` (free phase, then nudged phase from its end) up to rounding.
    """
    dt = drive.dtype
    c = np.ascontiguousarray
    batch = drive.shape[0]
    states = tuple(c(s, dtype=dt) for s in states)
    free = [np.empty_like(s) for s in states]
    nudged = [np.empty_like(s) for s in states] if n_nudged else free
    if target is None:
        target = np.zeros((batch, states[-1].shape[1]), dtype=dt)
    _relax_kernel(
        c(drive),
        states,
        (np.zeros((1, 1), dtype=dt),) + tuple(c(w.T, dtype=dt) for w in weights[1:]),
        tuple(c(b, dtype=dt) for b in biases),
        c(target, dtype=dt),
        int(n_free),
        int(n_nudged),
        dt.type(eps),
        dt.type(beta),
        tuple(free),
        tuple(nudged),
    )
    return free, nudged
