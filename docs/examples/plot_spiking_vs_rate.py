"""
Spiking versus rate learners
============================

The same 400 scikit-learn digits (80/20 split, 100 test images) train a spiking 65-10
network with the reward-modulated STDP rule of Schmidt-Hieber (eq. 4.1) and a rate
64-16-10 network with backpropagation. The x axis counts training examples seen (one
trial is one example for the spiking network). ``spikesim compare`` does the same for
any set of experiment files (see the comparison tutorial). At this small budget the
spiking network is still close to chance while bp has learned the task (the printout
below has the numbers); the spiking rule needs far more trials (see the comparison guide).
"""

import os
import tempfile
from pathlib import Path

from spikesim import plots
from spikesim.experiments import load, run_experiment

os.environ.setdefault("SPIKESIM_NO_PROGRESS", "1")
TASK = """
[task]
dataset = "digits"
n_train = 400
n_test = 100
"""
FILES = {
    "spiking 65-10 (SH rule)": """
[experiment]
kind = "spiking"
"""
    + TASK
    + """
[network]
sizes = [64, 10]
w_exc = 0.1
w_inh = 0.05
[loss]
rate_on = 60.0
rate_off = 20.0
[rule]
learning_rate = 0.03
baseline = "ema"
presentations = 4
[train]
trials = 4000
chunk = 1000
eval_every = 1000
plots = false
""",
    "rate 64-16-10 (bp)": """
[experiment]
kind = "rate"
"""
    + TASK
    + """
[learner]
name = "bp"
sizes = [64, 16, 10]
learning_rate = 0.1
[train]
epochs = 10
batch_size = 20
eval_every = 400
""",
}
curves = {}
with tempfile.TemporaryDirectory() as tmp:
    for k, (label, text) in enumerate(FILES.items()):
        path = Path(tmp) / f"run{k}.toml"
        path.write_text(text)
        res = run_experiment(load(path), Path(tmp) / f"run{k}")
        x = [p["samples_seen"] for p in res["curve"]]
        y = [p["test_accuracy"] for p in res["curve"]]
        curves[label] = (x, y)
        print(f"{label}: test accuracy {y[0]:.2f} -> {y[-1]:.2f} after {x[-1]} examples")
plots.learning_curves(curves, xlabel="training examples seen", chance=0.1, title="digits")
