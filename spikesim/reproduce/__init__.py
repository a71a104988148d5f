"""Reproductions of papers' figures behind ``spikesim reproduce NAME``.

Each module here is one reproduction, discovered automatically (module ``amit_linear`` is
the command ``spikesim reproduce amit-linear``). A module defines ``add_arguments(parser)``
and ``run(args) -> dict``; ``run`` writes its figure and ``results.json`` under
``args.out`` (atomically, :mod:`spikesim.io`) and returns the results, which the command
prints as JSON with ``--json`` and as a short table otherwise. The first line of the
module's docstring is its help text.
"""
