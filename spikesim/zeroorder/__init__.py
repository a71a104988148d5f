"""Zero-order learning dynamics of Schmidt-Hieber and Christensen-Kallsen, and their theory.

* :mod:`~spikesim.zeroorder.core`: the update (SH eq. 4.5) and its constants, pure;
* :mod:`~spikesim.zeroorder.losses`: vectorised smooth losses with gradients;
* :mod:`~spikesim.zeroorder.baselines`: previous / EMA / per-sample / zero baselines;
* :mod:`~spikesim.zeroorder.dynamics`: :class:`ZeroOrder` (SH and CK) and :class:`SGD`;
* :mod:`~spikesim.zeroorder.flow`: the limiting gradient flow (CK eq. 3.5);
* :mod:`~spikesim.zeroorder.mlp`: the signed-weight MLP on scikit-learn digits;
* :mod:`~spikesim.zeroorder.checks`: Monte Carlo checks of SH Theorem 1, CK Theorem 1 and
  of the estimator variance (behind ``spikesim theory``).
"""

from spikesim.zeroorder.core import (
    ck_amplitude,
    drift_constant,
    flow_rate,
    normaliser,
    perturbation_factor,
    stdp_window,
    zero_order_step,
)
from spikesim.zeroorder.dynamics import SGD, Trajectory, ZeroOrder
from spikesim.zeroorder.flow import gradient_flow
from spikesim.zeroorder.losses import LeastSquares, Loss, Quadratic, TanhNet, pointwise

__all__ = [
    "SGD",
    "LeastSquares",
    "Loss",
    "Quadratic",
    "TanhNet",
    "Trajectory",
    "ZeroOrder",
    "ck_amplitude",
    "drift_constant",
    "flow_rate",
    "gradient_flow",
    "normaliser",
    "perturbation_factor",
    "pointwise",
    "stdp_window",
    "zero_order_step",
]
