"""NWB (Neurodata Without Borders) export of a spike record, with pynwb.

The file holds (``docs/guide/interop.md``, section NWB):

* ``units``: one unit per neuron, ``spike_times`` in seconds, ``obs_intervals = [[0,
  duration]]``, and columns ``neuron`` (spikesim id), ``layer`` (``"layer <k>"`` of
  :meth:`Network.groups`, or ``""`` without a network), ``is_input``, ``is_output``;
* ``acquisition["voltage"]``: a ``TimeSeries`` of the recorded potentials, data shape
  ``(n_samples, n_recorded)``, ``timestamps`` in seconds, unit ``"threshold units"`` (the
  potential is dimensionless, relative to the threshold), the neuron ids in
  ``scratch["voltage_neurons"]``;
* run metadata as JSON in ``notes`` (spikesim version, duration, ``info``, and with a
  network its size and neuron parameters), and with a network its edge arrays in
  ``scratch["network_<name>"]`` (``pre``, ``post``, ``weight``, ``delay``, ``sign``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spikesim.errors import ValidationError
from spikesim.graph import Network

__all__ = ["write_nwb"]


def _pynwb():
    try:
        import pynwb
    except ImportError:
        raise ImportError(
            "NWB export needs the optional dependency 'pynwb'; install it with "
            "pip install 'spikesim[nwb]'"
        ) from None
    return pynwb


def _summary(values: np.ndarray):
    """A per-neuron parameter as one number when all neurons share it, else a list."""
    return float(values[0]) if values.size and np.all(values == values[0]) else values.tolist()


def write_nwb(
    path,
    record,
    *,
    network: Network | None = None,
    session_description: str = "spikesim simulation",
    info: dict | None = None,
) -> Path:
    """Write a spike record (and optionally its network) to an NWB file.

    Parameters
    ----------
    path : path-like
        Destination ``.nwb`` file (overwritten).
    record : SpikeRecord
        Checked with :meth:`SpikeRecord.validate` (this module does not import
        :mod:`spikesim.record`, whose ``to_nwb`` calls it; :func:`spikesim.interop.write_nwb`
        checks the type).
    network : Network, optional
        The simulated network: layer labels, input/output flags, parameters and edges.
    session_description : str
        NWB's required free-text description.
    info : dict, optional
        JSON-serialisable run metadata (e.g. sample, label, seed), stored in ``notes``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValidationError
        If ``record`` is not a valid record, ``network`` has another number of neurons, or
        ``info`` is not JSON-serialisable.
    """
    pynwb = _pynwb()
    import datetime
    import uuid

    from spikesim._version import __version__

    record.validate()
    n = record.n_neurons
    layer = np.full(n, "", dtype=object)
    is_input = np.zeros(n, bool)
    is_output = np.zeros(n, bool)
    notes = {"spikesim_version": __version__, "duration_s": float(record.duration)}
    if network is not None:
        if not isinstance(network, Network):
            raise ValidationError(f"network must be a Network, got {type(network).__name__}")
        if network.n_neurons != n:
            raise ValidationError(f"network has {network.n_neurons} neurons but the record {n}")
        for k, g in enumerate(network.groups()):
            layer[g] = f"layer {k}"
        is_input = network.is_input.copy()
        is_output[network.outputs] = True
        notes["network"] = {
            "n_neurons": network.n_neurons,
            "n_edges": network.n_edges,
            "tau_syn_s": _summary(network.tau_syn),
            "threshold": _summary(network.threshold),
            "t_ref_s": _summary(network.t_ref),
            "inputs": network.inputs.tolist(),
            "outputs": network.outputs.tolist(),
        }
    notes["info"] = {} if info is None else info
    try:
        notes_text = json.dumps(notes, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"info must be JSON-serialisable (finite numbers): {exc}") from None
    nwb = pynwb.NWBFile(
        session_description=session_description,
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime.now(datetime.UTC),
        notes=notes_text,
        source_script="spikesim",
        source_script_file_name="spikesim.nwb",
    )
    nwb.add_unit_column(name="neuron", description="spikesim neuron id")
    nwb.add_unit_column(name="layer", description="layer (Network.groups) of the neuron")
    nwb.add_unit_column(name="is_input", description="an input neuron (driven by data)")
    nwb.add_unit_column(name="is_output", description="an output neuron")
    trains = record.trains()
    for k in range(n):
        nwb.add_unit(
            spike_times=trains[k],
            obs_intervals=[[0.0, float(record.duration)]],
            neuron=k,
            layer=str(layer[k]),
            is_input=bool(is_input[k]),
            is_output=bool(is_output[k]),
        )
    if record.voltage is not None:
        nwb.add_acquisition(
            pynwb.TimeSeries(
                name="voltage",
                data=np.ascontiguousarray(record.voltage.T),
                timestamps=np.asarray(record.voltage_times, np.float64),
                unit="threshold units",
                description=(
                    "membrane potentials (relative to the threshold) of the neurons in "
                    "scratch['voltage_neurons'], one column each"
                ),
            )
        )
        nwb.add_scratch(
            np.asarray(record.voltage_neurons, np.int64),
            name="voltage_neurons",
            description="spikesim neuron id of each column of acquisition['voltage']",
        )
    if network is not None:
        for name in ("pre", "post", "weight", "delay", "sign"):
            nwb.add_scratch(
                np.asarray(getattr(network, name)),
                name=f"network_{name}",
                description=f"Network.{name} (one per edge; delay in seconds)",
            )
    path = Path(path)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path
