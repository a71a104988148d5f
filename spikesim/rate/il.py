"""Generalized inference learning (Alonso, Millidge, Krichmar & Neftci 2022).

Registered learners: ``il-sgd`` (LMS rule, eq. 5), ``il-adam`` (the same local gradients
fed to Adam) and ``il-prox`` (NLMS rule, eq. 6, with the proximal output target;
Definition 4.1).

Notation (row-vector convention). Layers ``n = 0..N``; ``h_0 = x`` is clamped (used as
is; the images are non-negative so this equals ``f(x)`` of the reference code). Hidden
activities ``h_n`` (n = 1..N-1) are pre-activations with ``f = relu``; ``W_n`` has shape
``(n_n, n_{n+1})`` and ``b_n`` shape ``(n_{n+1},)``, so the local predictions are
``p_{n+1} = f(h_n) W_n + b_n`` (``f(h_0) = x``). At the output the prediction is ``q =
softmax(p_N)`` (``loss="softmax-ce"``, the paper's classification setting), ``q =
sigmoid(p_N)`` (``loss="sigmoid-bce"``, the paper's autoencoders) or ``q = p_N``
(``loss="mse"``), and the output activity is a target ``t`` in the same space as ``q``.
The label ``y`` is the one-hot class, or the input ``x`` itself for ``target="input"`` (an
autoencoder).

Energy (eq. 4, with the output local loss written as cross-entropy to the softmax
prediction for classification)::

    F(h, W) = l(t, p_N) + sum_{n=1}^{N-1} 1/2 |h_n - p_n|^2,
    l = -sum t log softmax(p_N)   (softmax-ce),
        sum_j bce(t_j, sigmoid(p_N)_j)   (sigmoid-bce)   or   1/2 |t - p_N|^2   (mse).

Local errors ``e_n = h_n - p_n`` (hidden) and ``e_N = t - q`` (output). Inference starts at
the feedforward pass (``h_n = p_n``) and takes ``n_iter`` gradient steps on the hidden
activities. ``dF/dh_n = e_n - f'(h_n) * (e_{n+1} W_n^T)`` exactly, for both losses.

IL-SGD / IL-Adam: ``t = y`` (output clamped to the one-hot label, ``n = 1`` in the
reference code); steps ``h_n -= step_size * dF/dh_n``; weight rule eq. 5 (LMS),
``dW_n = learning_rate * f(h_n)^T e_{n+1}`` and ``db_n = learning_rate * e_{n+1}``, averaged
over the minibatch: exactly ``-learning_rate dF/dW_n`` at the inferred activities.

IL-prox (Sec. 5 and Def. 4.1): the NLMS weight rule (eq. 6) ``dW_n = e_{n+1} f~(h_n)^T /
s_n``, ``f~ = [f; 1]`` (bias), ``s_n = |f(h_n)|^2 + 1 + eps``, without a learning rate; the
learning rate ``alpha`` only sets the output target. With NLMS the new weights map ``f~(h_n)``
to ``h_{n+1}`` (exactly when ``eps = 0``), so the loss after the update is ``L(y, t)`` and
``|dtheta|^2 = sum_n |e_{n+1}|^2 / s_n``; the proximal objective (eq. 9) written in the
activities is::

    P(h) = 1/2 |y - t|^2 + 1/(2 alpha) sum_{n=0}^{N-1} |e_{n+1}|^2 / s_n.

Its exact minimiser in ``t`` is the proximal output target ``t = (q + alpha s_{N-1} y) / (1 +
alpha s_{N-1})`` (between the prediction, ``alpha -> 0``, and the label, ``alpha -> inf``),
recomputed from the current activities at every inference step. The hidden activities are
inferred in one of two ways (``inference``):

* ``"energy"`` (default): the algorithm the paper runs as IL-prox. G-IL (Algorithm 2)
  minimises the energy F of eq. 4 over the activities by gradient steps, exactly as IL-SGD
  (``h_n -= step_size * dF/dh_n``, all ``gamma_n = 1``, no decay term), with the output
  clamped at the proximal target instead of the label; Theorem 4.1 is the paper's reason
  why minimising F also lowers P, and Fig. 2 measures P "during the inference phase, where F
  is minimized" for IL-prox. The authors' code does the same (one step size for the local
  error and the feedback, ``dec_gamma = 0``).
* ``"proximal"``: Def. 4.1 taken literally, steps on P itself, along ``alpha s_{n-1} dP/dh_n
  = e_n - (s_{n-1}/s_n) [f'(h_n) * (e_{n+1} W_n^T) + |e_{n+1}|^2 / s_n f(h_n) f'(h_n)]`` (the
  gradient, preconditioned per layer by the curvature of its own error term). For
  ``loss="mse"`` and ``eps = 0`` this inference minimises P exactly, and a converged step
  with batch 1 equals the proximal step of eq. 9 (Theorem 4.2; ``tests/test_il.py``). With a
  few steps it moves the hidden activities further than ``"energy"``: the feedback is
  scaled by ``s_{n-1}/s_n`` (median 2.6 and 1.9 for the two hidden layers of 784-500-500-10
  at Glorot initialisation on Fashion-MNIST, 8.6 and 4.2 at ``init="torch"``).

With a minibatch each example has its own norm ``s_n`` (the reference code sums it over the
batch, a bug not copied). The authors' code also computes each step's output target from the
previous step's prediction (a one-step lag); here it is the exact minimiser at the current
activities. For softmax outputs the error is measured in probability space and
fed back as a cross-entropy gradient, as in the reference code.

Weights and biases start as in ``torch.nn.Linear`` (the reference code):
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``init="torch"``, the default), or Glorot-uniform
weights with zero biases (``init="glorot"``, the initialisation of ``bp``).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, final

import numpy as np

from spikesim.rate._mlp import bce_with_logits, glorot_uniform, sigmoid
from spikesim.rate.base import (
    RateLearner,
    layer_parameter_count,
    layer_state,
    load_layers,
    register,
)

__all__ = ["InferenceLearning", "ILSGD", "ILAdam", "ILProx", "softmax"]

_LOSSES = ("softmax-ce", "mse", "sigmoid-bce")
_INITS = ("torch", "glorot")


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``z``, shape ``(batch, n)``."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _relu(h: np.ndarray) -> np.ndarray:
    return np.maximum(h, 0.0)


def _drelu(h: np.ndarray) -> np.ndarray:
    return (h > 0.0).astype(h.dtype)


class InferenceLearning(RateLearner):
    """Base of the inference-learning variants (abstract; see the module docstring).

    Parameters
    ----------
    sizes, seed, dtype
        As :class:`~spikesim.rate.base.RateLearner` (``seed`` draws the initial weights).
    learning_rate : float
        Of the LMS rule (il-sgd), of Adam (il-adam), or ``alpha``, how far the output target
        moves towards the label (il-prox).
    n_iter : int
        Inference steps on the hidden activities.
    step_size : float
        Step size of the inference steps.
    loss : {"softmax-ce", "mse", "sigmoid-bce"}
        Output prediction softmax with cross-entropy local loss, linear with squared error,
        or sigmoid with binary cross-entropy (summed over the outputs).
    init : {"torch", "glorot"}
        Initial weights: ``torch.nn.Linear``'s ``U(+-1/sqrt(fan_in))`` for weights and biases
        (the reference code), or Glorot-uniform weights and zero biases (as ``bp``).
    target : {"label", "input"}
        The output learns the one-hot label, or reproduces the input (an autoencoder,
        ``sizes[-1] == sizes[0]``, Alonso et al. 2022, Fig. 3: ``loss = "sigmoid-bce"``).
    """

    counts_flops: ClassVar[bool] = True
    reconstructs: ClassVar[bool] = True

    sizes: tuple[int, ...] = (784, 500, 500, 10)
    learning_rate: float = 0.03
    n_iter: int = 25
    step_size: float = 0.02
    loss: str = "softmax-ce"
    init: str = "torch"
    target: str = "label"

    def _check_params(self) -> None:
        self._require_rate("learning_rate")
        self._require_count("n_iter", 0)
        self._require_rate("step_size", allow_zero=True)
        self._require_choice("loss", _LOSSES)
        self._require_choice("init", _INITS)
        self._check_target()

    # -- parameters -----------------------------------------------------------------------
    def _initialize(self, rng: np.random.Generator) -> None:
        dt = np.dtype(self.dtype)
        self.W, self.b = [], []
        for a, c in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            if self.init == "torch":
                bound = 1.0 / np.sqrt(a)
                self.W.append(rng.uniform(-bound, bound, size=(a, c)).astype(dt))
                self.b.append(rng.uniform(-bound, bound, size=c).astype(dt))
            else:
                self.W.append(glorot_uniform(rng, a, c, dt))
                self.b.append(np.zeros(c, dtype=dt))
        self._init_optimizer()

    def _init_optimizer(self) -> None:
        pass

    def _parameters(self) -> list[np.ndarray]:
        return [*self.W, *self.b]

    def n_parameters(self) -> int:
        return layer_parameter_count(self.sizes)

    def state_dict(self) -> dict[str, np.ndarray]:
        if not self._initialized:
            self.initialize()
        return layer_state(self.W, self.b, start=0) | self._optimizer_state()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.initialize()
        self._check_state(state, {k: v.shape for k, v in self.state_dict().items()})
        load_layers(state, self.W, self.b, start=0)
        self._load_optimizer_state(state)

    def _optimizer_state(self) -> dict[str, np.ndarray]:
        return {}

    def _load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        return {"n_iter": 5, "dtype": "float64"}

    # -- shared computation -----------------------------------------------------------------
    def _out(self, z: np.ndarray) -> np.ndarray:
        if self.loss == "softmax-ce":
            return softmax(z)
        return sigmoid(z) if self.loss == "sigmoid-bce" else z

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Feedforward pre-activations ``[h_1, ..., h_N]``, shapes ``(batch, n_k)``."""
        hs, a = [], x
        for k, (w, b) in enumerate(zip(self.W, self.b, strict=True)):
            h = a @ w + b
            hs.append(h)
            a = _relu(h) if k + 1 < len(self.W) else h
        return hs

    def _predictions(self, x: np.ndarray, hidden: list[np.ndarray], p1: np.ndarray):
        """``p_1..p_N`` from the current hidden activities (``p_1 = x W_0 + b_0`` given)."""
        ps = [p1]
        for k in range(1, len(self.W)):
            ps.append(_relu(hidden[k - 1]) @ self.W[k] + self.b[k])
        return ps

    def _loss_value(self, yoh: np.ndarray, z: np.ndarray) -> float:
        if self.loss == "softmax-ce":
            zs = z - z.max(axis=1, keepdims=True)
            logp = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
            return float(-np.mean(np.sum(yoh * logp, axis=1)))
        if self.loss == "sigmoid-bce":
            return float(np.mean(np.sum(bce_with_logits(z, yoh), axis=1)))
        return float(0.5 * np.mean(np.sum((yoh - z) ** 2, axis=1)))

    def _predict_scores(self, x: np.ndarray) -> np.ndarray:
        return self.forward(np.asarray(x, dtype=self.dtype))[-1]

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self._out(self.predict_scores(x))

    def reconstruction_loss(self, x: np.ndarray) -> float:
        x = np.asarray(self._check_x(x), dtype=self.dtype)
        return self._loss_value(x, self.predict_scores(x)) / self.sizes[-1]

    def _fit_batch(self, x: np.ndarray, y: np.ndarray, index: np.ndarray | None) -> float:
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[0] == 0:
            return 0.0
        yoh = self._targets(x, y)
        ff = self.forward(x)
        loss = self._loss_value(yoh, ff[-1])
        hidden, target, errors = self.infer(x, yoh, ff)
        self._update(x, hidden, errors)
        return loss

    def _energy_step(self, hidden: list[np.ndarray], errors: list[np.ndarray]) -> list[np.ndarray]:
        """One gradient step on the energy F (eq. 4, all ``gamma_n = 1``) for every hidden layer.

        ``h_n - step_size * (e_n - f'(h_n) * (e_{n+1} W_n^T))`` with the errors ``errors``
        of the current activities (all layers from the same errors), shapes as ``hidden``.
        """
        eta = self.step_size
        return [
            h - eta * (errors[n] - _drelu(h) * (errors[n + 1] @ self.W[n + 1].T))
            for n, h in enumerate(hidden)
        ]

    @abc.abstractmethod
    def infer(self, x: np.ndarray, yoh: np.ndarray, ff: list[np.ndarray] | None = None):
        """Inference phase from the feedforward pass.

        Returns ``(hidden, t, errors)``: the inferred hidden activities ``[h_1..h_{N-1}]``,
        the output target ``t`` (batch, n_out), and the local errors ``[e_1..e_N]`` at the
        end (``e_n = h_n - p_n``, ``e_N = t - q``).
        """

    @abc.abstractmethod
    def _update(self, x, hidden, errors) -> None:
        """Apply the weight rule at the inferred activities (in place)."""

    def flops_per_sample(self, batch: int = 1) -> float:
        """Floating-point operations of one training step per example (matrix products only).

        Feedforward pass ``2 sum_k n_k n_{k+1}``; each inference step recomputes the
        predictions of layers 2..N and feeds the errors back (``4 sum_{k>=1} n_k n_{k+1}``),
        plus one final recomputation; the update needs one outer-product sum per layer
        (``2 sum_k n_k n_{k+1}``). Independent of ``batch``.
        """
        pairs = [a * c for a, c in zip(self.sizes[:-1], self.sizes[1:], strict=True)]
        total, deep = sum(pairs), sum(pairs[1:])
        return float(2 * total + self.n_iter * 4 * deep + 2 * deep + 2 * total)


class _EnergyIL(InferenceLearning):
    """IL-SGD / IL-Adam: output clamped to the label, gradient steps on the energy F."""

    def infer(self, x, yoh, ff=None):
        ff = self.forward(x) if ff is None else ff
        hidden = [h.copy() for h in ff[:-1]]
        p1 = ff[0]
        t = yoh
        errors = None
        for it in range(self.n_iter + 1):
            ps = self._predictions(x, hidden, p1)
            errors = [h - p for h, p in zip(hidden, ps[:-1], strict=True)]
            errors.append(t - self._out(ps[-1]))
            if it == self.n_iter:
                break
            hidden = self._energy_step(hidden, errors)
        return hidden, t, errors

    def energy(self, x: np.ndarray, yoh: np.ndarray, hidden: list[np.ndarray]) -> float:
        """Batch-mean energy F (eq. 4, output clamped to ``yoh``) at the given activities."""
        x = np.asarray(x, dtype=self.dtype)
        ps = self._predictions(x, hidden, x @ self.W[0] + self.b[0])
        f = sum(0.5 * np.sum((h - p) ** 2) for h, p in zip(hidden, ps[:-1], strict=True))
        f = f + x.shape[0] * self._loss_value(yoh, ps[-1])
        return float(f / x.shape[0])

    def local_gradients(self, x, hidden, errors) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``-dF/dW_n`` and ``-dF/db_n`` at the inferred activities (batch-mean LMS, eq. 5)."""
        batch = x.shape[0]
        pre = [x] + [_relu(h) for h in hidden]
        gw = [a.T @ e / batch for a, e in zip(pre, errors, strict=True)]
        gb = [e.mean(axis=0) for e in errors]
        return gw, gb


@final
@register("il-sgd")
class ILSGD(_EnergyIL):
    """IL-SGD: inference on eq. 4, LMS weight rule (eq. 5). F-MNIST setting:
    ``learning_rate=0.03``.

    See :class:`InferenceLearning` for the parameters.
    """

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        return {"learning_rate": 1e8}

    def _update(self, x, hidden, errors) -> None:
        gw, gb = self.local_gradients(x, hidden, errors)
        for k in range(len(self.W)):
            self.W[k] += self.learning_rate * gw[k]
            self.b[k] += self.learning_rate * gb[k]


@final
@register("il-adam")
class ILAdam(_EnergyIL):
    """IL-Adam: the IL-SGD local gradients applied with Adam (beta1 0.9, beta2 0.999, eps 1e-8).

    See :class:`InferenceLearning` for the parameters (``learning_rate`` is Adam's step
    size, default 5e-5).
    """

    learning_rate: float = 5e-5

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        return {"n_iter": 5, "learning_rate": 1e-2, "dtype": "float64"}

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        # an Adam step moves each parameter by about learning_rate: 1e13 passes the
        # divergence limit
        return {"learning_rate": 1e13}

    def _init_optimizer(self) -> None:
        self._m = [np.zeros_like(a) for a in (*self.W, *self.b)]
        self._v = [np.zeros_like(a) for a in (*self.W, *self.b)]
        self._t = 0

    def _optimizer_state(self) -> dict[str, np.ndarray]:
        out = {}
        for i, (m, v) in enumerate(zip(self._m, self._v, strict=True)):
            out[f"adam_m{i}"] = m.copy()
            out[f"adam_v{i}"] = v.copy()
        out["adam_t"] = np.array(self._t)
        return out

    def _load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        for i, (m, v) in enumerate(zip(self._m, self._v, strict=True)):
            m[...] = state[f"adam_m{i}"]
            v[...] = state[f"adam_v{i}"]
        self._t = int(state["adam_t"])

    def _update(self, x, hidden, errors) -> None:
        gw, gb = self.local_gradients(x, hidden, errors)
        params = [*self.W, *self.b]
        self._t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        c1, c2 = 1.0 - b1**self._t, 1.0 - b2**self._t
        lr = self.learning_rate
        for i, g in enumerate([*gw, *gb]):
            g = -g  # descend F
            self._m[i] = b1 * self._m[i] + (1 - b1) * g
            self._v[i] = b2 * self._v[i] + (1 - b2) * g * g
            params[i] -= (lr * (self._m[i] / c1) / (np.sqrt(self._v[i] / c2) + eps)).astype(
                self.dtype, copy=False
            )


_INFERENCE = ("energy", "proximal")


@final
@register("il-prox")
class ILProx(InferenceLearning):
    """IL-prox: proximal output target, NLMS weight rule (eq. 6), no weight learning rate.

    Parameters
    ----------
    sizes, seed, n_iter, step_size, loss, init, dtype
        See :class:`InferenceLearning` (default ``step_size`` 0.015).
    learning_rate : float
        ``alpha`` of eq. 9: moves the output target towards the label (F-MNIST: 2.5).
    eps : float
        Regulariser of the NLMS norm, ``s = |f(h)|^2 + 1 + eps`` (F-MNIST: 0.25).
    inference : {"energy", "proximal"}
        Hidden-activity steps on the energy F of eq. 4 with the output at the proximal
        target (the paper's experiments, Sec. 5 and Fig. 2; the default), or on the
        proximal objective P of Def. 4.1 itself (see the module docstring).
    """

    learning_rate: float = 2.5
    step_size: float = 0.015
    eps: float = 0.25
    inference: str = "energy"

    def _check_params(self) -> None:
        super()._check_params()
        self._require_rate("eps", allow_zero=True)
        self._require_choice("inference", _INFERENCE)

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        # NLMS steps are normalised and alpha only moves the output target between the
        # prediction and the label: no setting diverges
        return None

    def _norms(self, x, hidden) -> list[np.ndarray]:
        """Per-example NLMS norms ``s_n = |f(h_n)|^2 + 1 + eps``, each of shape (batch, 1)."""
        pre = [x] + [_relu(h) for h in hidden]
        return [np.sum(a * a, axis=1, keepdims=True) + 1.0 + self.eps for a in pre]

    def infer(self, x, yoh, ff=None):
        ff = self.forward(x) if ff is None else ff
        hidden = [h.copy() for h in ff[:-1]]
        p1 = ff[0]
        t = errors = None
        for it in range(self.n_iter + 1):
            ps = self._predictions(x, hidden, p1)
            s = self._norms(x, hidden)
            q = self._out(ps[-1])
            t = self.output_target(q, yoh, s[-1])
            errors = [h - p for h, p in zip(hidden, ps[:-1], strict=True)]
            errors.append(t - q)
            if it == self.n_iter:
                break
            if self.inference == "energy":
                hidden = self._energy_step(hidden, errors)
            else:
                hidden = self._proximal_step(hidden, errors, s)
        return hidden, t, errors

    def output_target(self, q: np.ndarray, yoh: np.ndarray, s_top: np.ndarray) -> np.ndarray:
        """Proximal output target ``t = (q + alpha s y) / (1 + alpha s)``, shape ``(batch, n_out)``.

        The minimiser over ``t`` of ``1/2 |y - t|^2 + |t - q|^2 / (2 alpha s)`` (the output
        terms of P, Def. 4.1 / eq. 9), ``s_top`` of shape ``(batch, 1)`` the NLMS norm of the
        last hidden layer (of the input without hidden layers).
        """
        a_s = self.learning_rate * s_top
        return (q + a_s * yoh) / (1.0 + a_s)

    def _proximal_step(self, hidden, errors, s) -> list[np.ndarray]:
        """One step on P (Def. 4.1) along ``alpha s_{n-1} dP/dh_n`` (module docstring)."""
        new = []
        for n, h in enumerate(hidden):
            e_up = errors[n + 1]
            fb = e_up @ self.W[n + 1].T
            s_n = s[n + 1]
            ratio = s[n] / s_n
            decay = np.sum(e_up * e_up, axis=1, keepdims=True) / s_n
            d = errors[n] - ratio * _drelu(h) * (fb + decay * _relu(h))
            new.append(h - self.step_size * d)
        return new

    def proximal_objective(self, x: np.ndarray, yoh: np.ndarray, hidden: list[np.ndarray]) -> float:
        """P(h) of Def. 4.1 (batch-mean) at the given hidden activities, output target optimal."""
        x = np.asarray(x, dtype=self.dtype)
        ps = self._predictions(x, hidden, x @ self.W[0] + self.b[0])
        s = self._norms(x, hidden)
        q = self._out(ps[-1])
        t = self.output_target(q, yoh, s[-1])
        errs = [h - p for h, p in zip(hidden, ps[:-1], strict=True)] + [t - q]
        upd = sum(np.sum(e * e, axis=1, keepdims=True) / sn for e, sn in zip(errs, s, strict=True))
        val = 0.5 * np.sum((yoh - t) ** 2, axis=1, keepdims=True) + upd / (2.0 * self.learning_rate)
        return float(np.mean(val))

    def _update(self, x, hidden, errors) -> None:
        batch = x.shape[0]
        s = self._norms(x, hidden)
        pre = [x] + [_relu(h) for h in hidden]
        for k, (a, e, sn) in enumerate(zip(pre, errors, s, strict=True)):
            self.W[k] += (a / sn).T @ e / batch
            self.b[k] += np.mean(e / sn, axis=0)
