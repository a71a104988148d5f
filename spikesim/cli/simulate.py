"""``spikesim simulate NETWORK --input SOURCE --out DIR``: run a saved network on samples.

``NETWORK`` is a saved network (``.npz`` of format ``spikesim.network``, e.g. the
``network.npz`` a spiking run writes), a run folder holding one, or a NIR file (``.nir``,
needs the extra ``nir``). ``--input`` is either

* an experiment file (``.toml``, kind ``spiking``): its task's samples (``--split``, default
  ``test``; ``--samples`` picks indices, default ``0``) encoded as its ``[encoding]`` says
  (Poisson, ``duration``, ``max_rate``), the bias inputs included; ``--set TABLE.KEY=VALUE``
  overrides keys as for ``spikesim train``; or
* a saved spike record (``.npz`` of format ``spikesim.record``): the spikes of the network's
  input neurons are replayed, for the record's duration.

Writes into ``DIR``, per sample ``k``: ``spikes_<k>.npz`` (the trial's
:class:`~spikesim.record.SpikeRecord` with voltages, :func:`spikesim.io.load_record`),
``raster_<k>.png`` and ``voltage_<k>.png``; and ``summary.json`` (samples, labels, spike
counts of the output neurons). The paths written are printed to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a saved network on a task's samples (raster, spikes, voltages)",
        description=(
            "Simulate NETWORK (a saved network .npz, a run folder or a .nir file) on the "
            "samples --input names (an experiment file's task, or a saved spike record's "
            "input spikes) and write a raster, the spikes and the voltages into --out."
        ),
    )
    p.add_argument("network", help="network.npz, a run folder holding one, or a .nir file")
    p.add_argument(
        "--input",
        required=True,
        help="an experiment file (.toml, kind spiking) or a saved spike record (.npz)",
    )
    p.add_argument("--out", required=True, help="folder for the outputs")
    p.add_argument(
        "--samples",
        default="0",
        help="comma-separated sample indices of the split (experiment input; default 0)",
    )
    p.add_argument("--split", choices=("test", "train"), default="test", help="default test")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override a key of the experiment file (repeatable)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the Poisson input (sample k: seed + k)"
    )
    p.add_argument(
        "--voltages",
        default="outputs",
        help="neurons whose potential to record: 'outputs' (default), 'all' or ids 1,2,3",
    )
    p.add_argument("--engine", default="event", help="simulation engine (default event)")
    p.set_defaults(func=run)


def _load_network(ref: str):
    from spikesim.errors import ValidationError
    from spikesim.io import load_network

    path = Path(ref)
    if path.is_dir():
        path = path / "network.npz"
    if path.suffix == ".nir":
        if not path.is_file():
            raise ValidationError(f"NETWORK {ref!r}: no such file")
        import nir

        from spikesim.interop.nirgraph import from_nir

        return from_nir(nir.read(path))
    return load_network(path)


def _ids(text: str, what: str) -> list[int]:
    from spikesim.errors import ValidationError

    try:
        ids = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValidationError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not ids or min(ids) < 0:
        raise ValidationError(f"{what} must list non-negative integers, got {text!r}")
    return ids


def _trials_from_experiment(args, net):
    """[(sample index, label, input spikes, duration)] from an experiment file's task."""
    from spikesim.encoding import poisson
    from spikesim.errors import ConfigError
    from spikesim.experiments.config import load

    config = load(args.input, args.set)
    if config["experiment"]["kind"] != "spiking":
        raise ConfigError(
            f"--input {args.input}: experiment.kind = {config['experiment']['kind']!r}; "
            "simulate needs a spiking experiment"
        )
    from spikesim.experiments.kinds.spiking import build

    built = build(config)
    x, y = built[f"x_{args.split}"], built[f"y_{args.split}"]
    if x.shape[1] != net.inputs.size:
        raise ConfigError(
            f"--input {args.input}: the task's samples have {x.shape[1]} inputs (bias "
            f"inputs included) but the network has {net.inputs.size} input neurons"
        )
    enc = config["encoding"]
    trials = []
    for k in _ids(args.samples, "--samples"):
        if k >= x.shape[0]:
            raise ConfigError(f"--samples {k}: the {args.split} split has {x.shape[0]} samples")
        spikes = poisson(
            x[k],
            duration=enc["duration"],
            max_rate=enc["max_rate"],
            neurons=net.inputs,
            seed=args.seed + k,
        )
        trials.append((k, int(y[k]), spikes, float(enc["duration"])))
    return trials


def _trials_from_record(args, net):
    import numpy as np

    from spikesim.errors import ValidationError
    from spikesim.io import load_record

    rec = load_record(args.input)
    if rec.n_neurons != net.n_neurons:
        raise ValidationError(
            f"--input {args.input}: the record has {rec.n_neurons} neurons, the network "
            f"{net.n_neurons}"
        )
    keep = net.is_input[rec.neurons]
    return [(0, -1, (rec.times[keep], rec.neurons[keep].astype(np.int64)), rec.duration)]


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from spikesim import plots
    from spikesim.errors import ValidationError
    from spikesim.io import save_figure, save_record, write_json
    from spikesim.simulate import simulate

    net = _load_network(args.network)
    if args.input.endswith(".toml"):
        trials = _trials_from_experiment(args, net)
    elif args.input.endswith(".npz"):
        trials = _trials_from_record(args, net)
    else:
        raise ValidationError(
            f"--input {args.input!r} must be an experiment file (.toml) or a spike record (.npz)"
        )
    if args.voltages == "outputs":
        vn = net.outputs
    elif args.voltages == "all":
        vn = np.flatnonzero(~net.is_input)
    else:
        vn = np.asarray(_ids(args.voltages, "--voltages"))
        if vn.max() >= net.n_neurons:
            raise ValidationError(
                f"--voltages {args.voltages}: neuron {int(vn.max())} is not in the network "
                f"({net.n_neurons} neurons)"
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written, summary = [], []
    for k, label, spikes, duration in trials:
        rec = simulate(net, spikes, duration, engine=args.engine, voltage_neurons=vn)
        info = {"sample": k, "label": label, "network": str(args.network)}
        written.append(save_record(out / f"spikes_{k}.npz", rec, info=info))
        ax = plots.raster(rec, net.groups(), title=f"sample {k} (label {label})")
        written.append(save_figure(ax.figure, out / f"raster_{k}.png"))
        if vn.size:
            ax = plots.voltage(rec, net.threshold, title=f"sample {k}: potentials")
            written.append(save_figure(ax.figure, out / f"voltage_{k}.png"))
        counts = rec.counts()[net.outputs]
        summary.append({"sample": k, "label": label, "output_counts": counts.tolist()})
    written.append(
        write_json(
            out / "summary.json",
            {"network": str(args.network), "input": str(args.input), "trials": summary},
        )
    )
    for path in written:
        print(path, file=sys.stdout)
    return 0
