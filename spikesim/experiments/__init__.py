"""Experiments: one TOML file format for every kind of run, a registry of run kinds.

An experiment file has an ``[experiment]`` table naming its ``kind``; each kind (spiking
training, rate-learner training, abstract zero-order dynamics, comparison, ...) registers
the schema of its other tables and a ``run`` function (:func:`register_kind`). Loading
validates every key (unknown keys and wrong types are rejected with the key's name) and
fills defaults, so a run can record its full resolved config.
"""

from spikesim.experiments.config import (
    Field,
    Kind,
    available_kinds,
    load,
    register_kind,
    resolve,
    validate_table,
)
from spikesim.experiments.runs import load_run, run_experiment, run_or_skip

__all__ = [
    "Field",
    "Kind",
    "available_kinds",
    "load",
    "register_kind",
    "load_run",
    "resolve",
    "run_experiment",
    "run_or_skip",
    "validate_table",
]
