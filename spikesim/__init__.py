"""spikesim: learning in spiking and rate-based neural networks.

Public API: :class:`Network`, :func:`simulate`, :class:`SpikeRecord`, the builders
:func:`layered` and :func:`random_dag`, and the subpackages ``engines``, ``encoding``,
``plasticity``, ``rate``, ``zeroorder``, ``data``, ``plots``.
"""

from spikesim import encoding
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

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DatasetNotFoundError",
    "DivergenceError",
    "EngineError",
    "Network",
    "SpikeRecord",
    "SpikesimError",
    "ValidationError",
    "encoding",
    "layered",
    "random_dag",
    "simulate",
]
