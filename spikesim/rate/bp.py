"""Backpropagation MLP (``bp``) and the presets of the papers' tables.

- ``bp``: any activation, loss (softmax cross-entropy, squared error, Amit's hinge) and
  optimiser (SGD with optional momentum, Adam).
- ``bp-sgd`` / ``bp-adam``: Alonso et al. (2022)'s baselines BP-SGD and BP-Adam
  (784-2x500-10, ReLU, softmax cross-entropy; their F-MNIST learning rates 0.01 and 5e-5).
- ``bp-hinge``: Amit (2019)'s setting (hinge loss eq. 3, saturated linearity, no biases,
  plain SGD, step 0.07) with exact gradients: URFB/FRFB with ``R = W^T``.
"""

from __future__ import annotations

from typing import ClassVar

from spikesim.rate._feedforward import FeedforwardLearner
from spikesim.rate.base import register


@register("bp")
class BP(FeedforwardLearner):
    """Multilayer perceptron trained by backpropagation.

    The error is carried down by the transposed forward weights (Rumelhart et al. 1986;
    Amit 2019, eq. 6 with ``R_l = W_l^T``): ``dC/dW_l = a_{l-1}^T delta_l``,
    ``delta_{l-1} = (delta_l W_l^T) * sigma'(h_{l-1})``.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``[n_in, n_hidden..., n_out]``.
    activation : {"relu", "tanh", "sigmoid", "hard-sigmoid", "saturated", "linear"}
        Hidden non-linearity; ``saturated`` is ``clip(0.5 h, -1, 1)``. The output is linear.
    loss : {"cross-entropy", "squared", "hinge"}
        Softmax cross-entropy, ``0.5 ||f - onehot(y)||^2``, or Amit's hinge loss (eq. 3).
    optimizer : {"sgd", "adam"}
    learning_rate : float
        Step size (SGD) or Adam's ``alpha``; gradients are means over the minibatch.
    lr_decay : float
        Inverse-time decay: step ``t`` (1-based) uses ``learning_rate / (1 + lr_decay (t-1))``.
    momentum : float
        SGD momentum in [0, 1) (0: plain SGD).
    beta1, beta2, adam_eps : float
        Adam's moment decay rates and epsilon (Kingma & Ba 2015).
    bias : bool
        Learn a bias per unit.
    mu : float
        The hinge loss's weight of the wrong classes.
    sparsity : float
        Fraction of every weight matrix fixed at zero (a random mask drawn from ``seed``).
    dtype : {"float32", "float64"}
    seed : int
    """

    def __init__(
        self,
        sizes=(784, 500, 10),
        activation: str = "relu",
        loss: str = "cross-entropy",
        optimizer: str = "sgd",
        learning_rate: float = 0.1,
        lr_decay: float = 0.0,
        momentum: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        adam_eps: float = 1e-8,
        bias: bool = True,
        mu: float = 1.0,
        sparsity: float = 0.0,
        dtype: str = "float32",
        seed: int = 0,
    ):
        self._store(
            sizes=sizes,
            activation=activation,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            lr_decay=lr_decay,
            momentum=momentum,
            beta1=beta1,
            beta2=beta2,
            adam_eps=adam_eps,
            bias=bias,
            mu=mu,
            sparsity=sparsity,
            dtype=dtype,
            seed=seed,
        )

    def _feedback(self):
        return [None] + [w.T for w in self.W[1:]]


@register("bp-sgd")
class BPSGD(BP):
    """Alonso et al.'s BP-SGD baseline: 784-2x500-10, ReLU, softmax cross-entropy, plain
    SGD with learning rate 0.01 (their F-MNIST setting, batch 1). Parameters as :class:`BP`."""

    paper_batch_size: ClassVar[int] = 1

    def __init__(
        self,
        sizes=(784, 500, 500, 10),
        activation: str = "relu",
        loss: str = "cross-entropy",
        optimizer: str = "sgd",
        learning_rate: float = 0.01,
        lr_decay: float = 0.0,
        momentum: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        adam_eps: float = 1e-8,
        bias: bool = True,
        mu: float = 1.0,
        sparsity: float = 0.0,
        dtype: str = "float32",
        seed: int = 0,
    ):
        super().__init__(
            sizes=sizes,
            activation=activation,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            lr_decay=lr_decay,
            momentum=momentum,
            beta1=beta1,
            beta2=beta2,
            adam_eps=adam_eps,
            bias=bias,
            mu=mu,
            sparsity=sparsity,
            dtype=dtype,
            seed=seed,
        )


@register("bp-adam")
class BPAdam(BP):
    """Alonso et al.'s BP-Adam baseline: 784-2x500-10, ReLU, softmax cross-entropy, Adam
    with learning rate 5e-5 (their F-MNIST setting, batch 1). Parameters as :class:`BP`."""

    paper_batch_size: ClassVar[int] = 1

    def __init__(
        self,
        sizes=(784, 500, 500, 10),
        activation: str = "relu",
        loss: str = "cross-entropy",
        optimizer: str = "adam",
        learning_rate: float = 5e-5,
        lr_decay: float = 0.0,
        momentum: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        adam_eps: float = 1e-8,
        bias: bool = True,
        mu: float = 1.0,
        sparsity: float = 0.0,
        dtype: str = "float32",
        seed: int = 0,
    ):
        super().__init__(
            sizes=sizes,
            activation=activation,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            lr_decay=lr_decay,
            momentum=momentum,
            beta1=beta1,
            beta2=beta2,
            adam_eps=adam_eps,
            bias=bias,
            mu=mu,
            sparsity=sparsity,
            dtype=dtype,
            seed=seed,
        )

    @classmethod
    def conformance_params(cls):
        return {"learning_rate": 0.01}


@register("bp-hinge")
class BPHinge(BP):
    """Backprop in Amit (2019)'s setting: hinge loss (eq. 3), saturated linearity
    ``clip(0.5 h, -1, 1)``, no biases, plain SGD with step 0.07 and batch 500 (the authors'
    code). The exact-gradient (``R = W^T``) special case of ``urfb`` / ``frfb``.
    Parameters as :class:`BP`."""

    paper_batch_size: ClassVar[int] = 500

    def __init__(
        self,
        sizes=(784, 500, 10),
        activation: str = "saturated",
        loss: str = "hinge",
        optimizer: str = "sgd",
        learning_rate: float = 0.07,
        lr_decay: float = 0.0,
        momentum: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        adam_eps: float = 1e-8,
        bias: bool = False,
        mu: float = 1.0,
        sparsity: float = 0.0,
        dtype: str = "float32",
        seed: int = 0,
    ):
        super().__init__(
            sizes=sizes,
            activation=activation,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            lr_decay=lr_decay,
            momentum=momentum,
            beta1=beta1,
            beta2=beta2,
            adam_eps=adam_eps,
            bias=bias,
            mu=mu,
            sparsity=sparsity,
            dtype=dtype,
            seed=seed,
        )
