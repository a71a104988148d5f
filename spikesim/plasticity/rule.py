"""The reward-modulated STDP update, its baselines and learning-rate schedules (pure).

Schmidt-Hieber (2023), eq. (4.1) (eq. 2.4 summed over a trial's arrivals):

    w_e <- w_e + alpha_k (L_k - L_bar_k) C w_e E_e,

``L_k`` the loss of trial ``k``, ``L_bar_k`` the anticipated loss (the baseline), ``E_e`` the
eligibility of edge ``e`` (:func:`spikesim.plasticity.eligibility`). Written as a factor,
``w_e <- w_e * (1 + a_k E_e)`` with ``a_k = alpha_k (L_k - L_bar_k) C``.

Keeping weights positive. With one arrival per trial and ``|a_k| <= 1`` the factor is
positive (SH sec. 2); with many arrivals ``|E_e|`` can exceed 1, so the factor is clipped to
``[1 - max_change, 1 + max_change]`` (``0 <= max_change < 1``, default 0.5): a weight never
changes by more than that fraction in one trial and stays strictly positive. Afterwards
``w_e`` is clipped to ``[w_min, w_max]`` (defaults 0 and infinity, i.e. no clipping).

Baselines ``L_bar_k`` (``BASELINES``):

- ``previous``: the loss of the previous trial, ``L_{k-1}`` (SH eq. 4.1);
- ``ema``: an exponential moving average ``m <- (1 - beta) m + beta L`` of all past losses;
- ``per-sample``: the same average kept per training example (the example's first trial
  uses the global average);
- ``same-sample``: none outside a sample's presentations: with Christensen-Kallsen
  presentations (below) the first presentation of a sample makes no update and only
  measures the loss that baselines the second, exactly CK eq. (3.1), where
  ``theta^(k,0) = theta^(k,-1)`` and the first update compares two trials of the same
  sample. Needs ``presentations >= 2`` (``n`` presentations give ``n - 1`` updates).
- ``leave-one-out``: every presentation of a sample updates, with the mean loss of the
  sample's *other* ``n - 1`` presentations as its baseline,
  ``L_bar_p = (sum_q L_q - L_p) / (n - 1)``. The ``n`` trials are simulated with the same
  weights (one batch holds whole samples: ``batch`` a multiple of ``presentations``), so
  the other presentations' losses do not depend on trial ``p``'s spike-time noise ``U``
  and SH's Theorem 1 holds unchanged (the proof's eq. 4.8: anything independent of
  ``U_k`` may be subtracted). Its variance: ``Var(L_p - L_bar_p) = sigma^2 (1 + 1/(n-1))``
  for trial-to-trial loss noise ``sigma^2``, against ``2 sigma^2`` for ``same-sample``'s
  single previous trial, and no trial is spent on measuring only. Needs
  ``presentations >= 2``; computed by the trainer from the batch, not from the state.
- ``sample-mean``: as ``same-sample`` (the first presentation only measures), but
  presentation ``p >= 2`` takes the mean loss of the sample's presentations ``1 .. p - 1``
  (each simulated before trial ``p``, so independent of its noise), not only the last:
  ``Var(L_p - L_bar_p) = sigma^2 (1 + 1/(p - 1))``, on average ``1.37 sigma^2`` over
  ``p = 2 .. 8`` against ``2 sigma^2``; trial by trial, no batch needed. Computed by the
  trainer from the chunk's losses, not from the state.

Centred eligibility (``center_eligibility``, off by default; a documented deviation from
eq. 4.1). SH's Theorem 1 needs ``E[e^{-U} - e^{U}] = 0`` (``U`` symmetric; proof, eq.
4.8). In the spiking network an arrival is not placed independently of the post spikes (it
causes some of them), so ``E_e`` has a systematic mean ``mu_e`` (negative on edges that
drive their target); whenever ``L - L_bar`` does not have mean zero (a lagging or
example-blind baseline) the product ``E[L - L_bar] mu_e`` is a drift that is not a gradient.
The centred variant keeps a running mean ``m_e`` of each edge's eligibility (local: the
synapse's own history) and uses

    E_e - m_e,        then  m_e <- (1 - beta_E) m_e + beta_E E_e.

``Cov(L, E_e)``, the gradient signal, is unchanged; only the drift term goes.

The first trial has no baseline and makes no update. Christensen-Kallsen presentations
(``presentations = n``): each sample is shown ``n`` times in a row; presentations 2..n use
the loss of the previous presentation of the same sample (CK eq. 3.1), presentation 1 the
configured baseline.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikesim.errors import ValidationError

__all__ = [
    "BASELINES",
    "SCHEDULES",
    "sh_update",
    "learning_rate",
    "baseline_value",
    "baseline_observe",
    "new_baseline_state",
    "center_eligibility",
]

BASELINES = ("previous", "ema", "per-sample", "same-sample", "leave-one-out", "sample-mean")
SCHEDULES = ("constant", "inverse", "step")

# baseline state layout: [previous loss, ema, per-sample values ...]; NaN = none yet
_PREV = 0
_EMA = 1
_SAMPLE0 = 2


@njit(cache=True, nogil=True)
def apply_update(w, E, a, max_change, w_min, w_max, lo, hi):
    """In place on edges ``lo:hi``: ``w <- w * clip(1 + a E, 1 - max_change, 1 + max_change)``,
    then ``w`` clipped to ``[w_min, w_max]``."""
    f_lo = 1.0 - max_change
    f_hi = 1.0 + max_change
    # slices indexed from 0: Numba then drops its negative-index handling and the loop
    # compiles to branch-free (vector) code, several times faster than ``w[e]``, ``lo <= e``.
    # The clips are written as two independent selects each, not if/elif: the same values
    # (NaN passes both, as before) in half the time (79,400 edges: 23 against 43 us)
    ws = w[lo:hi]
    Es = E[lo:hi]
    for i in range(ws.shape[0]):
        f = 1.0 + a * Es[i]
        f = f_lo if f < f_lo else f
        f = f_hi if f > f_hi else f
        x = ws[i] * f
        x = w_min if x < w_min else x
        x = w_max if x > w_max else x
        ws[i] = x


def sh_update(
    w,
    E,
    loss: float,
    baseline: float,
    learning_rate: float,
    *,
    C: float = 1.0,
    max_change: float = 0.5,
    w_min: float = 0.0,
    w_max: float = np.inf,
) -> np.ndarray:
    """One reward-modulated STDP step, SH eq. (4.1): ``w + alpha (L - L_bar) C w E``.

    Parameters
    ----------
    w : ndarray, shape (n_edges,)
        Weight magnitudes (> 0).
    E : ndarray, shape (n_edges,)
        Eligibilities of the trial.
    loss, baseline : float
        The trial's loss ``L`` and the anticipated loss ``L_bar``.
    learning_rate : float
        Learning rate ``alpha`` of eq. (4.1).
    C : float
        STDP amplitude (SH sec. 2; for ``C <= 1`` and one arrival per trial the change is
        smaller than the weight).
    max_change : float
        The factor ``1 + alpha (L - L_bar) C E`` is clipped to ``[1 - max_change,
        1 + max_change]``, ``0 <= max_change < 1``: weights stay positive.
    w_min, w_max : float
        Final clipping of the weights.

    Returns
    -------
    ndarray, shape (n_edges,)
        The new weights (``w`` is not modified).
    """
    w = np.array(w, dtype=np.float64)
    E = np.ascontiguousarray(E, dtype=np.float64)
    if w.shape != E.shape or w.ndim != 1:
        raise ValidationError(
            f"w and E must have the same shape (n_edges,), got {w.shape}, {E.shape}"
        )
    if not 0.0 <= max_change < 1.0:
        raise ValidationError(f"max_change must be in [0, 1), got {max_change!r}")
    for name, v in (
        ("loss", loss),
        ("baseline", baseline),
        ("learning_rate", learning_rate),
        ("C", C),
    ):
        if not np.isfinite(v):
            raise ValidationError(f"{name} must be finite, got {v!r}")
    apply_update(
        w, E, float(learning_rate * (loss - baseline) * C), max_change, w_min, w_max, 0, w.shape[0]
    )
    return w


@njit(cache=True, nogil=True)
def center_nb(E, m, beta, lo, hi):
    """In place on edges ``lo:hi``: ``E <- E - m``, then ``m <- (1 - beta) m + beta E``
    (with the uncentred ``E``)."""
    Es = E[lo:hi]
    ms = m[lo:hi]
    for i in range(Es.shape[0]):  # slices from 0: see apply_update
        x = Es[i]
        Es[i] = x - ms[i]
        ms[i] = (1.0 - beta) * ms[i] + beta * x


def center_eligibility(E, mean, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Centred eligibility ``E_e - m_e`` and the updated running means.

    Parameters
    ----------
    E : ndarray, shape (n_edges,)
        Eligibilities of the trial (SH eq. 2.4).
    mean : ndarray, shape (n_edges,)
        Running means ``m_e`` of past eligibilities.
    beta : float
        Averaging weight in (0, 1].

    Returns
    -------
    (ndarray, ndarray), each shape (n_edges,)
        ``E_e - m_e`` and ``(1 - beta) m_e + beta E_e``.
    """
    E = np.array(E, dtype=np.float64)
    m = np.array(mean, dtype=np.float64)
    if E.shape != m.shape or E.ndim != 1:
        raise ValidationError(
            f"E and mean must have one shape (n_edges,), got {E.shape}, {m.shape}"
        )
    if not 0.0 < beta <= 1.0:
        raise ValidationError(f"beta must be in (0, 1], got {beta!r}")
    center_nb(E, m, float(beta), 0, E.shape[0])
    return E, m


@njit(cache=True, nogil=True)
def schedule_factor(code, k, k0, gamma):
    """Learning-rate factor at trial ``k``: 0 constant, 1 ``1/(1+k/k0)``, 2 ``gamma^(k // k0)``."""
    if code == 1:
        return 1.0 / (1.0 + k / k0)
    if code == 2:
        return gamma ** (k // int(k0))
    return 1.0


def learning_rate(
    alpha: float, k: int, *, schedule: str = "constant", k0: float = 1e4, gamma: float = 0.5
) -> float:
    """``alpha_k``: ``constant``; ``inverse`` ``alpha / (1 + k / k0)``; ``step``
    ``alpha * gamma ** floor(k / k0)`` (``k0`` trials per step)."""
    if schedule not in SCHEDULES:
        raise ValidationError(f"schedule {schedule!r} is not one of {', '.join(SCHEDULES)}")
    if k0 <= 0:
        raise ValidationError(f"k0 must be positive, got {k0!r}")
    return float(alpha * schedule_factor(SCHEDULES.index(schedule), int(k), float(k0), gamma))


def new_baseline_state(n_samples: int) -> np.ndarray:
    """Baseline state: ``[previous, ema, per-sample (n_samples)]``, NaN where none yet."""
    return np.full(_SAMPLE0 + int(n_samples), np.nan)


@njit(cache=True, nogil=True)
def baseline_value_nb(code, state, sample):
    """The baseline for a trial on ``sample`` (NaN if none): code 0 previous, 1 ema,
    2 per-sample (falls back to the ema for an unseen sample), 3 same-sample (NaN: the
    first presentation of a sample makes no update), 4 leave-one-out and 5 sample-mean
    (NaN: the trainer computes them from the sample's other presentations)."""
    if code == 0:
        return state[_PREV]
    if code >= 3:
        return np.nan
    if code == 2:
        v = state[_SAMPLE0 + sample]
        if not np.isnan(v):
            return v
    return state[_EMA]


@njit(cache=True, nogil=True)
def baseline_observe_nb(state, sample, loss, beta):
    """Record a trial's loss in the baseline state (all three baselines are kept)."""
    state[_PREV] = loss
    m = state[_EMA]
    state[_EMA] = loss if np.isnan(m) else (1.0 - beta) * m + beta * loss
    m = state[_SAMPLE0 + sample]
    state[_SAMPLE0 + sample] = loss if np.isnan(m) else (1.0 - beta) * m + beta * loss


def baseline_value(kind: str, state: np.ndarray, sample: int) -> float:
    """The anticipated loss ``L_bar`` for a trial on ``sample`` (NaN: no baseline yet)."""
    if kind not in BASELINES:
        raise ValidationError(f"baseline {kind!r} is not one of {', '.join(BASELINES)}")
    return float(baseline_value_nb(BASELINES.index(kind), state, int(sample)))


def baseline_observe(state: np.ndarray, sample: int, loss: float, beta: float) -> np.ndarray:
    """A new baseline state after a trial on ``sample`` with loss ``loss``."""
    state = np.array(state, dtype=np.float64)
    baseline_observe_nb(state, int(sample), float(loss), float(beta))
    return state
