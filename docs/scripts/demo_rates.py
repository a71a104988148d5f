"""Firing rates of the demo's 64-100-10 network for several weight means.

``PYTHONPATH=. python docs/scripts/demo_rates.py "[[0.08, 0.12], [0.04, 0.06]]"``: for each
``weight_mean`` the mean hidden rate and the output spike counts per 100 ms trial over the
first 20 training digits (trial seed = digit index), as in ``spikesim demo``.
"""

import ast
import sys

import numpy as np

import spikesim
from spikesim import data, encoding


def rates(weight_mean, n=20):
    ds = data.load("digits", seed=0)
    net = spikesim.layered(
        [64, 100, 10],
        weight_mean=weight_mean,
        inhibitory_fraction=0.2,
        tau_syn=0.01,
        threshold=1.0,
        t_ref=0.002,
        seed=0,
    )
    hidden, out = [], []
    for i in range(n):
        inp = encoding.poisson(
            ds.x_train[i], duration=0.1, max_rate=200.0, neurons=net.inputs, seed=i
        )
        c = spikesim.simulate(net, inp, 0.1).counts()
        hidden.append(c[net.layers[1]].mean() / 0.1)
        out.append(c[net.layers[2]])
    out = np.array(out)
    print(
        f"weight_mean {weight_mean}: hidden {np.mean(hidden):.1f} Hz, output spikes per trial "
        f"mean {out.mean():.1f} (min {out.min()}, max {out.max()})"
    )


if __name__ == "__main__":
    for wm in ast.literal_eval(sys.argv[1]):  # a list of [hidden, output] weight means
        rates(wm)
