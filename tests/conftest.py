import os

import matplotlib
import pytest
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


@pytest.fixture(scope="session", autouse=True)
def brian2_cache(tmp_path_factory):
    """One Brian2 project cache for the whole test run, under pytest's temporary directory
    (never the user's ~/.cache/spikesim): every build of the run is shared by the tests
    that use the default cache, and nothing outlives pytest's own temporary folders.
    Child processes (the code generator, a CLI run in a subprocess) inherit it."""
    path = tmp_path_factory.mktemp("brian2-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPIKESIM_BRIAN2_CACHE", str(path))
        mp.delenv("SPIKESIM_BRIAN2_PROFILE", raising=False)
        yield path
