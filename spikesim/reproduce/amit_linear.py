"""Amit (2019) sec. 3.3: linear network 40-100-100-10, log-error of BP, URFB and FRFB.

A deep linear network ``P = A_1 A_2 A_3`` (``A_i`` of shape ``(n_{i-1}, n_i)``, sizes
40-100-100-10) learns a target ``T = W_1 W_2 W_3`` built from random factors of the same
shapes (scaled to spectral norm 1, the paper's ``lambda_T <= 1``) by gradient steps on
``0.5 ||T - P||_F^2`` in which the error reaches layer ``i`` through feedback matrices
(Amit 2019, eq. 15, discretised with step ``lr``)::

    e = T - A_1 A_2 A_3
    Delta A_i = lr (A_1 ... A_{i-1})^T e R_3 ... R_{i+1}
    Delta R_i = eps (Delta A_i)^T           (eq. 11: R'_2 = eps W_1 (T - W_2 W_1)^t)

``R_i = A_i^T`` with ``eps = 1`` is backprop (SGD), random ``R_i`` with ``eps = 1`` is URFB,
``eps = 0`` is FRFB; ``eps`` in between interpolates. Two experiments, each over several
seeds:

- *random init* (Fig. 3): the same random ``A_i(0)`` for SGD, URFB and FRFB;
- *zero init* (Fig. 4): ``A_i(0) = 0``, the same random ``R_i(0)`` for every ``eps`` in
  {0, .25, .5, 1} (SGD cannot leave ``A = 0``, so its curve is the random-init one).

The error reported is the relative Frobenius error ``||T - P||_F / ||T||_F``; the figure
plots its log10 against the iteration. The paper's claim: URFB converges faster than FRFB,
and faster as ``eps`` grows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spikesim.errors import DivergenceError, ValidationError

SIZES = (40, 100, 100, 10)
EPSILONS = (0.0, 0.25, 0.5, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=3, help="runs (seeds 0..n-1)")
    parser.add_argument(
        "--iterations", type=int, default=5000, help="steps of eq. 15 per run (default 5000)"
    )
    parser.add_argument("--lr", type=float, default=0.01, help="step size of eq. 15")
    parser.add_argument(
        "--init-scale",
        type=float,
        default=0.5,
        help="std of A_i(0) and R_i(0) entries times sqrt(fan-in)",
    )
    parser.add_argument(
        "--threshold", type=float, default=1e-3, help="relative error counted as reached"
    )


def make_problem(seed: int, init_scale: float = 0.5, sizes=SIZES):
    """Target and initial matrices of one run.

    Returns
    -------
    target : ndarray, shape (n_0, n_k)
        ``T = W_1 ... W_k`` (Gaussian factors), scaled to spectral norm 1.
    a0 : list of ndarray, shapes (n_{i-1}, n_i)
        Random initial forward weights, entries ``N(0, init_scale^2 / n_{i-1})``.
    r0 : list of ndarray or None, shapes (n_i, n_{i-1})
        Random initial feedback (``r0[0]`` is None: no feedback into the input).
    """
    rng = np.random.default_rng(seed)
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    factors = [rng.normal(size=(a, b)) / np.sqrt(a) for a, b in pairs]
    target = factors[0]
    for f in factors[1:]:
        target = target @ f
    target = target / np.linalg.norm(target, 2)
    a0 = [rng.normal(size=(a, b)) * init_scale / np.sqrt(a) for a, b in pairs]
    r0 = [None] + [rng.normal(size=(b, a)) * init_scale / np.sqrt(b) for a, b in pairs[1:]]
    return target, a0, r0


def simulate(target, a0, r0, eps: float, lr: float, n_iter: int) -> np.ndarray:
    """Run eq. 15 (discretised) for ``n_iter`` steps.

    Parameters
    ----------
    target : ndarray, shape (n_0, n_k)
    a0 : list of ndarray, shapes (n_{i-1}, n_i)
        Initial forward weights (copied).
    r0 : list, ``r0[i]`` of shape (n_i, n_{i-1}) for i >= 1, or ``"transpose"``
        Initial feedback (copied); ``"transpose"`` keeps ``R_i = A_i^T`` (backprop).
    eps : float
        Fraction of the forward increment given to the feedback (0: FRFB, 1: URFB).

    Returns
    -------
    ndarray, shape (n_iter + 1,)
        Relative error ``||T - P||_F / ||T||_F`` before each step and after the last.

    Raises
    ------
    DivergenceError
        The error became non-finite or exceeded 1e6 (step too large).
    """
    a = [m.copy() for m in a0]
    backprop = isinstance(r0, str)
    r = [None] + ([m.T for m in a[1:]] if backprop else [m.copy() for m in r0[1:]])
    k = len(a)
    norm_t = np.linalg.norm(target)
    errors = np.empty(n_iter + 1)
    for it in range(n_iter + 1):
        prefix = [np.eye(a[0].shape[0])]  # prefix[i] = A_1 ... A_i (0-based: A_0 .. A_{i-1})
        for m in a:
            prefix.append(prefix[-1] @ m)
        e = target - prefix[-1]
        err = np.linalg.norm(e) / norm_t
        if not np.isfinite(err) or err > 1e6:
            raise DivergenceError(
                f"amit-linear: error {err:g} at iteration {it} (eps={eps}, lr={lr}); lower --lr",
                step=it,
            )
        errors[it] = err
        if it == n_iter:
            break
        s = e
        deltas = [None] * k
        for i in range(k - 1, -1, -1):
            deltas[i] = lr * (prefix[i].T @ s) if i > 0 else lr * s
            if i > 0:
                s = s @ r[i]
        for i in range(k):
            a[i] += deltas[i]
        if backprop:
            r = [None] + [m.T for m in a[1:]]
        elif eps:
            for i in range(1, k):
                r[i] += eps * deltas[i].T
    return errors


def first_below(errors: np.ndarray, threshold: float) -> int | None:
    """First iteration at which ``errors`` is below ``threshold`` (None: never)."""
    hit = np.flatnonzero(errors < threshold)
    return int(hit[0]) if hit.size else None


def reproduce(
    *,
    seeds: int = 3,
    iterations: int = 5000,
    lr: float = 0.01,
    init_scale: float = 0.5,
    threshold: float = 1e-3,
) -> dict:
    """Both experiments for seeds ``0 .. seeds-1``; curves and iterations to threshold."""
    for key, value in (("seeds", seeds), ("iterations", iterations)):
        if value < 1:
            raise ValidationError(f"{key} must be >= 1, got {value}")
    for key, value in (("lr", lr), ("init_scale", init_scale), ("threshold", threshold)):
        if not (np.isfinite(value) and value > 0):
            raise ValidationError(f"{key} must be a positive number, got {value}")
    runs = []
    for seed in range(seeds):
        target, a0, r0 = make_problem(seed, init_scale)
        zeros = [np.zeros_like(m) for m in a0]
        curves = {
            "random_init": {
                "sgd": simulate(target, a0, "transpose", 1.0, lr, iterations),
                "urfb": simulate(target, a0, r0, 1.0, lr, iterations),
                "frfb": simulate(target, a0, r0, 0.0, lr, iterations),
            },
            "zero_init": {
                f"eps={e:g}": simulate(target, zeros, r0, e, lr, iterations) for e in EPSILONS
            },
        }
        reached = {
            exp: {name: first_below(c, threshold) for name, c in group.items()}
            for exp, group in curves.items()
        }
        runs.append({"seed": seed, "curves": curves, "iterations_to_threshold": reached})
    return {
        "settings": {
            "sizes": list(SIZES),
            "seeds": seeds,
            "iterations": iterations,
            "lr": lr,
            "init_scale": init_scale,
            "threshold": threshold,
            "epsilons": list(EPSILONS),
        },
        "runs": runs,
    }


def checks(result: dict) -> dict:
    """The paper's claims, per seed: URFB before FRFB (random init) and iterations to the
    threshold strictly decreasing in ``eps`` (zero init); a run that never reaches it
    counts as ``iterations + 1``."""
    n = result["settings"]["iterations"] + 1
    urfb_first, monotone = [], []
    for run in result["runs"]:
        r = run["iterations_to_threshold"]
        it = {k: (v if v is not None else n) for k, v in r["random_init"].items()}
        urfb_first.append(it["urfb"] < it["frfb"])
        z = [r["zero_init"][f"eps={e:g}"] for e in EPSILONS]
        z = [v if v is not None else n for v in z]
        monotone.append(all(b < a for a, b in zip(z[:-1], z[1:], strict=True)))
    return {
        "urfb_before_frfb_every_seed": all(urfb_first),
        "faster_as_eps_grows_every_seed": all(monotone),
    }


def plot(result: dict, path: Path) -> None:
    """Log10 relative error vs iteration: one row per experiment, one column per seed."""
    import matplotlib.pyplot as plt

    from spikesim.io import save_figure

    runs = result["runs"]
    fig, axes = plt.subplots(
        2, len(runs), figsize=(4 * len(runs), 6.5), squeeze=False, constrained_layout=True
    )
    for col, run in enumerate(runs):
        for row, exp in enumerate(("random_init", "zero_init")):
            ax = axes[row, col]
            curves = dict(run["curves"][exp])
            if exp == "zero_init":
                curves = {"sgd (random init)": run["curves"]["random_init"]["sgd"], **curves}
            for label, c in curves.items():
                ax.plot(np.log10(np.maximum(c, 1e-300)), lw=1.2, label=label)
            ax.axhline(np.log10(result["settings"]["threshold"]), color="0.5", ls=":", lw=1)
            ax.set_title(f"{exp.replace('_', ' ')}, seed {run['seed']}", fontsize="medium")
            ax.set_xlabel("iteration")
            ax.set_ylabel("log10 relative error")
            ax.set_ylim(-16, 0.5)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="x-small")
    save_figure(fig, path)


def run(args: argparse.Namespace) -> dict:
    from spikesim.io import write_json

    result = reproduce(
        seeds=args.seeds,
        iterations=args.iterations,
        lr=args.lr,
        init_scale=args.init_scale,
        threshold=args.threshold,
    )
    out = Path(args.out)
    plot(result, out / "amit_linear.png")
    summary = {
        **checks(result),
        **{
            f"seed {r['seed']} {exp} {name}": v
            for r in result["runs"]
            for exp, group in r["iterations_to_threshold"].items()
            for name, v in group.items()
        },
    }
    full = {**result, "summary": summary, "figure": str(out / "amit_linear.png")}
    write_json(out / "results.json", full)
    brief = {k: v for k, v in full.items() if k != "runs"}
    brief["runs"] = [
        {"seed": r["seed"], "iterations_to_threshold": r["iterations_to_threshold"]}
        for r in result["runs"]
    ]
    return brief
