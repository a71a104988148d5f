"""
Training with each plasticity rule
==================================

Every rule registered in :func:`spikesim.plasticity.available_rules` trains the 21-2
excitatory/inhibitory network on the two-class spike-pattern task, from its experiment
file in ``experiments/`` (``spike-pattern-RULE.toml``; SH's is ``spike-pattern.toml``)
with a shorter budget (8,000 trials). The figure shows each rule's test accuracy; a rule
without such a file stops the example.
"""

import os
import tempfile
from pathlib import Path

from spikesim import plots
from spikesim.experiments import load, run_experiment
from spikesim.plasticity import available_rules

os.environ.setdefault("SPIKESIM_NO_PROGRESS", "1")
here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
root = here.parents[1]
FILES = {
    rule: root
    / "experiments"
    / ("spike-pattern.toml" if rule == "sh" else f"spike-pattern-{rule}.toml")
    for rule in available_rules()
}
missing = sorted(rule for rule, path in FILES.items() if not path.exists())
if missing:
    raise SystemExit(f"no example experiment for rule(s) {missing}")

curves = {}
with tempfile.TemporaryDirectory() as tmp:
    for rule in available_rules():
        config = load(
            FILES[rule],
            {"train.trials": 8000, "train.eval_every": 1000, "train.plots": False},
        )
        res = run_experiment(config, Path(tmp) / rule)
        steps = [p["step"] for p in res["curve"]]
        acc = [p["test_accuracy"] for p in res["curve"]]
        curves[rule] = (steps, acc)
        print(f"{rule}: test accuracy {acc[0]:.3f} -> {acc[-1]:.3f}")
plots.learning_curves(
    curves, xlabel="trials", chance=0.5, title="spike-pattern task, 21-2 E/I network"
)
