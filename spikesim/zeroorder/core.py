"""Pure numerical core of the zero-order dynamics (no state, no randomness of its own).

Notation follows Schmidt-Hieber (SH), "Interpreting learning in biological neural networks
as zero-order optimization method", sec. 4, and Christensen & Kallsen (CK), "Is learning in
biological neural networks based on stochastic gradient descent?", sec. 3.
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import ValidationError

__all__ = [
    "check_amplitude",
    "ck_amplitude",
    "drift_constant",
    "flow_rate",
    "normaliser",
    "perturbation_factor",
    "stdp_window",
    "zero_order_step",
]


def check_amplitude(A: float) -> float:
    """Return ``A`` as a float after checking that it is finite and positive."""
    A = float(A)
    if not np.isfinite(A) or A <= 0.0:
        raise ValidationError(f"amplitude A must be finite and > 0, got {A!r}")
    return A


def perturbation_factor(u: np.ndarray) -> np.ndarray:
    """The STDP factor ``e^{-u} - e^{u} = -2 sinh(u)`` of SH eq. (4.5), elementwise.

    Parameters
    ----------
    u : ndarray, shape (..., d)
        Perturbations (spike-time offsets, in units of the STDP time constant).

    Returns
    -------
    ndarray, shape (..., d)
    """
    return -2.0 * np.sinh(u)


def zero_order_step(
    theta: np.ndarray,
    u: np.ndarray,
    loss: np.ndarray | float,
    baseline: np.ndarray | float,
    learning_rate: float,
) -> np.ndarray:
    """One zero-order update, SH eq. (4.5) / CK eq. (3.2).

    ``theta_{k+1} = theta_k + alpha (L_k - b_k) (e^{-U_k} - e^{U_k})`` where
    ``L_k = L(theta_k + U_k, X_k, Y_k)`` is the loss at the perturbed parameters and
    ``b_k`` the baseline (SH: ``L(theta_{k-1} + U_{k-1}, X_{k-1}, Y_{k-1})``).

    Parameters
    ----------
    theta : ndarray, shape (d,) or (m, d)
        Current log-weights (``m`` independent replicates along the first axis).
    u : ndarray, same shape as ``theta``
        The perturbation ``U_k`` used to compute ``loss``.
    loss, baseline : float or ndarray, shape (m,)
        Perturbed loss and baseline (one per replicate).
    learning_rate : float
        Learning rate, ``alpha_{k+1}`` of SH eq. (4.5).

    Returns
    -------
    ndarray, same shape as ``theta``
        The new parameters (a new array; ``theta`` is not modified).
    """
    diff = np.asarray(loss, dtype=float) - np.asarray(baseline, dtype=float)
    if diff.ndim:
        diff = diff[:, None]
    return theta + learning_rate * diff * perturbation_factor(u)


def stdp_window(u: np.ndarray, A: float) -> np.ndarray:
    """The weight ``(e^A - e^u)(e^A - e^{-u})`` of SH Theorem 1, eq. (4.6), elementwise.

    Non-negative on ``[-A, A]`` and zero at both ends.
    """
    return (np.exp(A) - np.exp(u)) * (np.exp(A) - np.exp(-u))


def normaliser(A: float) -> float:
    """``C(A) = 2A(e^{2A} + 1) + 2 - 2e^{2A} = int_{-A}^{A} (e^A - e^x)(e^A - e^{-x}) dx``.

    SH, text after eq. (4.6). Evaluated as ``e^A (4A cosh A - 4 sinh A)`` (same value,
    no cancellation for small ``A``).
    """
    A = check_amplitude(A)
    return float(np.exp(A) * 4.0 * _acosh_minus_sinh(A))


def _acosh_minus_sinh(A: float) -> float:
    """``A cosh A - sinh A`` (series below 1e-2, where the difference cancels)."""
    if A < 1e-2:
        return A**3 / 3.0 + A**5 / 30.0 + A**7 / 840.0
    return float(A * np.cosh(A) - np.sinh(A))


def drift_constant(A: float) -> float:
    """Per-step drift factor ``e^{-A} C(A) / (2A) = 2 cosh A - 2 sinh(A)/A``.

    With ``U`` uniform on ``[-A, A]^d`` and a baseline independent of ``U``, the mean
    update of SH eq. (4.5) is ``-alpha * drift_constant(A) * E_V[grad L(theta + V)]``
    (SH eq. (4.7) and CK proof of Theorem 1, ``b^n``). SH eq. (4.7) as printed has
    ``e^{-A} C(A)`` without the ``1/(2A)``: the density of ``U_kj`` is ``1/(2A)``, which
    the printed formula drops (see ``docs/theory.md``). Taylor: ``2A^2/3 + A^4/15 + ...``.
    """
    A = check_amplitude(A)
    return 2.0 * _acosh_minus_sinh(A) / A


def flow_rate(A: float, learning_rate: float) -> float:
    """Rate ``(2/3) A^2 alpha`` of the gradient flow ``dZ/dt = -rate * grad L(Z)``, CK eq. (3.5).

    ``alpha`` is ``learning_rate`` (SH eq. 4.5). The rate is the limit
    ``n * drift_constant(A / sqrt(n)) * alpha`` as ``n -> infinity``: ``n`` steps of size
    ``1/n`` with amplitude ``A_n = A / sqrt(n)`` (see :func:`ck_amplitude`).
    """
    A = check_amplitude(A)
    return 2.0 / 3.0 * A**2 * float(learning_rate)


def ck_amplitude(A: float, n: int) -> float:
    """Perturbation amplitude ``A_n = A / sqrt(n)`` for ``n`` updates per sample (CK sec. 3).

    CK eq. (3.3) prints ``A_n = n^{-1/3} A``, but the proof of their Theorem 1 uses
    ``[-A_n, A_n] = [-n^{-1/2} A, n^{-1/2} A]``, and only ``A_n ~ n^{-1/2}`` makes ``n``
    steps of mean size ``alpha * drift_constant(A_n) ~ (2/3) alpha A^2 / n`` add up to the
    limit ODE (3.5) with its finite rate ``(2/3) A^2 alpha``; with ``n^{-1/3}`` the summed
    drift grows like ``n^{1/3}`` and there is no limit. We therefore use ``A / sqrt(n)``.
    """
    A = check_amplitude(A)
    n = int(n)
    if n < 1:
        raise ValidationError(f"number of presentations n must be >= 1, got {n}")
    return A / np.sqrt(n)
