"""The gradient flow that the Christensen-Kallsen dynamics converge to (CK eq. 3.5)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

from spikesim.errors import DivergenceError, ValidationError

__all__ = ["gradient_flow"]


def gradient_flow(
    grad: Callable[[np.ndarray], np.ndarray],
    z0,
    rate: float,
    t_eval,
    *,
    rtol: float = 1e-11,
    atol: float = 1e-13,
) -> np.ndarray:
    """Solve ``dZ/dt = -rate * grad L(Z)``, ``Z_0 = z0``, accurately (CK eq. 3.5).

    With ``rate = (2/3) A^2 alpha`` (:func:`spikesim.zeroorder.core.flow_rate`) this is the
    limit of ``n`` zero-order updates per sample with ``A_n = A / sqrt(n)`` on ``t in [0, 1]``.

    Parameters
    ----------
    grad : callable
        ``grad(theta (m, d)) -> (m, d)``, e.g. ``lambda th: loss.grad(th, x, y)``.
    z0 : ndarray, shape (d,)
    rate : float
        Time scale of the flow (per unit time).
    t_eval : ndarray, shape (n_t,)
        Increasing times (>= 0) at which to return the solution.
    rtol, atol : float
        Tolerances of the 8th-order Dormand-Prince integrator (scipy ``DOP853``).

    Returns
    -------
    ndarray, shape (n_t, d)
    """
    z0 = np.asarray(z0, dtype=float).ravel()
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1 or t_eval.size == 0 or np.any(np.diff(t_eval) < 0) or t_eval[0] < 0:
        raise ValidationError("t_eval must be a non-empty increasing array of times >= 0")

    def rhs(t, z):
        return -rate * np.asarray(grad(z[None, :]), dtype=float)[0]

    sol = solve_ivp(
        rhs, (0.0, float(t_eval[-1])), z0, method="DOP853", t_eval=t_eval, rtol=rtol, atol=atol
    )
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise DivergenceError(f"gradient flow failed: {sol.message}")
    return sol.y.T
