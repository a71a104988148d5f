"""Stateful shells: :class:`ZeroOrder` (SH eq. 4.5, CK eq. 3.1) and :class:`SGD`.

Both run a loss (see :mod:`spikesim.zeroorder.losses`) over a stream of data samples, one
sample per update (CK: ``presentations`` updates per sample), for ``replicates``
independent paths at once, and return a :class:`Trajectory`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from spikesim.errors import DivergenceError, ValidationError
from spikesim.zeroorder.baselines import BASELINES, make_baseline
from spikesim.zeroorder.core import check_amplitude, ck_amplitude, zero_order_step
from spikesim.zeroorder.losses import Loss

__all__ = ["SGD", "SGDPath", "Trajectory", "ZeroOrder", "ZeroOrderPath"]

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


class _Order:
    """Sample indices, one epoch (a fresh permutation when ``shuffle``) after another.

    Stateful rather than a generator so a run can be checkpointed: the generator's state,
    the current epoch's order and the position in it are its whole state.
    """

    def __init__(self, rng: np.random.Generator, n_samples: int, shuffle: bool):
        self.rng, self.n, self.shuffle = rng, int(n_samples), bool(shuffle)
        self.order = np.zeros(0, np.int64)
        self.i = 0

    def next(self) -> int | None:
        if self.n == 0:
            return None
        if self.i == self.order.size:
            self.order = (
                self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
            ).astype(np.int64)
            self.i = 0
        self.i += 1
        return int(self.order[self.i - 1])


def _rng_state(rng: np.random.Generator) -> np.ndarray:
    return np.array(json.dumps(rng.bit_generator.state))


def _set_rng_state(rng: np.random.Generator, state: np.ndarray) -> None:
    rng.bit_generator.state = json.loads(str(state))


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
    learning_rate : float
        Learning rate, ``alpha`` of SH eq. (4.5).
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
        learning_rate: float = 0.02,
        baseline: str = "previous",
        presentations: int = 1,
        ema_rate: float = 0.01,
        theta_limit: float = 1e6,
        shuffle: bool = True,
        seed: int = 0,
    ):
        self.A = check_amplitude(A)
        self.learning_rate = float(learning_rate)
        if not np.isfinite(self.learning_rate) or self.learning_rate <= 0:
            raise ValidationError(f"learning_rate must be finite and > 0, got {learning_rate!r}")
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
        path = ZeroOrderPath(self, loss, theta0, data, replicates=replicates)
        path.start()
        losses = np.empty((n_steps, path.theta.shape[0]))
        rec = _Recorder(record_every, monitor, monitor_every, squeeze)
        rec(0, path.theta)
        bar = _Progress(n_steps, progress, "zero-order")
        for k in range(n_steps):
            losses[k] = path.advance()
            rec(k + 1, path.theta, last=k + 1 == n_steps)
            if (k + 1) % 1000 == 0:
                bar.update(1000)
        bar.close()
        return rec.result(path.theta, losses, path.n_evaluations)


class ZeroOrderPath:
    """One run of :class:`ZeroOrder`, advanced one update at a time.

    The loop body of :meth:`ZeroOrder.run`, with its whole state (parameters, the random
    generators, the sample order, the baseline) readable and restorable
    (:meth:`state_dict`), so a run can be checkpointed and resumed bit-identically.

    Parameters
    ----------
    rule : ZeroOrder
    loss : callable
        ``loss(theta (m, d), x, y) -> (m,)``.
    theta0 : ndarray, shape (d,) or (replicates, d)
    data : (X, Y) or None
    replicates : int, optional

    Attributes
    ----------
    theta : ndarray, shape (m, d)
        Current parameters (after :meth:`start`).
    k : int
        Updates done.
    n_evaluations : int
        Loss evaluations so far (baseline primings included).
    """

    def __init__(self, rule: ZeroOrder, loss: Callable, theta0, data=None, *, replicates=None):
        self.rule, self.loss = rule, loss
        self.theta0 = _initial(theta0, replicates)
        self.X, self.Y, self.n_samples = _check_data(data)
        self.theta = self.theta0.copy()
        self.k = 0
        self.n_evaluations = 0

    def _evaluate(self, i, u) -> np.ndarray:
        x, y = (None, None) if i is None else (self.X[i], self.Y[i])
        value = self.loss(self.theta + u, x, y)
        return np.asarray(value, dtype=float).reshape(self.theta.shape[0])

    def _draw(self) -> np.ndarray:
        A = self.rule.amplitude
        return self.rng.uniform(-A, A, size=self.theta.shape)

    def start(self) -> None:
        """The initial state: ``theta0``, the first sample and its priming evaluation."""
        rule = self.rule
        seq_order, seq_noise = np.random.SeedSequence(rule.seed).spawn(2)
        self.order = _Order(np.random.default_rng(seq_order), self.n_samples, rule.shuffle)
        self.rng = np.random.default_rng(seq_noise)
        self.theta = self.theta0.copy()
        self.k = 0
        self.sample = self.order.next()
        first = self._evaluate(self.sample, self._draw())  # L(theta_{-1} + U_{-1})
        _check_finite(0, first, self.theta, rule.theta_limit)
        self.n_evaluations = 1
        self.base = make_baseline(
            rule.baseline, first, ema_rate=rule.ema_rate, n_samples=self.n_samples
        )
        self.pres = 0

    def advance(self) -> np.ndarray:
        """One update (SH eq. 4.5); returns the perturbed loss it used, shape ``(m,)``.

        Raises
        ------
        DivergenceError
            A non-finite loss or ``max |theta| > theta_limit``.
        """
        rule, n_pres = self.rule, self.rule.presentations
        if n_pres > 1 and self.pres == n_pres:  # CK: new sample, prime its baseline
            self.sample, self.pres = self.order.next(), 0
            self.base.observe(self.sample, self._evaluate(self.sample, self._draw()))
            self.n_evaluations += 1
        elif n_pres == 1 and self.k > 0:
            self.sample = self.order.next()
        b = self.base.value(self.sample)
        u = self._draw()
        value = self._evaluate(self.sample, u)
        self.n_evaluations += 1
        self.theta = zero_order_step(self.theta, u, value, b, rule.learning_rate)
        self.k += 1
        _check_finite(self.k, value, self.theta, rule.theta_limit)
        self.base.observe(self.sample, value)
        self.pres += 1
        return value

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array of the state; the baseline's fields as ``baseline.<name>``."""
        state = {
            "theta": self.theta.copy(),
            "k": np.int64(self.k),
            "n_evaluations": np.int64(self.n_evaluations),
            "sample": np.int64(-1 if self.sample is None else self.sample),
            "pres": np.int64(self.pres),
            "order": self.order.order.copy(),
            "order_i": np.int64(self.order.i),
            "order_rng": _rng_state(self.order.rng),
            "noise_rng": _rng_state(self.rng),
        }
        for name, value in vars(self.base).items():
            state[f"baseline.{name}"] = np.asarray(value)
        return state

    def load_state_dict(self, state) -> None:
        """Restore a state from :meth:`state_dict` (after :meth:`start`)."""
        self.theta = np.array(state["theta"], dtype=float)
        self.k = int(state["k"])
        self.n_evaluations = int(state["n_evaluations"])
        self.sample = None if int(state["sample"]) < 0 else int(state["sample"])
        self.pres = int(state["pres"])
        self.order.order = np.asarray(state["order"], np.int64).copy()
        self.order.i = int(state["order_i"])
        _set_rng_state(self.order.rng, state["order_rng"])
        _set_rng_state(self.rng, state["noise_rng"])
        for name, value in vars(self.base).items():
            saved = np.asarray(state[f"baseline.{name}"])
            setattr(
                self.base, name, saved.copy() if isinstance(value, np.ndarray) else saved.item()
            )


class SGD:
    """Plain SGD, ``theta <- theta - learning_rate * grad L(theta, X_k, Y_k)``.

    Uses the same sample order as :class:`ZeroOrder` with the same ``seed``.

    Parameters
    ----------
    learning_rate : float
        Step size of the gradient step.
    shuffle : bool
    seed : int
    theta_limit : float
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.01,
        shuffle: bool = True,
        seed: int = 0,
        theta_limit=1e6,
    ):
        self.learning_rate = float(learning_rate)
        if not np.isfinite(self.learning_rate) or self.learning_rate <= 0:
            raise ValidationError(f"learning_rate must be finite and > 0, got {learning_rate!r}")
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
        """Run ``n_steps`` updates; ``loss`` must be a
        :class:`~spikesim.zeroorder.losses.Loss` (which declares ``grad``)."""
        squeeze = np.ndim(theta0) == 1
        path = SGDPath(self, loss, theta0, data)
        path.start()
        losses = np.empty((int(n_steps), path.theta.shape[0]))
        rec = _Recorder(record_every, monitor, monitor_every, squeeze)
        rec(0, path.theta)
        for k in range(int(n_steps)):
            losses[k] = path.advance()
            rec(k + 1, path.theta, last=k + 1 == n_steps)
        return rec.result(path.theta, losses, 0)


class SGDPath:
    """One run of :class:`SGD`, advanced one update at a time (see :class:`ZeroOrderPath`)."""

    def __init__(self, rule: SGD, loss, theta0, data=None):
        if not isinstance(loss, Loss):
            raise ValidationError(
                "SGD needs a spikesim.zeroorder.losses.Loss (a loss with a gradient), got "
                f"{type(loss).__name__}"
            )
        self.rule, self.loss = rule, loss
        self.theta0 = _initial(theta0, None)
        self.X, self.Y, self.n_samples = _check_data(data)
        self.theta = self.theta0.copy()
        self.k = 0
        self.n_evaluations = 0

    def start(self) -> None:
        seq_order, _ = np.random.SeedSequence(self.rule.seed).spawn(2)
        self.order = _Order(np.random.default_rng(seq_order), self.n_samples, self.rule.shuffle)
        self.theta = self.theta0.copy()
        self.k = 0

    def advance(self) -> np.ndarray:
        """One step ``theta <- theta - learning_rate * grad L``; returns the prior loss (m,)."""
        i = self.order.next()
        x, y = (None, None) if i is None else (self.X[i], self.Y[i])
        value = self.loss.value(self.theta, x, y)
        self.theta = self.theta - self.rule.learning_rate * self.loss.grad(self.theta, x, y)
        self.k += 1
        _check_finite(self.k, value, self.theta, self.rule.theta_limit)
        return value

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            "theta": self.theta.copy(),
            "k": np.int64(self.k),
            "order": self.order.order.copy(),
            "order_i": np.int64(self.order.i),
            "order_rng": _rng_state(self.order.rng),
        }

    def load_state_dict(self, state) -> None:
        self.theta = np.array(state["theta"], dtype=float)
        self.k = int(state["k"])
        self.order.order = np.asarray(state["order"], np.int64).copy()
        self.order.i = int(state["order_i"])
        _set_rng_state(self.order.rng, state["order_rng"])
