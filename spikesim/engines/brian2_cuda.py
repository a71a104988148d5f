"""Engine ``brian2-cuda``: brian2cuda's ``cuda_standalone`` device (extra ``gpu``).

The same model and project layout as ``brian2-standalone`` (see
:mod:`spikesim.engines.brian2_standalone`): the CUDA project is generated in a child
process, compiled once per structure with ``make`` (nvcc), and re-run for new weights and
inputs through the binary's command line.

Without a GPU (``nvidia-smi`` missing or failing) nothing can be compiled or run: the
engine generates the CUDA project (Brian2CUDA's GPU detection switched off, compute
capability and CUDA runtime version taken from the options) and raises
:class:`~spikesim.errors.EngineError` naming the directory. :func:`generate_cuda_project`
does only the generation, with the trial's inputs and weights written beside it and a
``run.sh`` that builds and runs it on a GPU machine. :meth:`CudaEngine.available_here`
tells the conformance suite whether to run or skip the engine.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np

from spikesim.engines.base import Engine, register
from spikesim.engines.brian2_runtime import check_dt
from spikesim.errors import EngineError, ValidationError

__all__ = ["CudaEngine", "gpu_present", "generate_cuda_project"]

DEFAULT_COMPUTE_CAPABILITY = 8.0
DEFAULT_CUDA_RUNTIME = 12.0


@functools.lru_cache(maxsize=1)
def gpu_present() -> bool:
    """True if ``nvidia-smi`` exists and lists at least one GPU."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        proc = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "GPU" in proc.stdout


def _query_gpu() -> dict:
    """Compute capability of GPU 0 and the CUDA runtime version of nvcc."""
    out = {}
    try:
        cc = subprocess.run(
            ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.split()
        out["compute_capability"] = float(cc[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        out["compute_capability"] = DEFAULT_COMPUTE_CAPABILITY
    out["cuda_runtime_version"] = DEFAULT_CUDA_RUNTIME
    nvcc = shutil.which("nvcc")
    if nvcc:
        text = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
        for tok in text.replace(",", " ").split():
            if tok.count(".") == 1 and tok.replace(".", "").isdigit():
                out["cuda_runtime_version"] = float(tok)
                break
    return out


def generate_cuda_project(
    network,
    inputs,
    duration: float,
    directory,
    *,
    dt: float = 1e-4,
    weights: np.ndarray | None = None,
    compute_capability: float = DEFAULT_COMPUTE_CAPABILITY,
    cuda_runtime_version: float = DEFAULT_CUDA_RUNTIME,
    capacity: int | None = None,
) -> Path:
    """Generate (not compile) the brian2cuda project of one trial; works without a GPU.

    Parameters
    ----------
    network : Network
    inputs : tuple ``(times (n,), neurons (n,))`` or None
        Input spikes (seconds, input neurons).
    duration : float
        Trial length in seconds.
    directory : str or Path
        Where to write the project (created; must be empty or absent).
    dt : float
        Time step in seconds.
    weights : ndarray, shape (n_edges,), optional
        Weight magnitudes (default ``network.weight``).
    compute_capability, cuda_runtime_version : float
        Target GPU architecture and CUDA version (no GPU detection happens).
    capacity : int, optional
        Input table length (default: what these inputs need, at least 1).

    Returns
    -------
    Path
        The project directory: ``code_objects/``, ``main.cu``, ``makefile``,
        ``manifest.json``, ``run_inputs/`` (this trial's command-line arrays) and
        ``run.sh`` (``make`` then run the binary with those arrays).
    """
    from spikesim.engines import _brian2_model as model
    from spikesim.engines.brian2_standalone import generate_project
    from spikesim.record import check_input_spikes

    dt = check_dt(dt)
    w = network.weight if weights is None else network.check_weights(weights)
    times, neurons = check_input_spikes(network, inputs, duration)
    spec = model.spec_from_network(network, dt, duration)
    idx, _, copies = model.generator_arrays(spec, times, neurons)
    if capacity is None:
        capacity = max(1, idx.size)
    directory = Path(directory).absolute()
    if directory.exists() and any(directory.iterdir()):
        raise ValidationError(f"directory {directory} is not empty")
    opts = {
        "device": "cuda_standalone",
        "capacity": int(capacity),
        "copies": int(copies),
        "extra_compile_args": None,
        "compute_capability": float(compute_capability),
        "cuda_runtime_version": float(cuda_runtime_version),
    }
    man = generate_project(spec, opts, directory)
    ptr, pend, step, nxt = model.input_table(spec, [(times, neurons)], capacity, copies)
    files = {"ptr": ptr, "pend": pend, "in_step": step, "nxt": nxt}
    for name, edges in man["synapses"].items():
        files[name + "_w"] = np.ascontiguousarray(w[np.asarray(edges, np.int64)], np.float64)
    run_dir = directory / "run_inputs"
    run_dir.mkdir()
    args = []
    for key, arr in files.items():
        arr.tofile(run_dir / f"{key}.dat")
        args.append(f"{man['run_args'][key]}=run_inputs/{key}.dat")
    script = (
        "#!/bin/sh\n# Build and run this brian2cuda project on a machine with an NVIDIA GPU.\n"
        'set -e\ncd "$(dirname "$0")"\nmake\nmkdir -p results\n'
        f"./main --results_dir results/ {' '.join(shlex.quote(a) for a in args)}\n"
    )
    (directory / "run.sh").write_text(script)
    os.chmod(directory / "run.sh", 0o755)
    return directory


@register("brian2-cuda")
class CudaEngine(Engine):
    """brian2cuda engine (GPU). Without a GPU: generates the project and raises.

    Parameters
    ----------
    dt : float
        Time step in seconds (default 1e-4).
    capacity : int
        Input table length (see ``brian2-standalone``).
    compute_capability, cuda_runtime_version : float, optional
        Target for code generation; default: queried from the GPU / nvcc where present,
        else 8.0 and 12.0.
    cache : str or Path, optional
        Project cache root (default ``$SPIKESIM_CACHE/brian2``).
    """

    name = "brian2-cuda"
    compiles_per_structure = True

    def __init__(
        self,
        dt: float = 1e-4,
        capacity: int = 4096,
        compute_capability: float | None = None,
        cuda_runtime_version: float | None = None,
        cache: str | os.PathLike | None = None,
    ):
        self.dt = check_dt(dt)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise EngineError(f"unsupported option capacity={capacity!r}: a positive integer")
        self.capacity = capacity
        self.compute_capability = compute_capability
        self.cuda_runtime_version = cuda_runtime_version
        self.cache = None if cache is None else Path(cache)

    @staticmethod
    def available_here() -> bool:
        """Whether this machine can run the engine (a GPU is present)."""
        return gpu_present()

    unavailable_reason = "brian2-cuda needs an NVIDIA GPU (nvidia-smi found none)"

    def with_dt(self, dt: float) -> CudaEngine:
        """A copy with time step ``dt`` (seconds)."""
        return CudaEngine(
            dt, self.capacity, self.compute_capability, self.cuda_runtime_version, self.cache
        )

    def _cuda_opts(self) -> dict:
        found = _query_gpu() if gpu_present() else {}
        return {
            "compute_capability": float(
                self.compute_capability
                or found.get("compute_capability", DEFAULT_COMPUTE_CAPABILITY)
            ),
            "cuda_runtime_version": float(
                self.cuda_runtime_version or found.get("cuda_runtime_version", DEFAULT_CUDA_RUNTIME)
            ),
        }

    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        if voltage_neurons is not None:
            raise EngineError(
                "unsupported option voltage_neurons for engine 'brian2-cuda'; use 'brian2'"
            )
        return self._run_batch(network, weights, [(times, neurons)], duration)[0]

    def _run_batch(self, network, weights, checked_inputs, duration):
        from spikesim.engines.brian2_standalone import (
            cache_dir,
            ensure_project,
            run_trials,
            table_size,
        )

        if not gpu_present():
            root = cache_dir() if self.cache is None else self.cache
            target = root / "cuda-generated" / f"{network.structure_key()}-{os.getpid()}"
            if target.exists():
                shutil.rmtree(target)
            times, neurons = checked_inputs[0] if checked_inputs else (None, None)
            opts = self._cuda_opts()
            generate_cuda_project(
                network,
                None if times is None else (times, neurons),
                duration,
                target,
                dt=self.dt,
                weights=weights,
                capacity=self.capacity,
                **opts,
            )
            raise EngineError(
                "engine 'brian2-cuda' needs an NVIDIA GPU, and none was found (nvidia-smi). "
                f"The CUDA project was generated at {target}; it needs a GPU to build "
                f"and run: copy it to a GPU machine and run {target / 'run.sh'}"
            )
        capacity, copies = table_size(network, self.dt, duration, checked_inputs, self.capacity)
        proj = ensure_project(
            network,
            self.dt,
            duration,
            capacity=capacity,
            copies=copies,
            root=self.cache,
            device="cuda_standalone",
            cuda=self._cuda_opts(),
        )
        return run_trials(proj, network, weights, checked_inputs, duration)
