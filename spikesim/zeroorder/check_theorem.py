"""Monte Carlo check of Schmidt-Hieber's Theorem 1 (SH eq. 4.6).

For fixed ``theta_k`` and data, the mean of one update of SH eq. (4.5),
``Delta = alpha (L(theta_k + U_k) - L(theta_{k-1} + U_{k-1})) (e^{-U_k} - e^{U_k})``,
over the perturbations ``U_k, U_{k-1}`` (independent, uniform on ``[-A, A]^d``) equals
``-alpha e^{-A} E[grad L(theta_k + U_k) (.) (e^A - e^{U_k})(e^A - e^{-U_k})]``.
We estimate the left side by plain Monte Carlo over ``samples`` draws and compare it with
the right side computed independently: in closed form for least squares (the gradient is
affine, so the right side is ``-alpha drift_constant(A) grad L(theta_k)``) and by
randomised quasi-Monte Carlo (scrambled Sobol points) for the tanh network.
The paper's ``alpha`` is the ``learning_rate`` argument throughout.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2, qmc

from spikesim.errors import ValidationError
from spikesim.zeroorder.core import check_amplitude, drift_constant, stdp_window, zero_order_step
from spikesim.zeroorder.losses import LeastSquares, Loss, TanhNet

__all__ = ["make_case", "mean_update", "rhs_eq46", "sh_theorem1"]


def make_case(kind: str, d: int, rng: np.random.Generator) -> tuple[Loss, np.ndarray]:
    """A smooth loss of ``d`` parameters and a point ``theta_k`` away from its minimum.

    ``"least_squares"``: ``2d`` Gaussian rows scaled by ``1/sqrt(d)``, random targets.
    ``"network"``: :class:`TanhNet` with one input and ``d / 2`` hidden units on 8 points
    (``d`` must be even), targets from a random teacher network.
    """
    if kind == "least_squares":
        X = rng.standard_normal((2 * d, d)) / np.sqrt(d)
        Y = rng.standard_normal(2 * d)
        return LeastSquares(X, Y), 0.5 * rng.standard_normal(d)
    if kind == "network":
        if d % 2:
            raise ValidationError(f"network case needs an even number of parameters, got {d}")
        X = rng.uniform(-2.0, 2.0, size=(8, 1))
        teacher = TanhNet(X, np.zeros(8), hidden=d // 2)
        Y = teacher.predict(rng.standard_normal((1, d)))[0]
        return TanhNet(X, Y, hidden=d // 2), 0.7 * rng.standard_normal(d)
    raise ValidationError(f"unknown case {kind!r}; choose least_squares or network")


def mean_update(
    loss: Loss,
    theta: np.ndarray,
    *,
    A: float,
    learning_rate: float,
    samples: int,
    checkpoints,
    rng: np.random.Generator,
    chunk: int = 100_000,
) -> dict:
    """Monte Carlo mean and covariance of one SH eq. (4.5) update at ``theta``.

    The baseline is ``L(theta + U')`` with ``U'`` independent of ``U`` (the previous
    iterate ``theta_{k-1} = theta_k`` on the same full-batch loss).

    Returns
    -------
    dict with ``n`` (checkpoints,), ``mean`` (checkpoints, d), ``cov`` (checkpoints, d, d):
    the running estimates after the first ``n`` samples.
    """
    d = theta.size
    total = np.zeros(d)
    outer = np.zeros((d, d))
    done = 0
    ns, means, covs = [], [], []
    for target in sorted(int(c) for c in checkpoints):
        while done < target:
            m = min(chunk, target - done)
            u = rng.uniform(-A, A, size=(m, d))
            u_prev = rng.uniform(-A, A, size=(m, d))
            base = np.broadcast_to(theta, (m, d))
            delta = zero_order_step(
                np.zeros((m, d)), u, loss.value(base + u), loss.value(base + u_prev), learning_rate
            )
            total += delta.sum(axis=0)
            outer += delta.T @ delta
            done += m
        mean = total / done
        ns.append(done)
        means.append(mean)
        covs.append((outer / done - np.outer(mean, mean)) * done / max(done - 1, 1))
    return {"n": np.array(ns), "mean": np.array(means), "cov": np.array(covs)}


def rhs_eq46(
    loss: Loss,
    theta: np.ndarray,
    *,
    A: float,
    learning_rate: float,
    rng: np.random.Generator,
    exact: bool,
    log2_points: int = 17,
    scramblings: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Right side of SH eq. (4.6) and its standard error, shapes ``(d,)`` and ``(d,)``.

    ``exact``: the loss has an affine gradient, so the right side is
    ``-alpha drift_constant(A) grad L(theta)`` (the odd part of ``U`` integrates out).
    Otherwise: mean over ``scramblings`` independently scrambled Sobol nets of
    ``2**log2_points`` points each; the standard error is their spread / sqrt(count).
    """
    d = theta.size
    if exact:
        g = loss.grad(theta[None, :])[0]
        return -learning_rate * drift_constant(A) * g, np.zeros(d)
    estimates = []
    for _ in range(scramblings):
        sob = qmc.Sobol(d, scramble=True, seed=rng)
        u = (2.0 * sob.random_base2(log2_points) - 1.0) * A
        g = loss.grad(theta[None, :] + u) * stdp_window(u, A)
        estimates.append(-learning_rate * np.exp(-A) * g.mean(axis=0))
    estimates = np.array(estimates)
    return estimates.mean(axis=0), estimates.std(axis=0, ddof=1) / np.sqrt(scramblings)


def sh_theorem1(
    *,
    samples: int = 1_000_000,
    dims=(2, 4, 8),
    kinds=("least_squares", "network"),
    A: float = 0.3,
    learning_rate: float = 0.02,
    seed: int = 0,
    progress=None,
) -> dict:
    """Check SH eq. (4.6) by Monte Carlo for every loss kind and dimension.

    For each case: relative error ``||mean - rhs|| / ||rhs||`` at ``samples`` draws and at
    1/1000, 1/100, 1/10 of them; its sampling level ``sqrt(tr(cov)/n) / ||rhs||`` (what
    the relative error is expected to be from noise alone); a per-coordinate 95% interval;
    and ``chi2 = (mean - rhs)^T (cov/n)^{-1} (mean - rhs)`` with its p-value against
    ``chi2(d)`` (small p: the identity fails). ``relative_error`` is the largest over cases;
    ``slope`` is the fitted exponent of the (root-mean-square over cases) relative error
    against ``n`` (1/sqrt(n): -0.5).
    """
    A = check_amplitude(A)
    samples = int(samples)
    if samples < 1000:
        raise ValidationError(f"samples must be >= 1000, got {samples}")
    checkpoints = sorted({max(samples // 10**k, 1) for k in range(3, -1, -1)})
    rng = np.random.default_rng(seed)
    cases = []
    for kind in kinds:
        for d in dims:
            loss, theta = make_case(kind, int(d), rng)
            rhs, rhs_se = rhs_eq46(
                loss,
                theta,
                A=A,
                learning_rate=learning_rate,
                rng=rng,
                exact=kind == "least_squares",
            )
            mc = mean_update(
                loss,
                theta,
                A=A,
                learning_rate=learning_rate,
                samples=samples,
                checkpoints=checkpoints,
                rng=rng,
            )
            norm = np.linalg.norm(rhs)
            rel = [float(np.linalg.norm(m - rhs) / norm) for m in mc["mean"]]
            level = [
                float(np.sqrt(np.trace(c) / n + np.sum(rhs_se**2)) / norm)
                for c, n in zip(mc["cov"], mc["n"], strict=True)
            ]
            mean, cov, n = mc["mean"][-1], mc["cov"][-1], mc["n"][-1]
            se = np.sqrt(np.diag(cov) / n + rhs_se**2)
            diff = mean - rhs
            stat = float(diff @ np.linalg.solve(cov / n + np.diag(rhs_se**2), diff))
            cases.append(
                {
                    "kind": kind,
                    "d": int(d),
                    "relative_error": rel[-1],
                    "noise_level": level[-1],
                    "relative_error_by_n": rel,
                    "noise_level_by_n": level,
                    "mean_update": mean,
                    "rhs": rhs,
                    "ci95_low": mean - 1.96 * se,
                    "ci95_high": mean + 1.96 * se,
                    "coords_in_ci95": int(np.sum(np.abs(diff) <= 1.96 * se)),
                    "chi2": stat,
                    "p_value": float(chi2.sf(stat, df=int(d))),
                }
            )
            if progress is not None:
                progress(f"{kind} d={d}: relative error {rel[-1]:.4f}")
    rel_by_n = np.array([c["relative_error_by_n"] for c in cases])
    rms = np.sqrt(np.mean(rel_by_n**2, axis=0))
    slope = float(np.polyfit(np.log(checkpoints), np.log(rms), 1)[0])
    return {
        "check": "sh-theorem1",
        "equation": "SH eq. (4.6)",
        "A": A,
        "learning_rate": learning_rate,
        "samples": samples,
        "seed": seed,
        "relative_error": max(c["relative_error"] for c in cases),
        "noise_level": max(c["noise_level"] for c in cases),
        "n": checkpoints,
        "rms_relative_error_by_n": rms,
        "slope": slope,
        "min_p_value": min(c["p_value"] for c in cases),
        "eq47_printed_factor": 2.0 * A,
        "cases": cases,
    }
