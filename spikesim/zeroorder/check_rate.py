"""Christensen-Kallsen Theorem 1: ``n`` zero-order updates per sample vs the gradient flow.

For one fixed sample (a fixed loss), run CK eq. (3.4): ``n`` updates with amplitude
``A_n = A / sqrt(n)`` and learning rate ``alpha`` (the ``learning_rate`` argument), the
``l``-th at time ``t_l = l/n``, and compare the piecewise-constant path ``Z^n`` with the
solution ``Z`` of ``dZ/dt = -(2/3) A^2 alpha grad L(Z)`` on ``[0, 1]`` (CK eq. 3.5, solved
with scipy's DOP853 at tight tolerances). CK Theorem 1 bounds
``sqrt(E sup_t ||Z^n_t - Z_t||^2) <= c sqrt(d / n)``.
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import DivergenceError, ValidationError
from spikesim.zeroorder.core import check_amplitude, flow_rate
from spikesim.zeroorder.dynamics import ZeroOrder
from spikesim.zeroorder.flow import gradient_flow
from spikesim.zeroorder.losses import Loss, Quadratic, TanhNet

__all__ = ["ck_rate", "make_problem", "sup_error"]


def make_problem(kind: str, d: int, rng: np.random.Generator) -> tuple[Loss, np.ndarray]:
    """A loss with ``d`` parameters and a start ``z0`` whose gradient has norm about 1.

    ``"quadratic"``: diagonal curvatures log-uniform in [0.5, 2], start in a random
    direction from the minimum with ``||grad L(z0)|| = 1`` whatever ``d`` (so the
    ``sqrt(d)`` of CK's bound is the only expected ``d``-dependence).
    ``"network"``: :class:`TanhNet`, one input, ``d / 2`` hidden units, 8 data points, a
    random teacher, a start where the unscaled gradient has norm >= 0.2 (so that scaling
    does not make the loss stiff), loss scaled so that ``||grad L(z0)|| = 1``.
    """
    if kind == "quadratic":
        center = rng.standard_normal(d)
        curvature = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=d))
        direction = rng.standard_normal(d)
        return Quadratic(center, curvature), center + direction / np.linalg.norm(
            curvature * direction
        )
    if kind == "network":
        if d % 2:
            raise ValidationError(f"network problem needs an even d, got {d}")
        X = rng.uniform(-2.0, 2.0, size=(8, 1))
        Y = TanhNet(X, np.zeros(8), hidden=d // 2).predict(rng.standard_normal((1, d)))[0]
        net = TanhNet(X, Y, hidden=d // 2)
        for _ in range(50):  # a start where the loss is not flat
            z0 = 0.5 * rng.standard_normal(d)
            g = np.linalg.norm(net.grad(z0[None, :]))
            if g >= 0.2:
                break
        return TanhNet(X, Y, hidden=d // 2, weight=1.0 / g), z0
    raise ValidationError(f"unknown problem {kind!r}; choose quadratic or network")


def sup_error(
    loss: Loss,
    z0: np.ndarray,
    *,
    n: int,
    A: float,
    learning_rate: float,
    replicates: int,
    seed: int,
) -> np.ndarray:
    """``sup_{t in [0,1]} ||Z^n_t - Z_t||`` for each of ``replicates`` paths, shape (replicates,).

    ``Z^n_t = Z^n_{t_l}`` on ``[t_l, t_{l+1})``; the sup over each such interval is taken
    at its two ends (``Z`` at ``t_l`` and at ``t_{l+1}``), exact when ``Z`` is straight
    over one step and off by ``O(1/n^2)`` otherwise.
    """
    t = np.arange(n + 1) / n
    flow = gradient_flow(lambda th: loss.grad(th), z0, flow_rate(A, learning_rate), t)
    worst = np.zeros(replicates)

    def monitor(step, theta):
        for j in (step, min(step + 1, n)):
            np.maximum(worst, np.linalg.norm(theta - flow[j], axis=1), out=worst)

    try:
        ZeroOrder(A=A, learning_rate=learning_rate, presentations=n, seed=seed).run(
            loss, z0, n_steps=n, replicates=replicates, monitor=monitor, monitor_every=1
        )
    except DivergenceError as exc:
        raise DivergenceError(
            f"n={n}, d={z0.size}: {exc}; the dynamics are only stable for "
            f"n >> learning_rate A^2 d = {learning_rate * A**2 * z0.size:.3g} (use larger n)",
            step=exc.step,
        ) from exc
    return worst


def ck_rate(
    *,
    ns=(100, 316, 1000, 3162, 10000, 31623, 100000),
    dims=(2, 8, 32),
    kinds=("quadratic", "network"),
    A: float = 1.0,
    learning_rate: float = 1.5,
    replicates: int = 200,
    seed: int = 0,
    progress=None,
) -> dict:
    """Error of CK's dynamics against the gradient flow for every ``n``, ``d`` and loss.

    ``error = sqrt(mean over replicates of sup_t ||Z^n_t - Z_t||^2)`` (the quantity of
    CK Theorem 1). ``slope``: mean over cases of the least-squares slope of
    ``log error`` against ``log n`` (theory -1/2). ``d_exponent``: for the quadratic
    problem, the slope of ``log error`` against ``log d`` averaged over ``n`` (theory: at
    most 1/2).
    """
    A = check_amplitude(A)
    ns = [int(n) for n in ns]
    if len(ns) < 2 or min(ns) < 1:
        raise ValidationError(f"need at least two n >= 1, got {ns}")
    rng = np.random.default_rng(seed)
    cases = []
    for kind in kinds:
        for d in dims:
            loss, z0 = make_problem(kind, int(d), rng)
            errors, stderrs = [], []
            for i, n in enumerate(ns):
                sup = sup_error(
                    loss,
                    z0,
                    n=n,
                    A=A,
                    learning_rate=learning_rate,
                    replicates=replicates,
                    seed=seed + 7919 * i,
                )
                ms = np.mean(sup**2)
                errors.append(float(np.sqrt(ms)))
                stderrs.append(
                    float(np.std(sup**2, ddof=1) / np.sqrt(replicates) / (2 * np.sqrt(ms)))
                )
            slope = float(np.polyfit(np.log(ns), np.log(errors), 1)[0])
            cases.append(
                {"kind": kind, "d": int(d), "error": errors, "stderr": stderrs, "slope": slope}
            )
            if progress is not None:
                progress(f"{kind} d={d}: slope {slope:.3f}")
    quad = [c for c in cases if c["kind"] == "quadratic"]
    d_exponent = None
    if len(quad) >= 2:
        logd = np.log([c["d"] for c in quad])
        err = np.log(np.array([c["error"] for c in quad]))
        d_exponent = float(np.mean([np.polyfit(logd, err[:, j], 1)[0] for j in range(len(ns))]))
    return {
        "check": "ck-rate",
        "equation": "CK Theorem 1, eqs. (3.4)-(3.5), A_n = A / sqrt(n)",
        "A": A,
        "learning_rate": learning_rate,
        "flow_rate": flow_rate(A, learning_rate),
        "replicates": int(replicates),
        "seed": seed,
        "n": ns,
        "slope": float(np.mean([c["slope"] for c in cases])),
        "slopes": [c["slope"] for c in cases],
        "d_exponent": d_exponent,
        "cases": cases,
    }
