"""spikesim: learning in spiking and rate-based neural networks.

Public API: :class:`Network`, :func:`simulate`, :class:`SpikeRecord`, the builders
:func:`layered` and :func:`random_dag`, and the subpackages ``engines``, ``encoding``,
``plasticity``, ``rate``, ``zeroorder``, ``data``, ``plots``; :func:`load_run` reads a
finished run back; :func:`to_nir` / :func:`from_nir` convert to and from NIR graphs.
"""

import spikesim._jitcache  # noqa: F401  (first: drops a stale Numba cache, see there)
from spikesim import encoding
from spikesim._version import __version__
from spikesim.errors import (
    ConfigError,
    DatasetNotFoundError,
    DivergenceError,
    EngineError,
    SpikesimError,
    ValidationError,
)
from spikesim.graph import Network, layered, random_dag
from spikesim.record import SpikeRecord
from spikesim.simulate import simulate


def to_nir(network):
    """Export a network as a NIR graph (needs the extra ``nir``;
    :func:`spikesim.interop.nirgraph.to_nir`)."""
    from spikesim.interop.nirgraph import to_nir as impl

    return impl(network)


def from_nir(graph):
    """Import a NIR graph as a network (needs the extra ``nir``;
    :func:`spikesim.interop.nirgraph.from_nir`)."""
    from spikesim.interop.nirgraph import from_nir as impl

    return impl(graph)


def load_run(path):
    """Read a finished run back from its folder: configuration, curve, final figures and,
    for a spiking run, the trained network (:func:`spikesim.experiments.runs.load_run`)."""
    from spikesim.experiments.runs import load_run as load

    return load(path)


__all__ = [
    "__version__",
    "ConfigError",
    "DatasetNotFoundError",
    "DivergenceError",
    "EngineError",
    "Network",
    "SpikeRecord",
    "SpikesimError",
    "ValidationError",
    "encoding",
    "from_nir",
    "layered",
    "load_run",
    "random_dag",
    "simulate",
    "to_nir",
]
