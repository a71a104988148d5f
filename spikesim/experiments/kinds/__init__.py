"""Kinds of run. Each module here registers one with
:func:`spikesim.experiments.config.register_kind`; modules are discovered automatically."""
