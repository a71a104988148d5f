"""Variance of zero-order gradient estimators against the dimension ``d`` (SH sec. 3).

SH's example: ``L(theta) = ||Y - theta||_2^2`` at a point with residual ``Y - theta = r``
in every coordinate. With ``U`` uniform on ``[-A, A]^d`` and ``s(U) = e^{-U} - e^{U}``:

* 1-point estimator ``L(theta + U) s(U)`` (baseline zero): every coordinate carries the
  noise of the ``d - 1`` other terms of the loss, so its variance grows like ``d^2``;
* two-point form of SH eq. (4.5), ``(L(theta + U) - L(theta + U')) s(U)`` with ``U'``
  independent (the previous iterate's perturbed loss at the same point): the loss
  difference is a sum of ``d`` independent centred terms, variance ``~ d``.

Reported is the per-coordinate variance ``mean_j Var(g_j)`` and the fitted exponent of
``d``. :func:`one_point_variance_exact` gives the 1-point value by 1-D quadrature.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad

from spikesim.errors import ValidationError
from spikesim.zeroorder.core import check_amplitude, perturbation_factor

__all__ = ["estimator_variance", "one_point_variance_exact", "variance_scaling"]


def _loss(theta_minus_y_plus_u: np.ndarray) -> np.ndarray:
    return np.einsum("md,md->m", theta_minus_y_plus_u, theta_minus_y_plus_u)


def estimator_variance(
    d: int, *, A: float, r: float, samples: int, rng: np.random.Generator, chunk: int = 0
) -> dict:
    """Monte Carlo per-coordinate variance of the 1-point and two-point estimators.

    Returns
    -------
    dict with ``one_point``, ``two_point`` (mean over coordinates of the sample variance)
    and their standard errors ``*_se`` (from the spread over coordinates and batches).
    """
    d, samples = int(d), int(samples)
    chunk = chunk or max(1, min(samples, 4_000_000 // max(d, 1)))
    sums = {k: np.zeros(d) for k in ("one_point", "two_point")}
    squares = {k: np.zeros(d) for k in sums}
    done = 0
    offset = -float(r)  # theta - Y
    while done < samples:
        m = min(chunk, samples - done)
        u = rng.uniform(-A, A, size=(m, d))
        u_prev = rng.uniform(-A, A, size=(m, d))
        s = perturbation_factor(u)
        now = _loss(offset + u)
        est = {
            "one_point": now[:, None] * s,
            "two_point": (now - _loss(offset + u_prev))[:, None] * s,
        }
        for k, g in est.items():
            sums[k] += g.sum(axis=0)
            squares[k] += (g * g).sum(axis=0)
        done += m
    out = {}
    for k in sums:
        mean = sums[k] / done
        var = (squares[k] / done - mean**2) * done / (done - 1)
        out[k] = float(var.mean())
        # Var of a sample variance ~ 2 var^2 / n for near-Gaussian estimators; the
        # coordinates share the loss, so do not divide by d.
        out[k + "_se"] = float(out[k] * np.sqrt(2.0 / done))
    return out


def one_point_variance_exact(d: int, *, A: float, r: float) -> float:
    """``Var(L(theta + U) s(U_j))`` for SH's least-squares example, by 1-D quadrature.

    With ``a_l = (U_l - r)^2`` and ``S = sum_{l != j} a_l`` (independent of ``U_j``):
    ``E[L^2 s_j^2] = E[a_j^2 s_j^2] + 2 E[a_j s_j^2] E[S] + E[S^2] E[s_j^2]`` and
    ``E[L s_j] = E[a_j s_j]``.
    """
    A = check_amplitude(A)

    def e(f):
        return quad(lambda u: f(u) / (2 * A), -A, A, epsabs=0, epsrel=1e-12)[0]

    s = perturbation_factor

    def a(u):
        return (u - r) ** 2

    mu, m2 = e(a), e(lambda u: a(u) ** 2)
    k = d - 1
    es, es2 = k * mu, k * (m2 - mu**2) + (k * mu) ** 2
    second = (
        e(lambda u: a(u) ** 2 * s(u) ** 2)
        + 2 * e(lambda u: a(u) * s(u) ** 2) * es
        + es2 * e(lambda u: s(u) ** 2)
    )
    return float(second - e(lambda u: a(u) * s(u)) ** 2)


def variance_scaling(
    *,
    dims=(4, 8, 16, 32, 64, 128, 256, 512, 1024),
    samples: int = 100_000,
    A: float = 0.3,
    r: float = 1.0,
    seed: int = 0,
    progress=None,
) -> dict:
    """Per-coordinate variance of both estimators for each ``d`` and fitted exponents.

    ``exponent``: least-squares slope of ``log Var`` (1-point) on ``log d`` (SH: 2);
    ``two_point_exponent`` likewise for the two-point form (expected 1).
    """
    A = check_amplitude(A)
    dims = [int(d) for d in dims]
    if len(dims) < 2 or min(dims) < 1:
        raise ValidationError(f"need at least two dimensions >= 1, got {dims}")
    rng = np.random.default_rng(seed)
    rows = []
    for d in dims:
        res = estimator_variance(d, A=A, r=r, samples=samples, rng=rng)
        res["d"] = d
        res["one_point_exact"] = one_point_variance_exact(d, A=A, r=r)
        rows.append(res)
        if progress is not None:
            progress(f"d={d}: 1-point {res['one_point']:.4g}, two-point {res['two_point']:.4g}")
    logd = np.log(dims)
    one = np.array([x["one_point"] for x in rows])
    two = np.array([x["two_point"] for x in rows])
    exact = np.array([x["one_point_exact"] for x in rows])
    return {
        "check": "variance",
        "loss": "||Y - theta||^2 with Y - theta = r in every coordinate (SH sec. 3)",
        "A": A,
        "r": r,
        "samples": samples,
        "seed": seed,
        "d": dims,
        "one_point": one,
        "two_point": two,
        "one_point_exact": exact,
        "exponent": float(np.polyfit(logd, np.log(one), 1)[0]),
        "exponent_exact": float(np.polyfit(logd, np.log(exact), 1)[0]),
        "two_point_exponent": float(np.polyfit(logd, np.log(two), 1)[0]),
        "max_relative_deviation_from_exact": float(np.max(np.abs(one / exact - 1))),
        "rows": rows,
    }
