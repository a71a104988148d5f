"""Two ceilings of a spiking classification experiment, beside its learning curves.

``spikesim ceilings EXPERIMENT.toml`` (:mod:`spikesim.cli.ceilings`) measures, on the
experiment's own data (the same training and test sets, the bias inputs left out: a
softmax regression has its own intercept):

- the **linear ceiling** (:func:`linear_ceiling`): the test accuracy of a softmax
  (multinomial logistic) regression on the input vectors ``x`` themselves, the intensities
  the encoding turns into spikes. A single layer of output neurons computes, at best, a
  monotone function of such a linear score per class, so this is what the architecture
  allows without hidden layers;
- the **encoding ceiling** (:func:`encoding_ceiling`): the test accuracy of the same
  regression when it sees, instead of ``x``, the input spike counts of *one* trial
  (``counts / (max_rate * duration)``, drawn by the experiment's encoding: Poisson or
  regular), trained on ``draws`` trials per training sample and tested on one trial per
  test sample. This is what any readout that sums one trial's input spikes can reach
  (the test is single-trial, as the spiking network's is): the readout noise of the trial
  encoding;
- for reference, the **target-count ceiling** of the loss's target rates
  (:func:`spikesim.experiments.diagnose.accuracy_ceiling`): how often Poisson counts at
  ``rate_on`` beat the largest of the other classes at ``rate_off`` over one trial.

The regression is scikit-learn's ``LogisticRegression`` (L-BFGS, ``C`` the inverse L2
strength, default 1, on inputs in [0, 1]).
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import ConfigError

__all__ = ["ceilings", "encoding_ceiling", "linear_ceiling"]


def _data(config: dict):
    """(x_train, y_train, x_test, y_test) of a spiking classification config, the data
    inputs only (bias columns dropped)."""
    from spikesim.experiments.kinds.spiking import build

    if config["experiment"]["kind"] != "spiking":
        raise ConfigError(
            f"experiment.kind = {config['experiment']['kind']!r}: the ceilings need a "
            'spiking experiment (kind = "spiking")'
        )
    b = build(config)
    if not b["classification"]:
        raise ConfigError(
            f"task.dataset = {config['task']['dataset']!r} is a regression: the ceilings "
            "are accuracies of a classification task"
        )
    nb = int(config["network"]["bias_inputs"])
    cut = b["x_train"].shape[1] - nb
    return b["x_train"][:, :cut], b["y_train"], b["x_test"][:, :cut], b["y_test"]


def _softmax_regression(x, y, x_test, y_test, C: float, seed: int) -> tuple[float, float]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        # lbfgs stopping at max_iter is reported as what it is: the accuracy reached
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return float(model.score(x, y)), float(model.score(x_test, y_test))


def linear_ceiling(config: dict, *, C: float = 1.0) -> dict:
    """Softmax regression on the input vectors: ``{"train": acc, "test": acc}``."""
    x, y, xt, yt = _data(config)
    tr, te = _softmax_regression(x, y, xt, yt, C, int(config["experiment"]["seed"]))
    return {"train": tr, "test": te}


def encoding_ceiling(config: dict, *, draws: int = 1, C: float = 1.0) -> dict:
    """Softmax regression on one trial's input spike counts: ``{"train", "test"}``.

    Parameters
    ----------
    config : dict
        A resolved spiking config; its ``[encoding]`` (``kind``, ``max_rate``,
        ``duration``) draws the counts.
    draws : int
        Trials per training sample (each a fresh draw); the test uses one per sample.
    C : float
        Inverse L2 strength of the regression.
    """
    from spikesim.encoding import draw

    if draws < 1:
        raise ConfigError(f"draws must be >= 1, got {draws}")
    x, y, xt, yt = _data(config)
    enc = config["encoding"]
    lam = enc["max_rate"] * enc["duration"]
    rng = np.random.default_rng([int(config["experiment"]["seed"]), 17])

    def counts(rows):
        c, _ = draw(enc["kind"], rows * lam, enc["duration"], rng)
        return c / lam

    xs = np.concatenate([counts(x) for _ in range(draws)])
    tr, te = _softmax_regression(
        xs, np.tile(y, draws), counts(xt), yt, C, int(config["experiment"]["seed"])
    )
    return {"train": tr, "test": te, "draws": int(draws)}


def ceilings(config: dict, *, draws: int = 1, C: float = 1.0) -> dict:
    """The three ceilings of the module docstring, with what they were measured on."""
    from spikesim.experiments.diagnose import accuracy_ceiling

    x, _, xt, _ = _data(config)
    lossc, enc = config["loss"], config["encoding"]
    n_cls = int(config["network"]["sizes"][-1])
    pop = int(config["network"]["population"])
    return {
        "experiment": config["experiment"]["name"],
        "dataset": config["task"]["dataset"],
        "n_train": int(x.shape[0]),
        "n_test": int(xt.shape[0]),
        "encoding": {k: enc[k] for k in ("kind", "max_rate", "duration")},
        "C": float(C),
        "linear": linear_ceiling(config, C=C),
        "encoding_ceiling": encoding_ceiling(config, draws=draws, C=C),
        "target_counts": accuracy_ceiling(
            lossc["rate_on"] * pop, lossc["rate_off"] * pop, enc["duration"], n_cls
        ),
    }
