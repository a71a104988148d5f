"""Stateful shells: :class:`ZeroOrder` (SH eq. 4.5, CK eq. 3.1) and :class:`SGD`.

Both run a loss (see :mod:`spikesim.zeroorder.losses`) over a stream of data samples, one
sample per update (CK: ``presentations`` updates per sample), for ``replicates``
independent paths at once, and return a :class:`Trajectory`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from spikesim.errors import DivergenceError, ValidationError
from spikesim.zeroorder.baselines import BASELINES, make_baseline
from spikesim.zeroorder.core import check_amplitude, ck_amplitude, zero_order_step

__all__ = ["SGD", "Trajectory", "ZeroOrder"]

Monitor = Callable[[int, np.ndarray], dict | None]


@dataclass
class Trajectory:
    """Result of a run.

    Attributes
    ----------
    theta : ndarray, shape (d,) or (m, d)
        Final parameters (``(m, d)`` when run with ``replicates=m``).
    steps : ndarray, shape (n_records,)
        Update numbers at which ``thetas`` were recorded (0 = initial).
    thetas : ndarray, shape (n_records, d) or (n_records, m, d)
    losses : ndarray, shape (n_steps,) or (n_steps, m)
        The loss used by each update (perturbed loss for zero-order, plain loss for SGD).
    history : list of dict
        What ``monitor`` returned, each with its ``"step"``.
    n_evaluations : int
        Loss evaluations per replicate (zero-order; includes baseline primings).
    """

    theta: np.ndarray
    steps: np.ndarray
    thetas: np.ndarray
    losses: np.ndarray
    history: list[dict] = field(default_factory=list)
    n_evaluations: int = 0


def _check_data(data) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    if data is None:
        return None, None, 0
    try:
        X, Y = data
    except (TypeError, ValueError):
        raise ValidationError("data must be None or a pair (X, Y) of arrays") from None
    X, Y = np.asarray(X), np.asarray(Y)
    if len(X) == 0 or len(X) != len(Y):
        raise ValidationError(f"data: X has {len(X)} samples and Y has {len(Y)}; need equal, > 0")
    return X, Y, len(X)


def _sample_order(rng: np.random.Generator, n_samples: int, shuffle: bool) -> Iterator:
    """Sample indices, one epoch (a fresh permutation when ``shuffle``) after another."""
    if n_samples == 0:
        while True:
            yield None
    while True:
        order = rng.permutation(n_samples) if shuffle else range(n_samples)
        yield from (int(i) for i in order)


def _initial(theta0, replicates: int | None) -> np.ndarray:
    theta = np.array(theta0, dtype=float)
    if theta.ndim == 1:
        theta = np.tile(theta, (1 if replicates is None else int(replicates), 1))
    elif theta.ndim != 2 or (replicates is not None and theta.shape[0] != replicates):
        raise ValidationError(f"theta0 must have shape (d,) or (replicates, d), got {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValidationError("theta0 contains non-finite values")
    return theta


class _Progress:
    def __init__(self, total: int, enabled: bool, desc: str):
        self.bar = None
        if enabled and os.environ.get("SPIKESIM_NO_PROGRESS", "") != "1":
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="step", leave=False)

    def update(self, n: int):
        if self.bar is not None:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _Recorder:
    def __init__(self, record_every, monitor: Monitor | None, monitor_every, squeeze: bool):
        self.squeeze = squeeze
        self.record_every = record_every
        self.monitor = monitor
        self.monitor_every = monitor_every or 1
        self.steps: list[int] = []
        self.thetas: list[np.ndarray] = []
        self.history: list[dict] = []

    def __call__(self, step: int, theta: np.ndarray, last: bool = False):
        if self.record_every and (step % self.record_every == 0 or last):
            if not self.steps or self.steps[-1] != step:
                self.steps.append(step)
                self.thetas.append(theta.copy())
        if self.monitor is not None and (step % self.monitor_every == 0 or last):
            out = self.monitor(step, theta[0] if self.squeeze else theta)
            if out is not None:
                self.history.append({"step": step, **out})

    def result(self, theta, losses, n_eval) -> Trajectory:
        thetas = np.array(self.thetas) if self.thetas else np.empty((0,) + theta.shape)
        if self.squeeze:
            theta, losses = theta[0], losses[:, 0]
            thetas = thetas[:, 0] if thetas.size else np.empty((0, theta.shape[-1]))
        return Trajectory(
            theta=theta,
            steps=np.array(self.steps, dtype=np.int64),
            thetas=thetas,
            losses=losses,
            history=self.history,
            n_evaluations=n_eval,
        )


def _check_finite(step: int, loss: np.ndarray, theta: np.ndarray, limit: float) -> None:
    if not np.all(np.isfinite(loss)):
        raise DivergenceError(
            f"zero-order dynamics diverged: non-finite loss at step {step}", step=step
        )
    big = np.max(np.abs(theta))
    if not big <= limit:
        raise DivergenceError(
            f"zero-order dynamics diverged at step {step}: max |theta| = {big:.3g} "
            f"exceeds theta_limit = {limit:.3g}",
            step=step,
        )


class ZeroOrder:
    """Zero-order (reward-modulated STDP) dynamics of Schmidt-Hieber, SH eq. (4.5).

    ``theta_{k+1} = theta_k + alpha (L(theta_k + U_k, X_k, Y_k) - b_k) (e^{-U_k} - e^{U_k})``
    with ``U_k`` uniform on ``[-A, A]^d``. The baseline ``b_k`` is

    * ``"previous"``: ``L(theta_{k-1} + U_{k-1}, X_{k-1}, Y_{k-1})`` (SH eq. 4.5);
    * ``"ema"``: a moving average of past perturbed losses (rate ``ema_rate``);
    * ``"per-sample"``: the perturbed loss at the last visit of the same sample;
    * ``"zero"``: none (the 1-point estimator).

    With ``presentations = n > 1`` it is the Christensen-Kallsen variant (CK eq. 3.1):
    every sample is used for ``n`` consecutive updates, the baseline of each is the
    perturbed loss of the previous presentation of the same sample, the first one's
    baseline is one extra evaluation ``L(theta + U', X_k, Y_k)`` (CK:
    ``theta^{(k,0)} = theta^{(k,-1)}``), and the amplitude is ``A_n = A / sqrt(n)``.
    CK eq. (3.3) prints ``n^{-1/3}``; their proof and the limit ODE (3.5) need
    ``n^{-1/2}`` (see :func:`spikesim.zeroorder.core.ck_amplitude`). ``n`` updates of one
    sample then approximate the gradient flow ``dZ/dt = -(2/3) A^2 alpha grad L`` over
    unit time.

    Parameters
    ----------
    A : float
        Perturbation amplitude (half the inter-spike interval, in STDP time constants).
    alpha : float
        Learning rate.
    baseline : {"previous", "ema", "per-sample", "zero"}
    presentations : int
        Updates per data sample, ``n`` (1 = SH).
    ema_rate : float
        Rate of the ``"ema"`` baseline, in (0, 1].
    theta_limit : float
        ``max |theta|`` above which the run stops with :class:`DivergenceError`.
    shuffle : bool
        Visit the samples in a fresh random order each epoch (else in order).
    seed : int
        Seeds the perturbations and the sample order.
    """

    def __init__(
        self,
        *,
        A: float = 0.3,
        alpha: float = 0.02,
        baseline: str = "previous",
        presentations: int = 1,
        ema_rate: float = 0.01,
        theta_limit: float = 1e6,
        shuffle: bool = True,
        seed: int = 0,
    ):
        self.A = check_amplitude(A)
        self.alpha = float(alpha)
        if not np.isfinite(self.alpha) or self.alpha <= 0:
            raise ValidationError(f"learning rate alpha must be finite and > 0, got {alpha!r}")
        if baseline not in BASELINES:
            raise ValidationError(
                f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)}"
            )
        self.baseline = baseline
        self.presentations = int(presentations)
        if self.presentations < 1:
            raise ValidationError(f"presentations must be >= 1, got {presentations!r}")
        if self.presentations > 1 and baseline != "previous":
            raise ValidationError(
                f"presentations={presentations} (Christensen-Kallsen) uses the previous "
                f"presentation's loss as baseline; baseline={baseline!r} is not supported"
            )
        self.ema_rate = float(ema_rate)
        self.theta_limit = float(theta_limit)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)

    @property
    def amplitude(self) -> float:
        """The amplitude actually used, ``A / sqrt(presentations)``."""
        return ck_amplitude(self.A, self.presentations)

    def run(
        self,
        loss: Callable,
        theta0,
        data=None,
        n_steps: int = 1000,
        *,
        replicates: int | None = None,
        record_every: int | None = None,
        monitor: Monitor | None = None,
        monitor_every: int | None = None,
        progress: bool = False,
    ) -> Trajectory:
        """Run ``n_steps`` updates from ``theta0``.

        Parameters
        ----------
        loss : callable
            ``loss(theta (m, d), x, y) -> (m,)``; see :mod:`spikesim.zeroorder.losses`.
        theta0 : ndarray, shape (d,) or (replicates, d)
        data : (X, Y) or None
            Samples along the first axis; ``None`` for a loss without data.
        n_steps : int
            Number of parameter updates.
        replicates : int, optional
            Run this many independent paths at once (same sample order, independent
            perturbations); results then carry a replicate axis.
        record_every : int, optional
            Store ``theta`` every so many updates (and at the start and end).
        monitor : callable, optional
            ``monitor(step, theta) -> dict or None``, called every ``monitor_every`` updates
            (and at the start and end) with ``theta`` shaped like ``theta0`` (``(m, d)``
            with ``replicates``); dicts are kept in ``Trajectory.history``.
        progress : bool
            Show a progress bar (unless ``SPIKESIM_NO_PROGRESS=1``).

        Raises
        ------
        DivergenceError
            A non-finite loss or ``max |theta| > theta_limit``; ``.step`` is the update
            at which it happened.
        """
        n_steps = int(n_steps)
        if n_steps < 0:
            raise ValidationError(f"n_steps must be >= 0, got {n_steps}")
        squeeze = replicates is None and np.ndim(theta0) == 1
        theta = _initial(theta0, replicates)
        X, Y, n_samples = _check_data(data)
        seq_order, seq_noise = np.random.SeedSequence(self.seed).spawn(2)
        order = _sample_order(np.random.default_rng(seq_order), n_samples, self.shuffle)
        rng = np.random.default_rng(seq_noise)
        A, alpha, n_pres = self.amplitude, self.alpha, self.presentations
        shape = theta.shape

        def evaluate(i, u):
            x, y = (None, None) if i is None else (X[i], Y[i])
            return np.asarray(loss(theta + u, x, y), dtype=float).reshape(shape[0])

        losses = np.empty((n_steps, shape[0]))
        rec = _Recorder(record_every, monitor, monitor_every, squeeze)
        rec(0, theta)
        bar = _Progress(n_steps, progress, "zero-order")
        sample = next(order)
        first = evaluate(sample, rng.uniform(-A, A, size=shape))  # L(theta_{-1} + U_{-1})
        _check_finite(0, first, theta, self.theta_limit)
        n_eval = 1
        base = make_baseline(self.baseline, first, ema_rate=self.ema_rate, n_samples=n_samples)
        pres = 0
        for k in range(n_steps):
            if n_pres > 1 and pres == n_pres:  # CK: new sample, prime its baseline
                sample, pres = next(order), 0
                base.observe(sample, evaluate(sample, rng.uniform(-A, A, size=shape)))
                n_eval += 1
            elif n_pres == 1 and k > 0:
                sample = next(order)
            b = base.value(sample)
            u = rng.uniform(-A, A, size=shape)
            value = evaluate(sample, u)
            n_eval += 1
            theta = zero_order_step(theta, u, value, b, alpha)
            _check_finite(k + 1, value, theta, self.theta_limit)
            base.observe(sample, value)
            losses[k] = value
            pres += 1
            rec(k + 1, theta, last=k + 1 == n_steps)
            if (k + 1) % 1000 == 0:
                bar.update(1000)
        bar.close()
        return rec.result(theta, losses, n_eval)


class SGD:
    """Plain stochastic gradient descent ``theta <- theta - lr grad L(theta, X_k, Y_k)``.

    Uses the same sample order as :class:`ZeroOrder` with the same ``seed``.

    Parameters
    ----------
    lr : float
        Learning rate.
    shuffle : bool
    seed : int
    theta_limit : float
    """

    def __init__(self, *, lr: float = 0.01, shuffle: bool = True, seed: int = 0, theta_limit=1e6):
        self.lr = float(lr)
        if not np.isfinite(self.lr) or self.lr <= 0:
            raise ValidationError(f"learning rate lr must be finite and > 0, got {lr!r}")
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.theta_limit = float(theta_limit)

    def run(
        self,
        loss,
        theta0,
        data=None,
        n_steps: int = 1000,
        *,
        record_every: int | None = None,
        monitor: Monitor | None = None,
        monitor_every: int | None = None,
    ) -> Trajectory:
        """Run ``n_steps`` updates; ``loss`` must provide ``grad(theta (m, d), x, y)``."""
        if not hasattr(loss, "grad"):
            raise ValidationError("SGD needs a loss with a grad(theta, x, y) method")
        squeeze = np.ndim(theta0) == 1
        theta = _initial(theta0, None)
        X, Y, n_samples = _check_data(data)
        seq_order, _ = np.random.SeedSequence(self.seed).spawn(2)
        order = _sample_order(np.random.default_rng(seq_order), n_samples, self.shuffle)
        losses = np.empty((int(n_steps), theta.shape[0]))
        rec = _Recorder(record_every, monitor, monitor_every, squeeze)
        rec(0, theta)
        for k in range(int(n_steps)):
            i = next(order)
            x, y = (None, None) if i is None else (X[i], Y[i])
            losses[k] = loss.value(theta, x, y)
            theta = theta - self.lr * loss.grad(theta, x, y)
            _check_finite(k + 1, losses[k], theta, self.theta_limit)
            rec(k + 1, theta, last=k + 1 == n_steps)
        return rec.result(theta, losses, 0)
