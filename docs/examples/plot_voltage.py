"""
Voltage traces
==============

The exact potentials of two hidden neurons and one output neuron on a 0.05 ms grid, in
the model's units (weight units, see :doc:`/model`). The threshold is raised to S = 2 to
show that the dashed line sits at the network's threshold whatever its value; triangles
mark the spikes, after each of which the potential resets to 0. Weights and threshold are
both twice those of ``spikesim demo`` (see the raster example), so the spike times are
the demo's: only the units of the y axis change.
"""

import numpy as np

import spikesim
from spikesim import data, encoding, plots

ds = data.load("digits", seed=0)
net = spikesim.layered(
    [64, 100, 10],
    weight_mean=[0.08, 0.12],
    inhibitory_fraction=0.2,
    tau_syn=0.01,
    threshold=2.0,
    seed=0,
)
inp = encoding.poisson(ds.x_train[0], duration=0.1, max_rate=200.0, neurons=net.inputs, seed=0)
watch = [int(net.layers[1][0]), int(net.layers[1][1]), int(net.outputs[0])]
rec = spikesim.simulate(
    net, inp, 0.1, voltage_neurons=watch, voltage_times=np.arange(0.0, 0.1, 5e-5)
)
print("spikes of the watched neurons", [rec.spikes_of(j).size for j in watch])
plots.voltage(
    rec,
    net.threshold,
    groups=net.groups(),
    group_names=["input", "hidden", "output"],
    title="threshold S = 2",
)
