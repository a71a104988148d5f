"""Generate a Brian2 standalone project (cpp_standalone or cuda_standalone) for a network.

Run as a separate process, ``python -m spikesim.engines.brian2.codegen SPEC.npz
OPTIONS.json DIR``, because Brian2's standalone device is global state of a process:
generating the code in a child keeps the parent's Brian2 on its runtime device, so the
``brian2`` engine and any number of standalone builds coexist in one process. The child
only *generates* the code (``device.build(compile=False, run=False)``) and writes
``manifest.json`` naming the command-line variables and result files; compiling (``make``)
and running the binary are done by the parent (:mod:`spikesim.engines.brian2.project`),
which captures the compiler's messages.

``SPEC.npz`` holds the arrays of :func:`spikesim.engines.brian2.model.spec_from_network`;
``OPTIONS.json`` is a :class:`~spikesim.engines.brian2.options.BuildOptions` record
(:meth:`~spikesim.engines.brian2.options.BuildOptions.to_json`).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from spikesim.engines.brian2.options import BuildOptions

#: Integer entries of the model spec (0-d arrays in SPEC.npz).
_INT_KEYS = ("n", "n_steps", "trials_per_run", "period")


def write_spec(spec: dict, path) -> None:
    """Write the model spec (a dict of arrays and numbers) to ``path`` (``.npz``)."""
    np.savez(path, **{k: np.asarray(v) for k, v in spec.items()})


def load_spec(path) -> dict:
    """Read a model spec written by :func:`write_spec`."""
    with np.load(path, allow_pickle=False) as z:
        spec = {k: z[k] for k in z.files}
    for k in _INT_KEYS:
        spec[k] = int(spec[k])
    spec["dt"] = float(spec["dt"])
    return spec


def _cuda_cpp_dialect(directory: str, cuda_runtime_version: float) -> None:
    """Compile brian2cuda's project as C++17 where the CUDA toolkit requires it.

    brian2cuda 1.0b1's makefile passes ``-std=c++11`` to nvcc; the CCCL headers (thrust,
    cub) shipped with CUDA >= 13 refuse anything older than C++17. For those toolkits the
    dialect is raised in the generated makefile; older toolkits keep the original flag.
    """
    if cuda_runtime_version < 13:
        return
    path = os.path.join(directory, "makefile")
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:
        fh.write(text.replace("-std=c++11", "-std=c++17"))


def generate(spec: dict, opts: BuildOptions, directory: str) -> None:
    """Generate the project of ``spec`` built with ``opts`` into ``directory`` and write its
    ``manifest.json`` (run in a fresh process: it switches Brian2's device)."""
    import brian2 as b2

    from spikesim.engines.brian2 import model

    device = opts.device
    if device == "cuda_standalone":
        import brian2cuda  # noqa: F401  (registers the device)

        prefs = b2.prefs
        prefs["devices.cuda_standalone.cuda_backend.detect_gpus"] = False
        prefs["devices.cuda_standalone.cuda_backend.compute_capability"] = opts.compute_capability
        prefs["devices.cuda_standalone.cuda_backend.cuda_runtime_version"] = (
            opts.cuda_runtime_version
        )
        prefs["devices.cuda_standalone.cuda_backend.gpu_id"] = 0
    if opts.extra_compile_args is not None:
        b2.prefs["codegen.cpp.extra_compile_args_gcc"] = list(opts.extra_compile_args)
    if opts.openmp_threads:
        b2.prefs["devices.cpp_standalone.openmp_threads"] = opts.openmp_threads
    b2.set_device(device, directory=directory, build_on_run=False)
    objs = model.build(
        b2,
        spec,
        input_mode="table",
        capacity=opts.capacity,
        copies=opts.copies,
        extra=opts.extra,
    )
    for name in model.synapse_names(objs):
        objs[name].w = 0.0
    n_run = spec["period"] * spec["trials_per_run"] + int((opts.extra or {}).get("tail_steps", 0))
    objs["net"].run(
        n_run * spec["dt"] * b2.second,
        namespace={},
        profile=opts.profile,
    )
    dev = b2.get_device()
    dev.build(directory=directory, compile=False, run=False, with_output=False)
    if device == "cuda_standalone":
        _cuda_cpp_dialect(directory, opts.cuda_runtime_version)

    def fname(group, var):
        return dev.get_array_filename(group.variables[var])

    results = {
        "spike_i": fname(objs["spikes"], "i"),
        "spike_t": fname(objs["spikes"], "t"),
    }
    args = {
        "ptr": "inputs.ptr",
        "pend": "inputs.pend",
        "nxt": "inputs.nxt",
        "in_step": "in_step.values",
    }
    synapses = {}
    for name in model.synapse_names(objs):
        results[name + "_pre"] = fname(objs[name], "_synaptic_pre")
        results[name + "_post"] = fname(objs[name], "_synaptic_post")
        args[name + "_w"] = f"{name}.w"
        results[name + "_w_final"] = fname(objs[name], "w")
        synapses[name] = objs[name + "_edges"].tolist()
    for key, (obj, var) in objs.get("run_args", {}).items():  # added by a setup hook
        args[key] = f"{obj}.{var}"
    manifest = {
        "device": device,
        "capacity": opts.capacity,
        "copies": opts.copies,
        "synapses": synapses,
        "n_inputs": int(spec["inputs"].size),
        "results": results,
        "run_args": args,
        "brian2_version": b2.__version__,
    }
    with open(os.path.join(directory, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)


def main(argv: list[str]) -> None:
    """``SPEC.npz OPTIONS.json DIR``: read the spec and options, generate into DIR."""
    if len(argv) != 3:
        sys.exit("usage: python -m spikesim.engines.brian2.codegen SPEC.npz OPTIONS.json DIR")
    spec_path, options_path, directory = argv
    with open(options_path) as fh:
        opts = BuildOptions.from_json(fh.read())
    generate(load_spec(spec_path), opts, directory)


if __name__ == "__main__":
    main(sys.argv[1:])
