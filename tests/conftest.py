import os

import matplotlib
from hypothesis import Phase, settings

matplotlib.use("Agg")
os.environ.setdefault("SPIKESIM_NO_PROGRESS", "1")

# The default test run (and CI) draws the same hypothesis examples every time, so a result
# never depends on luck; SPIKESIM_HYPOTHESIS_EXPLORE=1 draws fresh examples to hunt bugs.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
# For costly engines (a CUDA build per example): report the first failure as drawn, unshrunk
# (``pytest --hypothesis-profile=no-shrink``).
settings.register_profile(
    "no-shrink", derandomize=True, phases=[Phase.explicit, Phase.reuse, Phase.generate]
)
settings.load_profile("explore" if os.environ.get("SPIKESIM_HYPOTHESIS_EXPLORE") else "repeatable")
