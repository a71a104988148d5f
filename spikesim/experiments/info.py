"""What this installation has: version, engines, rules, learners, kinds, datasets, settings.

The data behind ``spikesim info``; the command only prints it.
"""

from __future__ import annotations

import os
from typing import Any

#: Environment variables spikesim reads and what each does (listed in ``spikesim --help``).
ENVIRONMENT = {
    "SPIKESIM_DATA": "folder holding the datasets (an error if the dataset is not there)",
    "SPIKESIM_NO_PROGRESS": "1 turns progress bars off (also --quiet)",
    "SPIKESIM_DEBUG": "set: an unexpected error prints its traceback",
    "SPIKESIM_MEMORY_LIMIT": "bytes a network may take (default: a fraction of available memory)",
    "SPIKESIM_CACHE": "cache folder (default ~/.cache/spikesim)",
    "SPIKESIM_BRIAN2_CACHE": "Brian2 standalone build cache (default SPIKESIM_CACHE/brian2)",
    "SPIKESIM_BRIAN2_CACHE_MAX": "Brian2 builds kept in the cache (default 16)",
    "SPIKESIM_BRIAN2_PROFILE": "1 turns on Brian2's per-code-object timers",
}


def engines() -> dict[str, dict[str, Any]]:
    """``{engine name: {"available": bool, "reason": str}}`` from each engine's
    :meth:`~spikesim.engines.Engine.availability`."""
    from spikesim.engines import available, get_engine

    out = {}
    for name in available():
        ok, reason = type(get_engine(name)).availability()
        out[name] = {"available": bool(ok), "reason": reason}
    return out


def datasets() -> dict[str, dict[str, Any]]:
    """``{dataset name: {"found": bool, "where": str}}``; ``where`` is the folder holding
    the files, "built in" for generated or bundled data, or the folders searched."""
    from spikesim import data
    from spikesim.data.images import FILES, candidate_dirs, locate

    idx_sets = {"fashion-mnist", "mnist"}
    out = {}
    for name in data.available():
        if name not in idx_sets:
            out[name] = {"found": True, "where": "built in"}
            continue
        found = locate(name)
        if found is not None:
            out[name] = {"found": True, "where": str(found["x_train"].parent)}
        else:
            tried = ", ".join(map(str, candidate_dirs(name, None)))
            out[name] = {"found": False, "where": f"not in {tried} ({len(FILES)} IDX files)"}
    return out


def gather() -> dict[str, Any]:
    """Everything ``spikesim info`` reports, as a JSON-able dict."""
    from spikesim import rate
    from spikesim._version import __version__
    from spikesim.experiments.config import available_kinds
    from spikesim.plasticity import available_rules

    return {
        "version": __version__,
        "engines": engines(),
        "rules": available_rules(),
        "rate_learners": rate.available(),
        "kinds": available_kinds(),
        "datasets": datasets(),
        "environment": {name: os.environ.get(name) for name in ENVIRONMENT},
    }
