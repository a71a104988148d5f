"""Engine ``brian2-cuda``: brian2cuda's ``cuda_standalone`` device (extra ``gpu``).

:class:`CudaEngine` extends the ``brian2-standalone`` engine
(:class:`~spikesim.engines.brian2.standalone.Brian2StandaloneEngine`): the same model and
project layout, generated in a child process for the ``cuda_standalone`` device, compiled
once per structure with ``make`` (nvcc), and re-run for new weights and inputs through the
binary's command line.

Without a GPU (``nvidia-smi`` missing or failing) nothing can be compiled or run: the
engine generates the CUDA project (Brian2CUDA's GPU detection switched off, compute
capability and CUDA runtime version taken from the options) and raises
:class:`~spikesim.errors.EngineError` naming the directory. :func:`generate_cuda_project`
does only the generation, with the trial's inputs and weights written beside it and a
``run.sh`` that builds and runs it on a GPU machine. :meth:`CudaEngine.availability`
tells the conformance checks whether to run or skip the engine.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np

from spikesim.engines.base import register
from spikesim.engines.brian2 import model
from spikesim.engines.brian2.common import brian2_installed, check_dt
from spikesim.engines.brian2.options import DEFAULT_CAPACITY, BuildOptions
from spikesim.engines.brian2.project import cache_dir, generate_project
from spikesim.engines.brian2.standalone import Brian2StandaloneEngine
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
    opts = BuildOptions(
        device="cuda_standalone",
        capacity=int(capacity),
        copies=int(copies),
        compute_capability=compute_capability,
        cuda_runtime_version=cuda_runtime_version,
    )
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
class CudaEngine(Brian2StandaloneEngine):
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
        Project cache root (default :func:`spikesim.engines.brian2.project.cache_dir`).
    trials_per_run : int
        Trials per invocation of the binary (default 1, the setting checked on a GPU).
    """

    name = "brian2-cuda"
    device = "cuda_standalone"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """Available where brian2 and brian2cuda are installed and a GPU is present."""
        ok, why = brian2_installed()
        if not ok:
            return ok, why
        if importlib.util.find_spec("brian2cuda") is None:
            return False, "brian2-cuda needs the brian2cuda package (extra 'gpu')"
        if not gpu_present():
            return False, "brian2-cuda needs an NVIDIA GPU (nvidia-smi found none)"
        return True, ""

    def __init__(
        self,
        dt: float = 1e-4,
        capacity: int = DEFAULT_CAPACITY,
        compute_capability: float | None = None,
        cuda_runtime_version: float | None = None,
        cache: str | os.PathLike | None = None,
        trials_per_run: int = 1,
    ):
        super().__init__(dt=dt, capacity=capacity, cache=cache, trials_per_run=trials_per_run)
        self.compute_capability = compute_capability
        self.cuda_runtime_version = cuda_runtime_version

    def _options(self) -> dict:
        out = super()._options()
        del out["extra_compile_args"]
        out["compute_capability"] = self.compute_capability
        out["cuda_runtime_version"] = self.cuda_runtime_version
        return out

    def _cuda_target(self) -> dict:
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

    def build_options(self, capacity: int, copies: int) -> BuildOptions:
        """As the standalone engine's, for the ``cuda_standalone`` device and this GPU."""
        return BuildOptions(
            device=self.device, capacity=capacity, copies=copies, **self._cuda_target()
        )

    def _run_batch(self, network, weights, checked_inputs, duration):
        if gpu_present():
            return super()._run_batch(network, weights, checked_inputs, duration)
        root = cache_dir() if self.cache is None else self.cache
        target = root / "cuda-generated" / f"{network.structure_key()}-{os.getpid()}"
        if target.exists():
            shutil.rmtree(target)
        times, neurons = checked_inputs[0] if checked_inputs else (None, None)
        generate_cuda_project(
            network,
            None if times is None else (times, neurons),
            duration,
            target,
            dt=self.dt,
            weights=weights,
            capacity=self.capacity,
            **self._cuda_target(),
        )
        raise EngineError(
            "engine 'brian2-cuda' needs an NVIDIA GPU, and none was found (nvidia-smi). "
            f"The CUDA project was generated at {target}; it needs a GPU to build "
            f"and run: copy it to a GPU machine and run {target / 'run.sh'}"
        )
