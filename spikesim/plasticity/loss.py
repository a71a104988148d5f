"""Decoding output spikes and the losses of one trial (functions of the trial only).

The prediction of a classification trial is the class with the most output spikes (with a
population of ``P`` output neurons per class, outputs ``c P .. c P + P - 1`` belong to class
``c`` and their counts are summed: the count noise of one decision drops like ``1/sqrt(P)``).
Ties (``TIE_BREAKS``):

- ``first-spike`` (default): the class with the earliest first spike wins; a trial whose
  outputs are all silent predicts nothing (-1, counted wrong);
- ``random``: a uniformly random one of the tied classes, drawn from the trial's seeded
  uniform ``u`` in [0, 1); an all-silent trial is a tie of all classes. Accuracy then
  measures the information in the counts, not activity: a silent (or constant) network
  scores chance, ``1 / n_classes``.

Losses (``LOSSES``), with ``r`` the output rates in hertz over the trial:

- ``mse``: ``mean_o ((r_o - target_o) / rate_scale)^2`` against target rates (hertz);
  for classification the target is ``rate_on`` for the label and ``rate_off`` otherwise;
- ``cross-entropy``: ``-log softmax(counts / temperature)[label]`` on spike counts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikesim.errors import ValidationError

__all__ = ["LOSSES", "TIE_BREAKS", "predict", "trial_loss", "one_hot_rates"]

LOSSES = ("mse", "cross-entropy")
TIE_BREAKS = ("first-spike", "random")


@njit(cache=True, nogil=True)
def predict_nb(counts, first, pop, tie_code, u):
    """Predicted class from output counts and first-spike times (n_classes * pop,).

    Class ``c`` scores the summed counts of outputs ``c*pop .. c*pop+pop-1`` (its first
    spike: the earliest of them). ``tie_code`` 0 (``first-spike``): ties go to the earliest
    first spike, all silent gives -1; 1 (``random``): the ``floor(u * n_tied)``-th of the
    tied classes (all classes tie on an all-silent trial).
    """
    n_cls = counts.shape[0] // pop
    sc = np.zeros(n_cls)
    fs = np.full(n_cls, np.inf)
    for o in range(n_cls * pop):
        c = o // pop
        sc[c] += counts[o]
        if first[o] < fs[c]:
            fs[c] = first[o]
    if tie_code == 1:
        mx = sc.max()
        n_tied = 0
        for c in range(n_cls):
            if sc[c] == mx:
                n_tied += 1
        pick = min(int(u * n_tied), n_tied - 1)
        for c in range(n_cls):
            if sc[c] == mx:
                if pick == 0:
                    return c
                pick -= 1
    best = -1
    for c in range(n_cls):
        if sc[c] == 0:
            continue
        if best < 0 or sc[c] > sc[best] or (sc[c] == sc[best] and fs[c] < fs[best]):
            best = c
    return best


@njit(cache=True, nogil=True)
def loss_nb(code, counts, duration, target, label, rate_scale, temperature):
    """Loss of one trial: code 0 ``mse`` against ``target`` rates, 1 ``cross-entropy``."""
    n = counts.shape[0]
    if code == 0:
        s = 0.0
        for o in range(n):
            d = (counts[o] / duration - target[o]) / rate_scale
            s += d * d
        return s / n
    mx = -np.inf
    for o in range(n):
        z = counts[o] / temperature
        if z > mx:
            mx = z
    acc = 0.0
    for o in range(n):
        acc += np.exp(counts[o] / temperature - mx)
    return mx + np.log(acc) - counts[label] / temperature


def predict(
    counts, first_spikes=None, *, population: int = 1, tie_break: str = "first-spike", u=0.0
) -> int:
    """Predicted class from output spike counts (n_classes * population,).

    Parameters
    ----------
    counts : array_like, shape (n_classes * population,)
        Output spike counts, the ``population`` outputs of each class consecutive.
    first_spikes : array_like, shape (n_classes * population,), optional
        First-spike times (seconds; ``inf`` for silent outputs).
    population : int
        Output neurons per class (their counts are summed).
    tie_break : {"first-spike", "random"}
    u : float
        The trial's uniform draw in [0, 1) (``random`` ties).
    """
    counts = np.asarray(counts, dtype=np.float64)
    first = np.zeros_like(counts) if first_spikes is None else np.asarray(first_spikes, float)
    if tie_break not in TIE_BREAKS:
        raise ValidationError(f"tie_break {tie_break!r} is not one of {', '.join(TIE_BREAKS)}")
    if population < 1 or counts.size % population or counts.size == 0:
        raise ValidationError(
            f"{counts.size} outputs are not a positive multiple of population {population}"
        )
    if not 0.0 <= u < 1.0:
        raise ValidationError(f"u must be in [0, 1), got {u!r}")
    return int(predict_nb(counts, first, int(population), TIE_BREAKS.index(tie_break), float(u)))


def one_hot_rates(labels, n_classes: int, rate_on: float, rate_off: float) -> np.ndarray:
    """Target rates (hertz) for classification, shape (n_samples, n_classes)."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full((labels.size, n_classes), float(rate_off))
    out[np.arange(labels.size), labels] = float(rate_on)
    return out


def trial_loss(
    counts,
    duration: float,
    *,
    kind: str = "mse",
    target=None,
    label: int = 0,
    rate_scale: float = 1.0,
    temperature: float = 1.0,
) -> float:
    """The loss of one trial from its output spike counts, shape (n_outputs,).

    Parameters
    ----------
    counts : array_like, shape (n_outputs,)
        Output spike counts.
    duration : float
        Trial length in seconds (rates are ``counts / duration``, hertz).
    kind : {"mse", "cross-entropy"}
    target : array_like, shape (n_outputs,), optional
        Target rates in hertz (``mse``).
    label : int
        True class (``cross-entropy``).
    rate_scale : float
        Rate (hertz) dividing the rate errors of ``mse``.
    temperature : float
        Softmax temperature in spikes (``cross-entropy``).
    """
    if kind not in LOSSES:
        raise ValidationError(f"loss {kind!r} is not one of {', '.join(LOSSES)}")
    counts = np.asarray(counts, dtype=np.float64)
    if kind == "mse":
        if target is None:
            raise ValidationError("the mse loss needs target rates")
        target = np.asarray(target, dtype=np.float64)
        if target.shape != counts.shape:
            raise ValidationError(f"target shape {target.shape} != counts shape {counts.shape}")
    else:
        target = np.zeros_like(counts)
        if not 0 <= label < counts.size:
            raise ValidationError(f"label {label} is not an output index (0..{counts.size - 1})")
    if rate_scale <= 0 or temperature <= 0:
        raise ValidationError("rate_scale and temperature must be positive")
    return float(
        loss_nb(
            LOSSES.index(kind), counts, float(duration), target, int(label), rate_scale, temperature
        )
    )
