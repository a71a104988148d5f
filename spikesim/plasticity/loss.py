"""Decoding output spikes and the losses of one trial (functions of the trial only).

The prediction of a classification trial is the output neuron with the most spikes; ties
go to the earliest first spike; a trial whose outputs are all silent predicts nothing (-1,
counted wrong). Losses (``LOSSES``), with ``r`` the output rates in hertz over the trial:

- ``mse``: ``mean_o ((r_o - target_o) / rate_scale)^2`` against target rates (hertz);
  for classification the target is ``rate_on`` for the label and ``rate_off`` otherwise;
- ``cross-entropy``: ``-log softmax(counts / temperature)[label]`` on spike counts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from spikesim.errors import ValidationError

__all__ = ["LOSSES", "predict", "trial_loss", "one_hot_rates"]

LOSSES = ("mse", "cross-entropy")


@njit(cache=True, nogil=True)
def predict_nb(counts, first):
    """Index of the output with most spikes (earliest first spike on ties); -1 if silent."""
    best = -1
    for o in range(counts.shape[0]):
        if counts[o] == 0:
            continue
        if (
            best < 0
            or counts[o] > counts[best]
            or (counts[o] == counts[best] and first[o] < first[best])
        ):
            best = o
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


def predict(counts, first_spikes=None) -> int:
    """Predicted class from output spike counts (n_outputs,) and first-spike times (s)."""
    counts = np.asarray(counts, dtype=np.float64)
    first = np.zeros_like(counts) if first_spikes is None else np.asarray(first_spikes, float)
    return int(predict_nb(counts, first))


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
