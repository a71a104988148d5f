"""Simulation engines behind one interface (:class:`spikesim.engines.base.Engine`).

Every module of this package registers its engines on import; ``available()`` lists them.
"""

import importlib
import pkgutil

from spikesim.engines.base import Engine, available, get_engine, register

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Engine", "available", "get_engine", "register"]
