"""Rate-based learners behind one interface (see :mod:`spikesim.rate.base`).

Every module of this package is imported here, so defining a final class decorated with
:func:`spikesim.rate.base.register` in a new module is all it takes to add a learner;
:func:`spikesim.testing.rate.check_rate_learner` checks it against the interface.
"""

import importlib
import pkgutil

from spikesim.rate.base import REGISTRY, RateLearner, available, make, register

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["REGISTRY", "RateLearner", "available", "make", "register"]
