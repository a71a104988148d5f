"""Updated and fixed random feedback (``urfb``, ``frfb``): Amit (2019), sec. 2.

The error is carried down through separate feedback matrices ``R_l`` (shape
``(n_l, n_{l-1})`` in the paper's indexing; here ``R{k}`` of shape ``(n_{k+1}, n_k)``),
initialised Glorot-uniform independently of the forward weights (eq. 6):

    dC/dW_l = a_{l-1}^T delta_l,        delta_{l-1} = (delta_l R_l) * sigma'(h_{l-1}).

URFB gives ``R_l`` the same increment as ``W_l`` (eq. 7: ``Delta R_{l,ji} =
Delta W_{l,ij}``); FRFB keeps ``R`` fixed (Lillicrap et al. 2016). With 50% sparsity a fixed
random half of every ``W`` and, independently, of every ``R`` is held at zero. With
``R = W^T`` URFB is exactly backprop (``bp-hinge``).
"""

from __future__ import annotations

import abc
from typing import ClassVar, final

import numpy as np

from spikesim.rate._feedforward import FeedforwardLearner
from spikesim.rate.base import register


class RandomFeedback(FeedforwardLearner):
    """Shared implementation of URFB and FRFB (abstract); ``update_feedback`` picks one.

    Parameters
    ----------
    sizes, seed, dtype
        As :class:`~spikesim.rate.base.RateLearner` (``seed`` draws ``W``, ``R`` and masks).
    activation : str
        Hidden non-linearity (default Amit's saturated linearity ``clip(0.5 h, -1, 1)``).
    loss : {"hinge", "cross-entropy", "squared"}
        Default Amit's hinge loss (eq. 3).
    learning_rate : float
        Plain SGD step (default 0.07, the authors' code); gradients are batch means.
    warmup_steps : int
        Linear warm-up of the step over the first steps, as :class:`spikesim.rate.bp.Backprop`.
    bias : bool
        Learn biases (default False, as in the paper).
    mu : float
        The hinge loss's weight of the wrong classes.
    sparsity : float
        Fraction of every ``W`` and every ``R`` fixed at zero (independent masks).
    architecture, input_shape, tied_steps, tied_learning_rate, untied_step_scale
        Convolutional layers (Amit 2019, sec. 4 and 4.1), as :class:`spikesim.rate.bp.Backprop`;
        a convolution's ``R`` has shape ``(c_out, kh kw c_in)`` (per location for an untied
        layer) and gets ``W``'s increment (URFB) or stays fixed (FRFB).
    """

    paper_batch_size: ClassVar[int] = 500

    @property
    @abc.abstractmethod
    def update_feedback(self) -> bool:
        """URFB (True: ``R`` gets the increments of ``W``) or FRFB (False: ``R`` fixed);
        a class attribute of the final classes."""

    activation: str = "saturated"
    loss: str = "hinge"
    learning_rate: float = 0.07
    bias: bool = False

    def _init_extra(self, rng: np.random.Generator) -> None:
        # R{k} carries the error from layer k+1 to layer k; R0 would reach the input: unused.
        n = len(self.W)
        self.R = [None] + [self._draw_weight(rng, k, transpose=True) for k in range(1, n)]
        if self.sparsity > 0:
            self.mask_R = [None] + [self._draw_mask(rng, k, transpose=True) for k in range(1, n)]
            for r, m in zip(self.R[1:], self.mask_R[1:], strict=True):
                r *= m
        else:
            self.mask_R = None

    def _extra_state(self) -> dict[str, np.ndarray]:
        out = {f"R{k}": self.R[k].copy() for k in range(1, len(self.R))}
        if self.mask_R is not None:
            out.update({f"mask.R{k}": self.mask_R[k].copy() for k in range(1, len(self.R))})
        return out

    def _extra_parameters(self) -> list[np.ndarray]:
        return self.R[1:]

    def _assign_extra(self, state: dict[str, np.ndarray]) -> None:
        for k in range(1, len(self.R)):
            self.R[k][...] = state[f"R{k}"]
            if self.mask_R is not None:
                self.mask_R[k][...] = state[f"mask.R{k}"]

    def _feedback(self):
        return self.R

    def _feedback_step(self, grad_w: list[np.ndarray], lr: float) -> None:
        """URFB, eq. 7: ``R_k <- R_k - lr * (dC/dW_k)^T``, the Hebbian increment of the
        same pair of units (masked by ``R``'s own mask; per location for an untied layer,
        tied in its tied phase); FRFB: nothing."""
        if not self.update_feedback:
            return
        lr = np.dtype(self.dtype).type(lr)
        for k in range(1, len(self.R)):
            inc = np.swapaxes(grad_w[k], -1, -2) * lr
            if self.mask_R is not None:
                inc *= self.mask_R[k]
            self.R[k] -= inc


@final
@register("urfb")
class URFB(RandomFeedback):
    """Updated random feedback (Amit 2019, eq. 7): ``R`` gets the same increment as ``W``.
    Parameters as :class:`RandomFeedback`."""

    update_feedback: ClassVar[bool] = True


@final
@register("frfb")
class FRFB(RandomFeedback):
    """Fixed random feedback (Lillicrap et al. 2016; Amit 2019's FRFB): ``R`` never
    changes. Parameters as :class:`RandomFeedback`."""

    update_feedback: ClassVar[bool] = False
