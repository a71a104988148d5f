"""Figures of the theory checks (matplotlib; each returns a Figure, saving is the caller's)."""

from __future__ import annotations

import numpy as np

__all__ = ["ck_rate_figure", "sh_theorem1_figure", "variance_figure"]


def _figure(ncols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(5.0 * ncols, 4.0))


def sh_theorem1_figure(result: dict):
    """Left: measured mean update against SH eq. (4.6), every coordinate of every case
    (scaled by the case's ``||rhs||``), with 95% intervals. Right: relative error vs samples."""
    fig, (ax1, ax2) = _figure(2)
    markers = {"least_squares": "o", "network": "s"}
    for c in result["cases"]:
        norm = np.linalg.norm(c["rhs"])
        rhs, mean = np.asarray(c["rhs"]) / norm, np.asarray(c["mean_update"]) / norm
        err = (np.asarray(c["ci95_high"]) - np.asarray(c["ci95_low"])) / (2 * norm)
        ax1.errorbar(
            rhs,
            mean,
            yerr=err,
            fmt=markers.get(c["kind"], "o"),
            ms=3,
            lw=0.8,
            label=f"{c['kind']} d={c['d']}",
        )
    lim = ax1.get_xlim()
    ax1.plot(lim, lim, "k-", lw=0.6)
    ax1.set_xlabel("SH eq. (4.6) right side / ||rhs||")
    ax1.set_ylabel("Monte Carlo mean update / ||rhs||")
    ax1.set_title(f"mean update vs theorem ({result['samples']:.0e} samples)")
    ax1.legend(fontsize=7)
    n = np.asarray(result["n"], dtype=float)
    for c in result["cases"]:
        ax2.loglog(n, c["relative_error_by_n"], "-", lw=0.6, alpha=0.5, color="0.5")
    ax2.loglog(n, result["rms_relative_error_by_n"], "ko-", label="RMS over cases")
    ref = result["rms_relative_error_by_n"][0] * np.sqrt(n[0] / n)
    ax2.loglog(n, ref, "r--", label="1/sqrt(n)")
    ax2.set_xlabel("Monte Carlo samples n")
    ax2.set_ylabel("||mean - rhs|| / ||rhs||")
    ax2.set_title(f"relative error, fitted slope {result['slope']:.3f}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ck_rate_figure(result: dict):
    """Left: ``sqrt(E sup ||Z^n - Z||^2)`` against ``n`` per case. Right: against ``d``."""
    fig, (ax1, ax2) = _figure(2)
    n = np.asarray(result["n"], dtype=float)
    for c in result["cases"]:
        style = "-" if c["kind"] == "quadratic" else "--"
        ax1.errorbar(
            n,
            c["error"],
            yerr=c["stderr"],
            fmt="o" + style,
            ms=3,
            label=f"{c['kind']} d={c['d']} (slope {c['slope']:.2f})",
        )
    top = max(c["error"][0] for c in result["cases"])
    ax1.loglog(n, top * np.sqrt(n[0] / n), "k:", label="n^(-1/2)")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("updates per sample n")
    ax1.set_ylabel("sqrt(E sup_t ||Z^n_t - Z_t||^2)")
    ax1.set_title(f"CK Theorem 1: mean slope {result['slope']:.3f}")
    ax1.legend(fontsize=7)
    for kind, mark in (("quadratic", "o-"), ("network", "s--")):
        cs = [c for c in result["cases"] if c["kind"] == kind]
        if len(cs) < 2:
            continue
        d = np.array([c["d"] for c in cs], dtype=float)
        ax2.loglog(d, [c["error"][-1] for c in cs], mark, label=f"{kind}, n={int(n[-1])}")
    cs = [c for c in result["cases"] if c["kind"] == "quadratic"]
    if len(cs) >= 2:
        d = np.array([c["d"] for c in cs], dtype=float)
        ax2.loglog(d, cs[0]["error"][-1] * np.sqrt(d / d[0]), "k:", label="sqrt(d)")
    title = "error vs d"
    if result.get("d_exponent") is not None:
        title += f" (quadratic exponent {result['d_exponent']:.2f})"
    ax2.set_title(title)
    ax2.set_xlabel("parameters d")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def variance_figure(result: dict):
    """Per-coordinate variance of the 1-point and two-point estimators against ``d``."""
    fig, ax = _figure(1)
    d = np.asarray(result["d"], dtype=float)
    ax.loglog(d, result["one_point"], "o", label=f"1-point (slope {result['exponent']:.3f})")
    ax.loglog(d, result["one_point_exact"], "-", lw=0.8, label="1-point, quadrature")
    ax.loglog(
        d, result["two_point"], "s", label=f"two-point (slope {result['two_point_exponent']:.3f})"
    )
    ax.loglog(d, result["one_point"][-1] * (d / d[-1]) ** 2, "k:", lw=0.8, label="d^2")
    ax.loglog(d, result["two_point"][-1] * (d / d[-1]), "k--", lw=0.8, label="d")
    ax.set_xlabel("parameters d")
    ax.set_ylabel("mean over coordinates of Var(estimate)")
    ax.set_title(f"SH sec. 3 least squares, A={result['A']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
