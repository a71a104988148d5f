"""Stateful shell shared by the feedforward learners: parameters, masks, optimiser state.

:class:`FeedforwardLearner` holds an MLP's weights ``W_k`` (shape ``(n_k, n_{k+1})``),
optional biases, optional fixed sparsity masks and the optimiser's buffers; subclasses say
which matrices carry the error backwards (:meth:`FeedforwardLearner._feedback`) and may
update the feedback after each step (:meth:`FeedforwardLearner._feedback_step`). The numerics
live in :mod:`spikesim.rate._mlp`.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from spikesim.errors import ValidationError
from spikesim.rate import _conv, _mlp
from spikesim.rate.base import RateLearner, _is_int


class FeedforwardLearner(RateLearner):
    """An MLP trained by an error signal carried down through feedback matrices (abstract).

    Hyperparameters common to the feedforward learners (see :class:`spikesim.rate.bp.BP`
    for their meaning). The optimiser settings are plain class attributes here (plain SGD,
    no decay): a subclass that lets users choose them declares them as hyperparameters.
    Subclasses say which matrices carry the error down (:meth:`_feedback`).
    """

    counts_flops: ClassVar[bool] = True
    reconstructs: ClassVar[bool] = True
    #: the layer records of ``architecture`` (set by :meth:`initialize`; None: an MLP)
    _plan: ClassVar[tuple | None] = None

    activation: str = "relu"
    loss: str = "cross-entropy"
    learning_rate: float = 0.1
    warmup_steps: int = 0
    bias: bool = True
    mu: float = 1.0
    sparsity: float = 0.0
    target: str = "label"
    architecture: str = ""
    input_shape: tuple[int, ...] = (28, 28, 1)
    tied_steps: int = 0
    tied_learning_rate: float = 0.01
    untied_step_scale: float = 1.0

    # fixed unless a subclass declares them as hyperparameters
    optimizer = "sgd"
    lr_decay = 0.0
    momentum = 0.0
    beta1 = 0.9
    beta2 = 0.999
    adam_eps = 1e-8

    # -- hyperparameter checks (at initialize: the constructor only stores) ---------------
    def _check_params(self) -> None:
        self._require_choice("activation", _mlp.ACTIVATIONS)
        self._require_choice("loss", _mlp.LOSSES)
        self._require_choice("optimizer", _mlp.OPTIMIZERS)
        self._require_rate("learning_rate")
        self._require_rate("lr_decay", allow_zero=True)
        self._require_count("warmup_steps", 0)
        self._require(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        self._require(0 <= self.beta1 < 1, "beta1", "must be in [0, 1)")
        self._require(0 <= self.beta2 < 1, "beta2", "must be in [0, 1)")
        self._require(self.adam_eps > 0, "adam_eps", "must be positive")
        self._require(self.mu >= 0, "mu", "must be >= 0")
        self._require(0 <= self.sparsity < 1, "sparsity", "must be in [0, 1)")
        self._check_target()
        if self.target == "input":
            self._require(
                self.loss in _mlp.TARGET_LOSSES,
                "loss",
                f"takes no dense target: target = 'input' needs one of "
                f"{', '.join(_mlp.TARGET_LOSSES)}",
            )
        self._require(isinstance(self.architecture, str), "architecture", "must be a string")
        self._require_count("tied_steps", 0)
        self._require_rate("tied_learning_rate")
        self._require_rate("untied_step_scale")
        self._build_plan()

    def _build_plan(self):
        """The layer records of ``architecture`` (None: a plain MLP from ``sizes``); raises
        a ValidationError naming the hyperparameter."""
        if not self.architecture.strip():
            self._require(self.tied_steps == 0, "tied_steps", "needs an architecture")
            self._require(
                self.untied_step_scale == 1.0, "untied_step_scale", "needs an architecture"
            )
            return None
        shape = self.input_shape
        ok = isinstance(shape, list | tuple) and len(shape) == 3 and all(map(_is_int, shape))
        self._require(ok and min(shape) >= 1, "input_shape", "must be (height, width, channels)")
        self._require(
            len(self.sizes) == 2,
            "sizes",
            "must be [n_in, n_out] with an architecture (its full layers are in architecture)",
        )
        self._require(
            int(np.prod(shape)) == self.sizes[0],
            "input_shape",
            f"has {int(np.prod(shape))} values (height x width x channels) but sizes[0] "
            f"= {self.sizes[0]} inputs",
        )
        try:
            plan = _conv.build_plan(self.architecture, tuple(shape), self.sizes[-1])
        except ValidationError as exc:
            raise ValidationError(
                f"{self.name}: architecture = {self.architecture!r}: {exc}"
            ) from None
        return plan

    # -- state -----------------------------------------------------------------------------
    def _initialize(self, rng: np.random.Generator) -> None:
        """Glorot-uniform weights, zero biases, masks and feedback drawn from ``rng``.

        Draw order (so learners sharing a seed share their forward weights): every ``W``,
        then the masks of ``W``, then what subclasses add (:meth:`_init_extra`).
        """
        dt = np.dtype(self.dtype)
        self._plan = self._build_plan()
        if self._plan is None:
            pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
            self.W = [_mlp.glorot_uniform(rng, a, b, dt) for a, b in pairs]
            self.b = [np.zeros(b, dt) for _, b in pairs] if self.bias else None
        else:
            layers = _conv.weighted(self._plan)
            self.W = [self._draw_weight(rng, k, transpose=False) for k in range(len(layers))]
            self.b = [np.zeros(_conv.bias_shape(la), dt) for la in layers] if self.bias else None
        if self.sparsity > 0:
            self.mask_W = [self._draw_mask(rng, k, transpose=False) for k in range(len(self.W))]
            for w, m in zip(self.W, self.mask_W, strict=True):
                w *= m
        else:
            self.mask_W = None
        self._init_extra(rng)
        self._init_optimizer()

    def _init_extra(self, rng: np.random.Generator) -> None:
        """Subclasses allocate their own state here (e.g. feedback matrices)."""

    def _layer(self, k: int):
        """The record of the ``k``-th layer with weights (None for a plain MLP)."""
        return None if self._plan is None else _conv.weighted(self._plan)[k]

    def _draw_weight(self, rng: np.random.Generator, k: int, *, transpose: bool) -> np.ndarray:
        """Glorot-uniform ``W{k}`` (``transpose``: its feedback matrix ``R{k}``). An untied
        layer starts as its tied convolution when ``tied_steps > 0`` (sec. 4.1), else with
        an independent draw at every location."""
        dt = np.dtype(self.dtype)
        layer = self._layer(k)
        if layer is None:
            n_in, n_out = self.sizes[k], self.sizes[k + 1]
            if transpose:
                return _mlp.glorot_uniform(rng, n_out, n_in, dt)
            return _mlp.glorot_uniform(rng, n_in, n_out, dt)
        independent = self.tied_steps == 0
        return _conv.init_weight(rng, layer, dt, transpose=transpose, independent=independent)

    def _draw_mask(self, rng: np.random.Generator, k: int, *, transpose: bool) -> np.ndarray:
        """Fixed random sparsity mask of ``W{k}`` (``transpose``: of ``R{k}``)."""
        dt = np.dtype(self.dtype)
        layer = self._layer(k)
        if layer is None:
            n_in, n_out = self.sizes[k], self.sizes[k + 1]
            shape = (n_out, n_in) if transpose else (n_in, n_out)
            return _mlp.random_mask(rng, shape, self.sparsity, dt)
        return _conv.init_mask(rng, layer, self.sparsity, dt, transpose=transpose)

    def _in_tied_phase(self) -> bool:
        """Sec. 4.1: the first ``tied_steps`` steps train the untied layers tied."""
        return self.t < self.tied_steps

    def _params(self) -> list[np.ndarray]:
        return self.W + (self.b if self.b is not None else [])

    def _init_optimizer(self) -> None:
        params = self._params()
        self.t = 0
        self.opt_m = [np.zeros_like(p) for p in params]
        self.opt_v = [np.zeros_like(p) for p in params] if self.optimizer == "adam" else []

    def _keys(self) -> list[str]:
        n = len(self.W)
        return [f"W{k}" for k in range(n)] + ([f"b{k}" for k in range(n)] if self.bias else [])

    def state_dict(self) -> dict[str, np.ndarray]:
        """Weights ``W{k}`` (n_k, n_{k+1}), biases ``b{k}``, masks ``mask.W{k}``, the
        optimiser's buffers ``opt.m.*`` / ``opt.v.*`` and step count ``opt.t``, plus what
        subclasses add (feedback matrices ``R{k}``)."""
        if not self._initialized:
            self.initialize()
        keys = self._keys()
        out = {k: p.copy() for k, p in zip(keys, self._params(), strict=True)}
        if self.mask_W is not None:
            out.update({f"mask.W{k}": m.copy() for k, m in enumerate(self.mask_W)})
        if self.optimizer == "sgd" and self.momentum:
            out.update({f"opt.m.{k}": m.copy() for k, m in zip(keys, self.opt_m, strict=True)})
        if self.optimizer == "adam":
            out.update({f"opt.m.{k}": m.copy() for k, m in zip(keys, self.opt_m, strict=True)})
            out.update({f"opt.v.{k}": v.copy() for k, v in zip(keys, self.opt_v, strict=True)})
        out["opt.t"] = np.array(self.t, dtype=np.int64)
        out.update(self._extra_state())
        return out

    def _extra_state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a :meth:`state_dict` (shapes and keys checked; the arrays are copied)."""
        self.initialize()  # allocates every array with the right shape and dtype
        self._check_state(state, {k: v.shape for k, v in self.state_dict().items()})
        self._assign(state)

    def _assign(self, state: dict[str, np.ndarray]) -> None:
        dt = np.dtype(self.dtype)
        for k, p in zip(self._keys(), self._params(), strict=True):
            p[...] = np.asarray(state[k], dt)
        if self.mask_W is not None:
            for k, m in enumerate(self.mask_W):
                m[...] = state[f"mask.W{k}"]
        for prefix, bufs in (("opt.m.", self.opt_m), ("opt.v.", self.opt_v)):
            for k, buf in zip(self._keys(), bufs, strict=False):
                if prefix + k in state:
                    buf[...] = state[prefix + k]
        self.t = int(state["opt.t"])
        self._assign_extra(state)

    def _assign_extra(self, state: dict[str, np.ndarray]) -> None:
        pass

    def n_parameters(self) -> int:
        """Trainable feedforward weights and biases (masked-out weights excluded)."""
        if not self._initialized:
            self.initialize()
        if self._plan is not None:
            n_w = 0
            for k, layer in enumerate(_conv.weighted(self._plan)):
                if self.mask_W is None:
                    n_w += _conv.n_connections(layer)
                elif isinstance(layer, _conv.Conv) and layer.untied:
                    conn = _conv.untied_mask(layer, self.mask_W[k].dtype, transpose=False)
                    n_w += int((self.mask_W[k] * conn).sum())
                else:
                    n_w += int(self.mask_W[k].sum())
        elif self.mask_W:
            n_w = sum(int(m.sum()) for m in self.mask_W)
        else:
            n_w = sum(w.size for w in self.W)
        return n_w + (sum(b.size for b in self.b) if self.b is not None else 0)

    # -- computation ----------------------------------------------------------------------
    @abc.abstractmethod
    def _feedback(self) -> list[np.ndarray | None]:
        """The matrices carrying the error from layer k+1 down to layer k (index 0 unused)."""

    def _parameters(self) -> list[np.ndarray]:
        return self._params() + self._extra_parameters()

    def _extra_parameters(self) -> list[np.ndarray]:
        """Trainable arrays beyond the weights and biases (feedback matrices)."""
        return []

    def _lr(self) -> float:
        """Learning rate of the current step ``self.t`` (1-based): a linear warm-up over
        the first ``warmup_steps`` steps, ``learning_rate min(1, t / warmup_steps)``, times
        the inverse-time decay ``1 / (1 + lr_decay (t - 1))``."""
        lr = self.learning_rate / (1.0 + self.lr_decay * (self.t - 1))
        if self.warmup_steps > 0 and self.t < self.warmup_steps:
            lr *= self.t / self.warmup_steps
        return lr

    def _feedback_step(self, grad_w: list[np.ndarray], lr: float) -> None:
        """Update the feedback matrices from the (unmasked) weight gradients ``grad_w``
        with step ``lr`` (called after the error has been carried down, before the weights
        move)."""

    #: examples per forward pass when predicting with a convolutional plan (memory bound)
    predict_chunk: ClassVar[int] = 500

    def _predict_scores(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if self._plan is None:
            acts, _ = _mlp.forward(x, self.W, self.b, self.activation)
            return acts[-1]
        out = [
            _conv.forward(
                x[i : i + self.predict_chunk], self._plan, self.W, self.b, self.activation, None
            )[0]
            for i in range(0, x.shape[0], self.predict_chunk)
        ]
        return np.concatenate(out) if out else np.zeros((0, self.sizes[-1]), self.dtype)

    def _loss_and_grad(self, scores, x, y):
        """The minibatch loss and its gradient in the scores: the labels' loss, or with
        ``target = "input"`` the reconstruction of ``x``."""
        if self.target == "input":
            return _mlp.target_loss_and_grad(self.loss, scores, x)
        return _mlp.loss_and_grad(self.loss, scores, y, self.mu)

    def _gradients(self, x: np.ndarray, y: np.ndarray):
        """``(loss, grad_w, grad_b)`` of a minibatch (unmasked increments; an untied layer's
        tied in its tied phase)."""
        if self._plan is None:
            acts, fields = _mlp.forward(x, self.W, self.b, self.activation)
            loss, g = self._loss_and_grad(acts[-1], x, y)
            grad_w, grad_b = _mlp.backward(g, acts, fields, self._feedback(), self.activation)
            return loss, grad_w, grad_b
        # dropout masks from (seed, step): a resumed run draws the same masks
        rng = np.random.default_rng([self.seed, self.t, 0x5EED])
        scores, caches = _conv.forward(x, self._plan, self.W, self.b, self.activation, rng)
        loss, g = self._loss_and_grad(scores, x, y)
        fb = self._feedback()
        grad_w, grad_b = _conv.backward(g, self._plan, caches, fb, self.activation)
        if self._in_tied_phase():
            dt = np.dtype(self.dtype)
            for k, layer in enumerate(_conv.weighted(self._plan)):
                if isinstance(layer, _conv.Conv) and layer.untied:
                    grad_w[k] = _conv.tie_gradient(grad_w[k], layer, dt)
                    if grad_b[k] is not None:
                        grad_b[k] = np.broadcast_to(grad_b[k].sum(axis=0), grad_b[k].shape).copy()
        return loss, grad_w, grad_b

    def _scale_untied(self, grad_w: list[np.ndarray], grad_b: list) -> None:
        """Multiply the untied layers' increments by ``untied_step_scale`` in place (their
        feedback matrices get the scaled increment too, as URFB's eq. 7 pairs them)."""
        scale = np.dtype(self.dtype).type(self.untied_step_scale)
        for k, layer in enumerate(_conv.weighted(self._plan)):
            if isinstance(layer, _conv.Conv) and layer.untied:
                grad_w[k] = grad_w[k] * scale
                if grad_b[k] is not None:
                    grad_b[k] = grad_b[k] * scale

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        scores = self.predict_scores(x)
        return _mlp.sigmoid(scores) if self.loss == "sigmoid-bce" else scores

    def reconstruction_loss(self, x: np.ndarray) -> float:
        x = np.asarray(self._check_x(x), dtype=self.dtype)
        loss, _ = _mlp.target_loss_and_grad(self.loss, self.predict_scores(x), x)
        return loss / self.sizes[-1]

    def _fit_batch(self, x: np.ndarray, y: np.ndarray, index) -> float:
        x = np.asarray(x, dtype=self.dtype)
        loss, grad_w, grad_b = self._gradients(x, y)
        tied_phase = self._plan is not None and self._in_tied_phase()
        self.t += 1
        lr = self.tied_learning_rate if tied_phase else self._lr()
        if self._plan is not None and not tied_phase and self.untied_step_scale != 1.0:
            self._scale_untied(grad_w, grad_b)
        self._feedback_step(grad_w, lr)
        if self.mask_W is not None:
            for gw, m in zip(grad_w, self.mask_W, strict=True):
                gw *= m
        grads = grad_w + (grad_b if self.b is not None else [])
        if self.optimizer == "adam":
            _mlp.adam_step(
                self._params(),
                grads,
                self.opt_m,
                self.opt_v,
                self.t,
                lr,
                self.beta1,
                self.beta2,
                self.adam_eps,
            )
        else:
            _mlp.sgd_step(self._params(), grads, self.opt_m, lr, self.momentum)
        return loss

    def flops_per_sample(self, batch: int) -> float:
        """Matrix products per sample: forward ``x W`` (2 n_k n_{k+1} per layer), weight
        gradient ``a^T delta`` (the same), error propagation ``delta R`` (every layer but
        the first). Independent of ``batch``."""
        if self._plan is not None:
            per_layer = _conv.forward_flops(self._plan)
            return float(3 * sum(per_layer) - per_layer[0])
        fwd = _mlp.matmul_flops(self.sizes)
        first = 2 * self.sizes[0] * self.sizes[1]
        return float(3 * fwd - first)

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        return {"learning_rate": 0.05}

    @classmethod
    def divergent_params(cls) -> dict[str, Any] | None:
        return {"learning_rate": 1e30}
