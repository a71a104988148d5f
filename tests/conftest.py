import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("SPIKESIM_NO_PROGRESS", "1")
