"""Baselines ("anticipated loss" ``L-bar`` of SH eq. (2.4)) for the zero-order update.

Each baseline is a small state object with ``value(sample) -> (m,)`` (the baseline for the
next update on data sample ``sample``) and ``observe(sample, loss)`` (record the perturbed
loss just measured). ``m`` is the number of replicates. The rule "the baseline must not
depend on the current perturbation ``U_k``" (SH, remark after the proof of Theorem 1) holds
for all of them: ``value`` is read before ``U_k`` is drawn.
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import ValidationError

__all__ = ["BASELINES", "make_baseline"]


class Previous:
    """SH eq. (4.5): the perturbed loss of the previous update (previous sample)."""

    def __init__(self, first: np.ndarray):
        self.last = np.array(first, dtype=float)

    def value(self, sample):
        return self.last

    def observe(self, sample, loss):
        self.last = loss


class Zero:
    """No baseline (the 1-point estimator of SH sec. 3); Theorem 1 still holds."""

    def __init__(self, first: np.ndarray):
        self.zero = np.zeros_like(np.asarray(first, dtype=float))

    def value(self, sample):
        return self.zero

    def observe(self, sample, loss):
        pass


class EMA:
    """Exponential moving average of past perturbed losses, ``b <- (1 - r) b + r L``."""

    def __init__(self, first: np.ndarray, rate: float):
        if not 0.0 < rate <= 1.0:
            raise ValidationError(f"ema_rate must be in (0, 1], got {rate!r}")
        self.rate = float(rate)
        self.mean = np.array(first, dtype=float)

    def value(self, sample):
        return self.mean

    def observe(self, sample, loss):
        self.mean = self.mean + self.rate * (loss - self.mean)


class PerSample:
    """The perturbed loss measured the last time the same data sample was used.

    Falls back to the previous update's loss for a sample not seen before.
    """

    def __init__(self, first: np.ndarray, n_samples: int):
        first = np.array(first, dtype=float)
        self.last = first
        self.table = np.full((max(int(n_samples), 1),) + first.shape, np.nan)

    def value(self, sample):
        if sample is None:
            return self.last
        row = self.table[sample]
        return np.where(np.isnan(row), self.last, row)

    def observe(self, sample, loss):
        self.last = loss
        if sample is not None:
            self.table[sample] = loss


BASELINES = ("previous", "ema", "per-sample", "zero")


def make_baseline(name: str, first: np.ndarray, *, ema_rate: float, n_samples: int):
    """Return the baseline state object called ``name`` (one of :data:`BASELINES`)."""
    if name == "previous":
        return Previous(first)
    if name == "zero":
        return Zero(first)
    if name == "ema":
        return EMA(first, ema_rate)
    if name == "per-sample":
        return PerSample(first, n_samples)
    raise ValidationError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
