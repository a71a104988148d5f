"""Simulation engines behind one interface (:class:`spikesim.engines.base.Engine`).

Every module and subpackage of this package (``event``, ``brian2``) registers its engines
on import; ``available()`` lists them. Conformance checks for an engine:
:func:`spikesim.testing.engine.check_engine`.
"""

import importlib
import pkgutil

from spikesim.engines.base import Engine, available, get_engine, register

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Engine", "available", "get_engine", "register"]
