"""Backpropagation MLP (``bp``) and the presets of the papers' tables.

- ``bp``: any activation, loss (softmax cross-entropy, squared error, Amit's hinge) and
  optimiser (SGD with optional momentum, Adam).
- ``bp-sgd`` / ``bp-adam``: Alonso et al. (2022)'s baselines BP-SGD and BP-Adam
  (784-2x500-10, ReLU, softmax cross-entropy; their F-MNIST learning rates 0.01 and 5e-5).
- ``bp-hinge``: Amit (2019)'s setting (hinge loss eq. 3, saturated linearity, no biases,
  plain SGD, step 0.07) with exact gradients: URFB/FRFB with ``R = W^T``.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, final

import numpy as np

from spikesim.rate._feedforward import FeedforwardLearner
from spikesim.rate.base import register


class Backprop(FeedforwardLearner):
    """Multilayer perceptron trained by backpropagation (abstract: the registered ``bp``
    and its presets differ only in their defaults).

    The error is carried down by the transposed forward weights (Rumelhart et al. 1986;
    Amit 2019, eq. 6 with ``R_l = W_l^T``): ``dC/dW_l = a_{l-1}^T delta_l``,
    ``delta_{l-1} = (delta_l W_l^T) * sigma'(h_{l-1})``.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes ``[n_in, n_hidden..., n_out]``.
    activation : {"relu", "tanh", "sigmoid", "hard-sigmoid", "saturated", "linear"}
        Hidden non-linearity; ``saturated`` is ``clip(0.5 h, -1, 1)``. The output is linear.
    loss : {"cross-entropy", "squared", "hinge", "sigmoid-bce"}
        Softmax cross-entropy, ``0.5 ||f - t||^2``, Amit's hinge loss (eq. 3), or the binary
        cross-entropy of ``sigmoid(f)`` to ``t`` (summed over outputs); ``t`` is
        ``onehot(y)``, or ``x`` for ``target = "input"``.
    optimizer : {"sgd", "adam"}
    learning_rate : float
        Step size (SGD) or Adam's ``alpha``; gradients are means over the minibatch.
    warmup_steps : int
        Linear warm-up: step ``t`` (1-based) of the first ``warmup_steps`` is scaled by
        ``t / warmup_steps`` (0: none). It guards a deep saturated network against one
        early large step that drives its units where ``sigma' = 0`` and freezes it.
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
    target : {"label", "input"}
        Learn the labels, or reproduce the input (an autoencoder, ``sizes[-1] == sizes[0]``,
        loss ``squared`` or ``sigmoid-bce``; Alonso et al. 2022, Fig. 3).
    architecture : str
        Empty: an MLP of ``sizes``. Otherwise the hidden layers in Amit (2019)'s notation,
        ``;``-separated: ``conv C KxK`` (padded to keep the size), ``uconv C KxK`` (untied:
        the convolution's connectivity with an independent weight per connection, sec. 4.1),
        ``maxpool K`` (stride 2, padded: half the size), ``drop p`` (a fraction ``p`` dropped
        while training), ``full N``; or a name: ``simpnet``, ``deepnet``, ``simpnet-untied``,
        ``deepnet-untied`` (:data:`spikesim.rate._conv.ARCHITECTURES`). ``sizes`` is then
        ``[n_in, n_out]``.
    input_shape : (height, width, channels)
        Shape of one input row with an architecture (rows flattened channels-last).
    tied_steps : int
        Sec. 4.1's protocol: the first ``tied_steps`` steps use step ``tied_learning_rate``
        and train the untied layers tied (as the convolution, all locations equal); 0: the
        untied layers start from an independent draw at every location. With tied layers
        only it is the same step schedule (the matched control of an untied run).
    tied_learning_rate : float
    untied_step_scale : float
        After the tied phase, an untied layer's step is ``untied_step_scale`` times the
        others' (default 1, the paper's protocol). A tied weight's increment is the sum of
        its ``L`` locations' terms (``L`` = output locations of the layer), an untied
        weight's is one location's: at the same step the shared part of the filters moves
        about ``L`` times slower untied. A scale of order ``L`` (or its square root) tests
        whether the untied gap of a short run is that slowness, not the untying itself.
    dtype : {"float32", "float64"}
    seed : int
    """

    @property
    @abc.abstractmethod
    def paper_batch_size(self) -> int:
        """Each preset names its paper's minibatch size (a class attribute)."""

    optimizer: str = "sgd"
    lr_decay: float = 0.0
    momentum: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8

    def _feedback(self):
        return [None] + [np.swapaxes(w, -1, -2) for w in self.W[1:]]


@final
@register("bp")
class BP(Backprop):
    """Backpropagation with any activation, loss and optimiser; defaults: ReLU, softmax
    cross-entropy, plain SGD with learning rate 0.1. Parameters as :class:`Backprop`."""

    paper_batch_size: ClassVar[int] = 20


@final
@register("bp-sgd")
class BPSGD(Backprop):
    """Alonso et al.'s BP-SGD baseline: 784-2x500-10, ReLU, softmax cross-entropy, plain
    SGD with learning rate 0.01 (their F-MNIST setting, batch 1). Parameters as
    :class:`Backprop`."""

    paper_batch_size: ClassVar[int] = 1

    sizes: tuple[int, ...] = (784, 500, 500, 10)
    learning_rate: float = 0.01


@final
@register("bp-adam")
class BPAdam(Backprop):
    """Alonso et al.'s BP-Adam baseline: 784-2x500-10, ReLU, softmax cross-entropy, Adam
    with learning rate 5e-5 (their F-MNIST setting, batch 1). Parameters as
    :class:`Backprop`."""

    paper_batch_size: ClassVar[int] = 1

    sizes: tuple[int, ...] = (784, 500, 500, 10)
    optimizer: str = "adam"
    learning_rate: float = 5e-5

    @classmethod
    def conformance_params(cls) -> dict[str, Any]:
        return {"learning_rate": 0.01}


@final
@register("bp-hinge")
class BPHinge(Backprop):
    """Backprop in Amit (2019)'s setting: hinge loss (eq. 3), saturated linearity
    ``clip(0.5 h, -1, 1)``, no biases, plain SGD with step 0.07 and batch 500 (the authors'
    code). The exact-gradient (``R = W^T``) special case of ``urfb`` / ``frfb``.
    Parameters as :class:`Backprop`."""

    paper_batch_size: ClassVar[int] = 500

    activation: str = "saturated"
    loss: str = "hinge"
    learning_rate: float = 0.07
    bias: bool = False
