"""Equilibrium propagation (Scellier & Bengio 2017), registered as ``ep``.

A layered Hopfield-like network ``x -> s_1 -> ... -> s_N`` (``s_N`` = output) with
symmetric weights. Notation: ``W_k`` has shape ``(n_{k-1}, n_k)`` (row-vector convention,
``s_{k-1} @ W_k``), ``b_k`` shape ``(n_k,)``; ``rho(s) = min(max(s, 0), 1)`` is the hard
sigmoid (sec. 5.1).

Energy (eq. 34, layered, no lateral or skip connections)::

    E(s) = 1/2 sum_k |s_k|^2 - sum_k rho(s_{k-1}) W_k rho(s_k)^T - sum_k b_k rho(s_k)^T

Total energy ``F = E + beta C`` with the cost of the authors' code ``C = |y - s_N|^2``
(no factor 1/2, so the nudging force on the output is ``2 beta (y - s_N)``).

Relaxation: clipped gradient steps (eq. 54) ``s <- clip(s - eps dF/ds, 0, 1)``. States
stay in ``[0, 1]`` where ``rho(s) = s`` and ``rho'(s) = 1`` (the one-sided derivatives at
0 and 1 taken as 1, as the gradient of ``clip`` in the authors' Theano code), so one step
of every layer is ``s_k <- clip((1 - eps) s_k + eps (s_{k-1} W_k + s_{k+1} W_{k+1}^T +
b_k) [+ 2 eps beta (y - s_N) at the output], 0, 1)``, all layers updated synchronously from
the previous state. The input drive ``rho(x) W_1`` is computed once per minibatch.

Learning (eq. 50, averaged over the minibatch, per-layer rates ``alpha_k``)::

    W_k += alpha_k / beta * (rho(s_{k-1}^beta)^T rho(s_k^beta) - rho(s_{k-1}^0)^T rho(s_k^0))
    b_k += alpha_k / beta * (rho(s_k^beta) - rho(s_k^0))

with ``s^0`` the end of the free phase (``n_free`` steps) and ``s^beta`` the end of the
nudged phase (``n_nudged`` steps started from ``s^0``), ``beta`` of random sign per
minibatch.

Persistent particles (sec. 5.2): the hidden and output states at the end of each training
example's free phase are stored, indexed by the example's index in the training set, and
start that example's next free phase. Without ``index`` (and for prediction) the free
phase starts from zero, as fresh particles do in the authors' code. Prediction is the
argmax of the output at the end of a free phase of ``n_free`` steps (eq. 51).

Not in the paper: :meth:`EquilibriumPropagation.settle` runs the free phase from zero until
the state stops changing, a diagnostic of how far ``n_free`` steps are from the fixed point
(``predict`` does not use it).
"""

from __future__ import annotations

from typing import Any, ClassVar, final

import numpy as np
from scipy.linalg.blas import get_blas_funcs

from spikesim.errors import ValidationError
from spikesim.rate._ep_kernels import relax_fused
from spikesim.rate._mlp import glorot_uniform
from spikesim.rate.base import (
    RateLearner,
    layer_parameter_count,
    layer_state,
    load_layers,
    register,
)

__all__ = [
    "EquilibriumPropagation",
    "relax",
    "ep_increments",
    "apply_ep_increments",
    "glorot_uniform",
]


def relax(
    drive_in: np.ndarray,
    states: list[np.ndarray],
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    *,
    n_steps: int,
    eps: float,
    beta: float = 0.0,
    target: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Clipped gradient descent on the total energy (Scellier & Bengio eq. 54).

    Parameters
    ----------
    drive_in : ndarray, shape (batch, n_1)
        ``rho(x) @ W_1`` (computed once per minibatch).
    states : list of ndarray, shapes (batch, n_k), k = 1..N
        Initial states in ``[0, 1]``; not modified.
    weights, biases : lists of ndarray
        ``W_k`` shape ``(n_{k-1}, n_k)`` and ``b_k`` shape ``(n_k,)``, k = 1..N.
    n_steps : int
        Number of steps.
    eps : float
        Step size (dimensionless time step).
    beta : float
        Nudging strength; the force on the output is ``2 beta (target - s_N)``.
    target : ndarray, shape (batch, n_N), optional
        One-hot targets (needed when ``beta != 0``).

    Returns
    -------
    list of ndarray
        The states after ``n_steps`` steps.
    """
    s = [a.copy() for a in states]
    n = len(s)
    keep = 1.0 - eps
    for _ in range(n_steps):
        new = []
        for k in range(n):
            d = (drive_in if k == 0 else s[k - 1] @ weights[k]) + biases[k]
            if k + 1 < n:
                d = d + s[k + 1] @ weights[k + 1].T
            if k == n - 1 and beta != 0.0:
                d = d + 2.0 * beta * (target - s[k])
            new.append(np.clip(keep * s[k] + eps * d, 0.0, 1.0))
        s = new
    return s


def ep_increments(
    x: np.ndarray, free: list[np.ndarray], nudged: list[np.ndarray], beta: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The EP weight and bias increments of eq. 50 per unit learning rate, batch-averaged.

    Returns ``(dW, db)`` with ``dW[k] = (rho(s_{k-1}^b)^T rho(s_k^b) - rho(s_{k-1}^0)^T
    rho(s_k^0)) / (beta * batch)`` (``s_0 = x``, clamped) and ``db[k] = mean(rho(s_k^b) -
    rho(s_k^0)) / beta``. States are already in ``[0, 1]`` so ``rho`` is the identity.
    """
    batch = x.shape[0]
    scale = 1.0 / (beta * batch)
    dw = [x.T @ (nudged[0] - free[0]) * scale]
    for k in range(1, len(free)):
        dw.append((nudged[k - 1].T @ nudged[k] - free[k - 1].T @ free[k]) * scale)
    db = [(nb - fb).sum(axis=0) * scale for nb, fb in zip(nudged, free, strict=True)]
    return dw, db


def apply_ep_increments(
    x: np.ndarray,
    free: list[np.ndarray],
    nudged: list[np.ndarray],
    beta: float,
    rates: tuple[float, ...],
    weights: list[np.ndarray],
    biases: list[np.ndarray],
) -> None:
    """In place: ``W_k += alpha_k dW_k``, ``b_k += alpha_k db_k`` with the increments of
    :func:`ep_increments` (eq. 50).

    Each weight update is BLAS ``gemm`` accumulating into ``W_k`` (``beta = 1``), with
    ``alpha_k / (beta batch)`` folded into the product: ``W_1 += a x^T (s_1^b - s_1^0)``,
    and for ``k >= 2`` two calls, ``+a s_{k-1}^{b T} s_k^b`` and ``-a s_{k-1}^{0 T} s_k^0``.
    Equal to adding ``alpha_k * ep_increments(...)`` up to rounding (one scaling instead of
    two). ``weights`` must be C-contiguous (their transposes are BLAS's column-major
    outputs).
    """
    batch = x.shape[0]
    scale = 1.0 / (beta * batch)
    gemm = get_blas_funcs("gemm", (weights[0],))
    for k, a in enumerate(rates):
        w = weights[k]
        wt = w.T  # column-major view: BLAS updates it in place
        c = a * scale
        if k == 0:
            pairs = ((c, nudged[0] - free[0], x),)
        else:
            pairs = ((c, nudged[k], nudged[k - 1]), (-c, free[k], free[k - 1]))
        for alpha, post, pre in pairs:
            # wt (n_k, n_{k-1}) += alpha post^T pre
            out = gemm(alpha, post.T, pre.T, beta=1.0, c=wt, trans_b=1, overwrite_c=1)
            if not np.shares_memory(out, w):  # pragma: no cover - BLAS made a copy
                w[...] = out.T
        db = (nudged[k] - free[k]).sum(axis=0) * scale
        biases[k] += (a * db).astype(biases[k].dtype, copy=False)


@final
@register("ep")
class EquilibriumPropagation(RateLearner):
    """Equilibrium propagation, exactly as Scellier & Bengio (2017), sec. 3 and 5.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``[n_in, n_hidden..., n_out]``.
    seed : int
        Seeds the Glorot-uniform weights and the random signs of beta.
    learning_rate : float or sequence of float
        Per-layer learning rates ``alpha_k`` of eq. 50, one per weight matrix (one float:
        the same for all); config ``net1``: ``(0.1, 0.05)``.
    n_free : int
        Free-phase steps (``net1``: 20).
    n_nudged : int
        Nudged-phase steps (``net1``: 4).
    eps : float
        Step size of the relaxation, eq. 54 (``net1``: 0.5).
    beta : float
        Nudging strength, > 0 (``net1`` in the code: 0.5).
    random_sign : bool
        Draw the sign of beta at random for each minibatch (as the authors' code).
    dtype : {"float32", "float64"}
        Floating-point type of weights and states.
    """

    uses_example_index: ClassVar[bool] = True
    counts_flops: ClassVar[bool] = True

    learning_rate: float | tuple[float, ...] = (0.1, 0.05)
    n_free: int = 20
    n_nudged: int = 4
    eps: float = 0.5
    beta: float = 0.5
    random_sign: bool = True

    @property
    def layer_rates(self) -> tuple[float, ...]:
        """``learning_rate`` as one ``alpha_k`` per weight matrix."""
        if np.ndim(self.learning_rate) == 0:
            return (float(self.learning_rate),) * (len(self.sizes) - 1)
        return tuple(float(a) for a in self.learning_rate)

    def _check_params(self) -> None:
        rates = self.learning_rate
        ok = np.ndim(rates) == 0 or len(rates) == len(self.sizes) - 1
        self._require(
            ok,
            "learning_rate",
            f"needs one learning rate per weight matrix ({len(self.sizes) - 1})",
        )
        ok = all(
            isinstance(a, int | float | np.number) and np.isfinite(a) and a >= 0
            for a in np.ravel(rates)
        )
        self._require(ok, "learning_rate", "must hold finite learning rates >= 0")
        self._require_count("n_free", 1)
        self._require_count("n_nudged", 1)
        self._require(0.0 < self.eps <= 1.0, "eps", "must be in (0, 1]")
        self._require_rate("beta")

    # -- parameters -----------------------------------------------------------------------
    def _initialize(self, rng: np.random.Generator) -> None:
        dt = np.dtype(self.dtype)
        self.W = [
            glorot_uniform(rng, a, b, dt)
            for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        ]
        self.b = [np.zeros(n, dtype=dt) for n in self.sizes[1:]]
        self._step = 0  # minibatches seen: with the seed, fixes the sign of beta
        # persistent particles, grown on demand: (capacity, n_k) for k = 1..N
        self.particles = [np.zeros((0, n), dtype=dt) for n in self.sizes[1:]]

    def _parameters(self) -> list[np.ndarray]:
        return [*self.W, *self.b]

    def n_parameters(self) -> int:
        return layer_parameter_count(self.sizes)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Weights ``W{k}`` and biases ``b{k}`` (k = 1..N), the persistent particles
        ``particles{k}`` (capacity, n_k) and the minibatch count ``step``."""
        if not self._initialized:
            self.initialize()
        out = layer_state(self.W, self.b, start=1)
        for k, p in enumerate(self.particles, start=1):
            out[f"particles{k}"] = p.copy()
        out["step"] = np.array(self._step, dtype=np.int64)
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.initialize()
        expected = {k: v.shape for k, v in self.state_dict().items()}
        for k, n in enumerate(self.sizes[1:], start=1):
            expected[f"particles{k}"] = None  # any capacity
            shape = np.shape(state.get(f"particles{k}", np.zeros((0, n))))
            if len(shape) != 2 or shape[1] != n:
                raise ValidationError(
                    f"ep: state_dict['particles{k}'] has shape {shape}, expected (capacity, {n})"
                )
        self._check_state(state, expected)
        load_layers(state, self.W, self.b, start=1)
        dt = np.dtype(self.dtype)
        self.particles = [
            np.array(state[f"particles{k}"], dtype=dt) for k in range(1, len(self.W) + 1)
        ]
        self._step = int(state["step"])

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        return {"learning_rate": 0.1, "n_free": 20, "n_nudged": 4, "dtype": "float64"}

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        # states are clipped to [0, 1], so one increment is at most alpha_k / beta per
        # weight: no setting makes the parameters non-finite within a few steps
        return None

    # -- computation ----------------------------------------------------------------------
    def _zeros(self, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, n), dtype=self.dtype) for n in self.sizes[1:]]

    def _gather(self, index: np.ndarray) -> list[np.ndarray]:
        need = int(index.max()) + 1
        cap = self.particles[0].shape[0]
        if need > cap:
            new_cap = max(need, 2 * cap)
            self.particles = [
                np.concatenate([p, np.zeros((new_cap - cap, p.shape[1]), dtype=p.dtype)])
                for p in self.particles
            ]
        return [p[index] for p in self.particles]

    def _free_phase(self, x: np.ndarray, n_steps: int) -> list[np.ndarray]:
        drive = np.clip(x, 0.0, 1.0) @ self.W[0]
        free, _ = relax_fused(
            drive, self._zeros(x.shape[0]), self.W, self.b, n_free=n_steps, n_nudged=0, eps=self.eps
        )
        return free

    def _fit_batch(self, x: np.ndarray, y: np.ndarray, index: np.ndarray | None) -> float:
        x = np.asarray(x, dtype=self.dtype)
        batch = x.shape[0]
        if index is not None:
            index = np.asarray(index)
            if index.shape != (batch,) or not np.issubdtype(index.dtype, np.integer):
                raise ValidationError(
                    f"ep: index must be integers of shape ({batch},), "
                    f"got {index.dtype} {index.shape}"
                )
            if batch and index.min() < 0:
                raise ValidationError(f"ep: example indices must be >= 0, got {index.min()}")
            if len(np.unique(index)) != batch:
                raise ValidationError("ep: example indices within a minibatch must be distinct")
        if batch == 0:
            return 0.0
        target = self._one_hot(y)
        start = self._zeros(batch) if index is None else self._gather(index)
        beta = self.beta
        if self.random_sign and np.random.default_rng([self.seed, 1, self._step]).integers(2):
            beta = -beta
        self._step += 1
        xc = np.clip(x, 0.0, 1.0)
        # the input drive rho(x) W_1 once for both phases; free then nudged phase in one call
        free, nudged = relax_fused(
            xc @ self.W[0],
            start,
            self.W,
            self.b,
            n_free=self.n_free,
            n_nudged=self.n_nudged,
            eps=self.eps,
            beta=beta,
            target=target,
        )
        if index is not None:
            for p, s in zip(self.particles, free, strict=True):
                p[index] = s
        loss = float(np.mean(np.sum((target - free[-1]) ** 2, axis=1)))
        self._contiguous()
        apply_ep_increments(xc, free, nudged, beta, self.layer_rates, self.W, self.b)
        return loss

    def _contiguous(self) -> None:
        # apply_ep_increments updates the weights in place through their transposes
        self.W = [np.ascontiguousarray(w) for w in self.W]

    def _predict_scores(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        return self._free_phase(x, self.n_free)[-1]

    def fixed_point(self, x: np.ndarray, n_steps: int | None = None) -> list[np.ndarray]:
        """States ``[s_1, ..., s_N]`` after a free phase from zero.

        ``n_steps`` defaults to ``n_free``.
        """
        x = np.asarray(self._check_x(x), dtype=self.dtype)
        if not self._initialized:
            self.initialize()
        return self._free_phase(x, n_steps or self.n_free)

    def settle(
        self,
        x: np.ndarray,
        *,
        tol: float = 1e-6,
        max_steps: int = 10_000,
        chunk: int = 50,
    ) -> tuple[list[np.ndarray], int, float]:
        """Free phase from zero run until the state stops changing (not in the paper).

        A diagnostic beyond the paper, which predicts after ``n_free`` steps (eq. 51,
        :meth:`predict`): eq. 54 with ``beta = 0`` is iterated in chunks of ``chunk`` steps
        until one step moves no unit by ``tol`` or more, or ``max_steps`` steps are done.
        ``predict`` is unchanged.

        Parameters
        ----------
        x : ndarray, shape (batch, n_in)
        tol : float
            Largest change of any unit in the last step, > 0 (states are in ``[0, 1]``).
        max_steps : int
            Most steps, >= 1 (rounded up to a multiple of ``chunk``).
        chunk : int
            Steps between convergence checks, >= 1.

        Returns
        -------
        states : list of ndarray, shapes (batch, n_k), k = 1..N
        n_steps : int
            Steps taken.
        change : float
            ``max |s(n_steps) - s(n_steps - 1)|`` over all units (``< tol`` if converged).
        """
        if not (np.isfinite(tol) and tol > 0):
            raise ValidationError(f"ep: settle tol must be finite and > 0, got {tol}")
        if int(max_steps) < 1 or int(chunk) < 1:
            raise ValidationError(
                f"ep: settle max_steps and chunk must be >= 1, got {max_steps}, {chunk}"
            )
        max_steps, chunk = int(max_steps), int(chunk)
        x = np.asarray(self._check_x(x), dtype=self.dtype)
        if not self._initialized:
            self.initialize()
        drive = np.clip(x, 0.0, 1.0) @ self.W[0]
        states = self._zeros(x.shape[0])
        if x.shape[0] == 0:
            return states, 0, 0.0
        n_steps, change = 0, float("inf")
        while n_steps < max_steps and not change < tol:
            # chunk - 1 steps, then one more: the last step's change is the criterion
            before, states = relax_fused(
                drive, states, self.W, self.b, n_free=chunk - 1, n_nudged=1, eps=self.eps
            )
            n_steps += chunk
            change = max(float(np.max(np.abs(a - b))) for a, b in zip(states, before, strict=True))
        return states, n_steps, change

    def flops_per_sample(self, batch: int = 20) -> float:
        """Floating-point operations of one training step per example (matrix products only).

        Input drive ``x W_1`` once (``2 n_0 n_1``); every relaxation step (free and nudged)
        multiplies by ``W_k`` forward (k >= 2) and ``W_{k+1}^T`` backward (``4 sum_{k>=2}
        n_{k-1} n_k``); the update needs ``x^T dS_1`` (``2 n_0 n_1``) and two outer-product
        sums per deeper layer (``4 n_{k-1} n_k``). Independent of ``batch``.
        """
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        first = pairs[0][0] * pairs[0][1]
        deep = sum(a * b for a, b in pairs[1:])
        per_step = 4 * deep
        return float(2 * first + (self.n_free + self.n_nudged) * per_step + 2 * first + 4 * deep)
