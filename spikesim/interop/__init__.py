"""Interoperability with other tools: NIR graphs (:mod:`spikesim.interop.nirgraph`) and NWB
files (:mod:`spikesim.nwb`).

Both need optional packages (``pip install 'spikesim[nir]'``, ``'spikesim[nwb]'``); they are
imported only when a function is called, so ``import spikesim`` never needs them. The
mapping tables are in ``docs/guide/interop.md``.
"""

from __future__ import annotations

__all__ = ["NIRExportWarning", "from_nir", "to_nir", "write_nwb"]


class NIRExportWarning(UserWarning):
    """A network property NIR cannot represent was kept in node metadata only."""


def to_nir(network):
    """A :class:`~spikesim.graph.Network` as a ``nir.NIRGraph``
    (:func:`spikesim.interop.nirgraph.to_nir`)."""
    from spikesim.interop.nirgraph import to_nir as impl

    return impl(network)


def from_nir(graph):
    """A ``nir.NIRGraph`` as a :class:`~spikesim.graph.Network`
    (:func:`spikesim.interop.nirgraph.from_nir`)."""
    from spikesim.interop.nirgraph import from_nir as impl

    return impl(graph)


def write_nwb(path, record, *, network=None, session_description="spikesim simulation", info=None):
    """Write a :class:`~spikesim.record.SpikeRecord` to an NWB file
    (:func:`spikesim.nwb.write_nwb`)."""
    from spikesim.errors import ValidationError
    from spikesim.nwb import write_nwb as impl
    from spikesim.record import SpikeRecord

    if not isinstance(record, SpikeRecord):
        raise ValidationError(f"record must be a SpikeRecord, got {type(record).__name__}")

    return impl(path, record, network=network, session_description=session_description, info=info)
