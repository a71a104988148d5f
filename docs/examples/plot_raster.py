"""
A spike raster for a task
=========================

One scikit-learn digit, encoded as 100 ms Poisson spike trains (200 Hz for a white pixel),
drives a random 64-100-10 spiking network (20% inhibitory neurons) simulated by the exact
event engine. The weights are those of ``spikesim demo``: hidden neurons fire a few tens
of hertz, so the raster is neither silent nor saturated.
"""

import spikesim
from spikesim import data, encoding, plots

ds = data.load("digits", seed=0)
net = spikesim.layered(
    [64, 100, 10], weight_mean=[0.04, 0.06], inhibitory_fraction=0.2, tau_syn=0.01, seed=0
)
inp = encoding.poisson(ds.x_train[0], duration=0.1, max_rate=200.0, neurons=net.inputs, seed=0)
rec = spikesim.simulate(net, inp, 0.1, engine="event")
counts = rec.counts()
print("label", ds.y_train[0], "output spike counts", counts[net.outputs])
print("hidden rate (Hz)", counts[net.layers[1]].mean() / 0.1)
plots.raster(
    rec,
    net.groups(),
    group_names=["input", "hidden", "output"],
    title=f"digit {ds.y_train[0]}: 64-100-10 network, 100 ms",
)
