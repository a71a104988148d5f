"""What limits reward-modulated STDP on a spiking experiment (numbers of the plasticity guide).

``spikesim diagnose EXPERIMENT.toml`` (:mod:`spikesim.cli.diagnose`) prints, at the
experiment's initial weights:

- the expected update direction ``g_e = E[(L - mean L) E_e]`` on a few training samples,
  estimated from ``--trials`` trials per sample, its cosine with the delta-rule direction
  ``-(dL/dr_o) x_i s_e w_e`` (the gradient of a rate model in log-weight space; positive:
  the rule moves the right way), and ``|g_e| / se(g_e)`` (the update's signal-to-noise
  over that many trials; divide by ``sqrt(trials)`` for one trial)
  (:func:`update_alignment`);
- the mean eligibility of excitatory and inhibitory edges;
- the single-trial accuracy ceiling of the targets (Poisson counts of ``rate_on`` vs
  ``rate_off`` over one trial, the true class against the largest of the others)
  (:func:`accuracy_ceiling`);
- ``--capacity``: the test accuracy of a noise-free rate model with the network's sign
  pattern (``relu`` of ``sum_i s_e w_e x_i``, weights trained by gradient descent in
  log-weight space on the same mse targets), i.e. what the sign pattern allows at all
  (:func:`sign_capacity`).

``--checkpoint DIR/checkpoint.npz`` (any network): with the checkpoint's weights, the
single-trial test accuracy against the accuracy of the class with the highest *mean*
count over ``--repeats`` trials (the readout's Poisson noise averaged out), and the mean
counts of the true class and of the largest other class (:func:`readout_noise`).

The update alignment and the capacity need a network without hidden layers
(:func:`single_layer`; output populations allowed); for other networks only the ceiling
applies. The alignment reports the whole-loss update and the class-split one
(``loss.split = "class"``) side by side, at the initial weights or ``--checkpoint``'s.
"""

from __future__ import annotations

import numpy as np

from spikesim.errors import ConfigError

__all__ = [
    "accuracy_ceiling",
    "readout_noise",
    "sign_capacity",
    "single_layer",
    "update_alignment",
]


def single_layer(config: dict) -> bool:
    """Whether the resolved spiking ``config`` has no hidden layer (what
    :func:`update_alignment` needs; :func:`sign_capacity` also needs E/I pairs)."""
    return len(config["network"]["sizes"]) == 2


def update_alignment(
    config: dict,
    *,
    samples: int = 4,
    trials: int = 2000,
    seed: int = 0,
    checkpoint: str | None = None,
) -> list[dict]:
    """The rule's expected update against the delta rule, for the whole loss and split.

    For each of the first ``samples`` training samples, ``trials`` trials at fixed weights
    (the experiment's initial weights, or ``checkpoint``'s) give the eligibilities ``E_e``
    (SH eq. 2.4) and the losses. The rule's update for the whole loss (SH eq. 4.1 with a
    perfect baseline) is ``(L - mean L) E_e``; with the class split (``loss.split =
    "class"``) an edge into an output of class ``m`` uses ``L_m - mean L_m`` instead, where
    ``L_m = sum_{o in m} d_o^2 / n_out`` is class ``m``'s term of the mse (so that
    ``sum_m L_m = L``). The reference direction is the delta rule of a rate model in
    log-weight space, ``-(dL/dr_o) x_i s_e w_e``.

    Returns
    -------
    list of dict
        Per sample: ``cos`` and ``cos_split`` (cosine of the mean update with the delta
        rule, over the edges whose input is active), ``snr`` and ``snr_split`` (median over
        those edges of ``|mean| / standard error`` over the ``trials``; one trial's
        signal-to-noise is this over ``sqrt(trials)``), ``e_exc`` and ``e_inh`` (mean
        eligibility of excitatory / inhibitory edges).

    Raises
    ------
    ConfigError
        If the network has a hidden layer or the loss is not the mse.
    """
    from spikesim.experiments.kinds.spiking import build, make_trainer

    if not single_layer(config):
        raise ConfigError(
            f"the update alignment needs a network without hidden layers, got "
            f"network.sizes = {config['network']['sizes']}"
        )
    if config["loss"]["kind"] != "mse":
        raise ConfigError(
            f"the update alignment needs loss.kind = 'mse', got {config['loss']['kind']!r}"
        )
    b = build(config)
    tr = make_trainer(config, b)
    if checkpoint is not None:
        with np.load(checkpoint) as z:
            tr.w[:] = z["w"]
    net = b["network"]
    rng = np.random.default_rng(seed)
    out = net.outputs
    n_out = out.size
    out_index = np.searchsorted(out, net.post)  # output of each edge's target
    cls_of_edge = out_index // tr.population
    rows = []
    for s in range(samples):
        r = tr.simulate(
            b["x_train"],
            b["t_train"],
            b["y_train"],
            rng=rng,
            samples=np.full(trials, s),
            eligibility=True,
        )
        L, E2, sc = r["losses"], r["traces"], r["spike_counts"]
        d = (sc[:, out] / tr.duration - b["t_train"][s]) / tr.rate_scale
        Lm = (d**2).reshape(trials, -1, tr.population).sum(-1) / n_out  # (trials, classes)
        np.testing.assert_allclose(Lm.sum(1), L, rtol=1e-9, atol=1e-12)
        rate = sc[:, out].mean(0) / tr.duration
        dldr = 2 * (rate - b["t_train"][s]) / tr.rate_scale**2 / n_out
        xin = np.zeros(net.n_neurons)
        xin[net.inputs] = b["x_train"][s]
        ref = -dldr[out_index] * xin[net.pre] * net.sign * tr.w
        m = xin[net.pre] > 0
        row = {}
        for key, sig in (("", L[:, None]), ("_split", Lm[:, cls_of_edge])):
            prod = (sig - sig.mean(0)) * E2
            g = prod.mean(0)
            se = prod.std(0) / np.sqrt(trials) + 1e-300
            nrm = np.linalg.norm(g[m]) * np.linalg.norm(ref[m]) + 1e-300
            row["cos" + key] = float(g[m] @ ref[m] / nrm)
            row["snr" + key] = float(np.median(np.abs(g[m]) / se[m]))
        row["e_exc"] = float(E2[:, net.sign > 0].mean())
        row["e_inh"] = float(E2[:, net.sign < 0].mean())
        rows.append(row)
    return rows


def accuracy_ceiling(rate_on: float, rate_off: float, duration: float, n_classes: int, seed=0):
    """Single-trial accuracy of Poisson counts: true class (``rate_on``) vs the largest of
    the others (``rate_off``); ties split evenly among the tied outputs."""
    rng = np.random.default_rng(seed)
    n = 200_000
    x = rng.poisson(rate_on * duration, n)
    y = rng.poisson(rate_off * duration, (n, n_classes - 1))
    top = y.max(1)
    ties = (y == top[:, None]).sum(1)
    return float(np.mean(x > top) + np.mean(np.where(x == top, 1.0 / (ties + 1), 0.0)))


def sign_capacity(
    config: dict, *, steps: int = 4000, learning_rate: float = 0.4
) -> tuple[float, float]:
    """(train, test) accuracy of the noise-free rate model with the network's effective
    signs (``sign(w_plus - w_minus)`` per pair), trained in log-weight space on the mse.

    Raises
    ------
    ConfigError
        If the network is not a single layer of E/I pairs.
    """
    from spikesim.experiments.kinds.spiking import build

    b = build(config)
    net = b["network"]
    lossc = config["loss"]
    X, Xt = b["x_train"], b["x_test"]
    n_in, n_out = net.inputs.size, net.outputs.size
    if net.n_edges != 2 * n_in * n_out:
        raise ConfigError(
            "the sign capacity needs a single-layer network with E/I pairs "
            "(network.sizes of length 2, network.ei_pairs = true)"
        )
    w_eff = (net.sign * net.weight).reshape(n_out, n_in, 2).sum(-1)
    sign = np.where(w_eff >= 0, 1.0, -1.0)
    mag = np.abs(w_eff) + 1e-3
    T = b["t_train"] / lossc["rate_scale"]
    gain = 1.0 / np.abs(w_eff).mean() / X.sum(1).mean()  # rates of order 1 at the start
    for _ in range(steps):
        z = X @ (sign * mag).T * gain
        g = 2 * (np.maximum(z, 0) - T) * (z > 0) * gain / n_out
        grad_theta = (g.T @ X / len(X)) * sign * mag  # d loss / d log|w|
        mag = mag * np.exp(-learning_rate * grad_theta / (np.abs(grad_theta).max() + 1e-300) * 0.05)

    def acc(A, y):
        return float(np.mean(np.argmax(A @ (sign * mag).T, 1) == y))

    return acc(X, b["y_train"]), acc(Xt, b["y_test"])


def readout_noise(config: dict, checkpoint: str, *, repeats: int = 20, seed: int = 5) -> dict:
    """Single-trial vs mean-count accuracy on the test set at a checkpoint's weights.

    Returns
    -------
    dict
        ``step``, ``single_trial`` (accuracy of single trials, the trainer's decoder),
        ``mean_count`` (argmax of the class counts averaged over ``repeats`` trials),
        ``true_count`` and ``max_other_count`` (mean spikes per trial and class).
    """
    from spikesim.experiments.kinds.spiking import build, make_trainer

    b = build(config)
    tr = make_trainer(config, b)
    with np.load(checkpoint) as z:
        tr.load_state_dict({k: z[k] for k in ("w", "bstate", "step", "ring", "ring_n")})
    x, y = b["x_test"], b["y_test"]
    n = x.shape[0]
    samples = np.repeat(np.arange(n), repeats)
    rng = np.random.default_rng(seed)
    r = tr.simulate(x, b["t_test"], y, rng=rng, samples=samples)
    sc, P = r["spike_counts"], r["preds"]
    m = sc[:, b["network"].outputs].reshape(n, repeats, -1).mean(1)
    m = m.reshape(n, -1, tr.population).sum(-1)
    true = m[np.arange(n), y]
    other = m.copy()
    other[np.arange(n), y] = -np.inf
    return {
        "step": tr.step,
        "single_trial": float(np.mean(P == y[samples])),
        "mean_count": float(np.mean(m.argmax(1) == y)),
        "true_count": float(true.mean()),
        "max_other_count": float(other.max(1).mean()),
    }
