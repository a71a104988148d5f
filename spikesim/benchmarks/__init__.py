"""Benchmarks behind ``spikesim bench NAME``.

Each module here defines ``add_arguments(parser)`` and ``run(args) -> dict``; the dict is
printed as JSON with ``--json`` and as a table otherwise. Speed figures are reported as
ratios against a reference measured in the same run, with absolute numbers beside them.
"""
