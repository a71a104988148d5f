"""Engine ``brian2-standalone``: Brian2 cpp_standalone, compiled once per network structure.

Design
------
* **One binary per structure.** The project is generated for everything except the
  weights and the input spikes. ``Network.structure_key()``, dt, trial length, trials per
  run, input table sizes, compiler arguments, the Brian2 version and the source of the
  generating modules form the cache key. Weights (``syn_*.w``) and the input spike tables
  (``inputs.ptr``, ``inputs.pend``, ``in_step.values``; see
  :mod:`spikesim.engines._brian2_model`) are passed to the binary on its command line
  (Brian2's ``run_args`` mechanism: ``name=file``), so a new trial never recompiles.
  One invocation simulates ``trials_per_run`` trials back to back (state reset between
  them, see :func:`spikesim.engines._brian2_model.spec_from_network`), which spreads the
  binary's fixed start-up cost (creating the synapses, writing results) over them.
* **No global device in this process.** The code is generated in a child process
  (:mod:`spikesim.engines._brian2_build`); this process runs ``make`` (capturing the
  compiler's messages for :class:`~spikesim.errors.EngineError`) and then runs the binary
  directly, reading the spike monitor's result files. Brian2 in this process stays on
  the runtime device, so the ``brian2`` engine keeps working alongside.
* **Cache.** Projects live in ``$SPIKESIM_CACHE/brian2/<key>/`` (default
  ``~/.cache/spikesim``). A build happens under an exclusive ``flock`` on ``<key>.lock``
  in a private temporary directory which is renamed into place when complete (so a
  crashed build never leaves a half project behind, and a second process waiting on the
  lock finds the finished project). Runs hold a shared lock and use a private results
  directory (``--results_dir``), so concurrent runs of one binary from several processes
  do not collide. After each build the least recently used projects beyond
  ``SPIKESIM_BRIAN2_CACHE_MAX`` (default 16) are deleted (skipping ones in use);
  :func:`clean_cache` deletes them explicitly.
* :data:`BUILDS` counts the compilations done by this process (tests assert on it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spikesim.engines.base import Engine, register
from spikesim.engines.brian2_runtime import assemble, check_dt
from spikesim.errors import EngineError

__all__ = ["Brian2StandaloneEngine", "cache_dir", "clean_cache", "ensure_project", "BUILDS"]

#: Number of projects compiled by this process (``make`` runs that succeeded).
BUILDS = 0

DEFAULT_CAPACITY = 4096
DEFAULT_COPIES = 2
DEFAULT_TRIALS_PER_RUN = 16


def cache_dir() -> Path:
    """Root of the Brian2 project cache: ``$SPIKESIM_CACHE/brian2`` or
    ``~/.cache/spikesim/brian2``."""
    root = os.environ.get("SPIKESIM_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "spikesim"
    )
    return Path(root) / "brian2"


def _max_entries() -> int:
    raw = os.environ.get("SPIKESIM_BRIAN2_CACHE_MAX", "16")
    try:
        return max(1, int(raw))
    except ValueError:
        raise EngineError(f"SPIKESIM_BRIAN2_CACHE_MAX={raw!r} is not an integer") from None


@contextlib.contextmanager
def _locked(path: Path, shared: bool = False, blocking: bool = True):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flag = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not blocking:
            flag |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flag)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def clean_cache(max_entries: int | None = 0, *, root: Path | None = None) -> list[str]:
    """Delete cached projects, least recently used first, keeping ``max_entries``.

    ``max_entries=0`` (default) deletes every project not in use; ``None`` applies the
    ``SPIKESIM_BRIAN2_CACHE_MAX`` limit. Projects in use (locked) are skipped. Returns the
    deleted keys.
    """
    root = cache_dir() if root is None else Path(root)
    if not root.is_dir():
        return []
    keep = _max_entries() if max_entries is None else int(max_entries)
    entries = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    entries.sort(key=lambda p: (p / "READY").stat().st_mtime if (p / "READY").exists() else 0)
    removed = []
    for p in entries[: max(0, len(entries) - keep)]:
        with _locked(root / f"{p.name}.lock", blocking=False) as got:
            if got:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
    return removed


def _tail(text: str, n: int = 40) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def _spec_file(spec: dict, path: Path, opts: dict) -> None:
    arrays = {k: v for k, v in spec.items()}
    arrays["device"] = np.array(opts["device"])
    arrays["capacity"] = np.array(opts["capacity"])
    arrays["copies"] = np.array(opts["copies"])
    arrays["extra_compile_args"] = np.array(json.dumps(opts["extra_compile_args"]))
    arrays["compute_capability"] = np.array(opts.get("compute_capability", 0.0))
    arrays["cuda_runtime_version"] = np.array(opts.get("cuda_runtime_version", 0.0))
    arrays["extra"] = np.array(json.dumps(opts.get("extra")))
    arrays["openmp_threads"] = np.array(int(opts.get("openmp_threads", 0)))
    arrays["profile"] = np.array(bool(opts.get("profile", False)))
    np.savez(path, **arrays)


def generate_project(spec: dict, opts: dict, directory: Path) -> dict:
    """Generate the project's code into ``directory`` (child process); returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    spec_path = directory / "spec.npz"
    _spec_file(spec, spec_path, opts)
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    proc = subprocess.run(
        [sys.executable, "-m", "spikesim.engines._brian2_build", str(spec_path), str(directory)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise EngineError(
            f"Brian2 code generation ({opts['device']}) failed:\n{_tail(proc.stderr)}"
        )
    return json.loads((directory / "manifest.json").read_text())


def compile_project(directory: Path, device: str) -> float:
    """Run ``make`` in ``directory``; return the compile time (s). EngineError with the
    compiler's message on failure."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["make", f"-j{os.cpu_count() or 1}"],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise EngineError(
            f"Brian2 {device} compilation failed in {directory} (make exit code "
            f"{proc.returncode}); compiler output:\n{_tail(proc.stdout + proc.stderr)}"
        )
    return time.perf_counter() - t0


def project_key(spec: dict, opts: dict, structure_key: str) -> str:
    import importlib.metadata

    h = hashlib.sha1()
    h.update(structure_key.encode())
    h.update(
        repr(
            (spec["dt"], spec["n_steps"], opts["capacity"], opts["copies"], opts["device"])
        ).encode()
    )
    h.update(json.dumps(opts["extra_compile_args"]).encode())
    h.update(json.dumps(opts.get("extra"), sort_keys=True).encode())
    if opts.get("openmp_threads"):
        h.update(f"openmp={opts['openmp_threads']}".encode())
    if opts.get("profile"):  # a profiled build is a different project
        h.update(b"profile")
    h.update(repr((opts.get("compute_capability"), opts.get("cuda_runtime_version"))).encode())
    h.update(importlib.metadata.version("brian2").encode())
    if opts["device"] == "cuda_standalone":
        h.update(importlib.metadata.version("brian2cuda").encode())
    for mod in ("_brian2_model.py", "_brian2_build.py"):  # the code that generates it
        h.update((Path(__file__).parent / mod).read_bytes())
    return h.hexdigest()[:20]


class Project:
    """A compiled standalone project and how to run it."""

    def __init__(self, path: Path, spec: dict):
        self.path = path
        self.spec = spec
        self.manifest = json.loads((path / "manifest.json").read_text())
        self.build_info = json.loads((path / "READY").read_text())
        self.edges = {k: np.asarray(v, np.int64) for k, v in self.manifest["synapses"].items()}

    def run(
        self, weights: np.ndarray, trials: list, *, arrays: dict | None = None, final=None
    ) -> list:
        """Run up to ``trials_per_run`` trials in one invocation of the binary.

        Parameters
        ----------
        weights : ndarray, shape (n_edges,)
        trials : list of ``(times (n,), neurons (n,))``
            Checked input spikes of each trial (seconds).

        Returns
        -------
        list of ``(neurons (m,), times (m,))``
            Spikes of the simulated (non-input) neurons of each trial; times in seconds.

        ``arrays`` maps further run-argument keys of the manifest to values (a learning
        rule's); with ``final`` (a dict), the weights at the end of the run are stored in
        ``final["weights"]`` (n_edges,).
        """
        from spikesim.engines import _brian2_model as model

        man = self.manifest
        spec = self.spec
        if len(trials) > spec["trials_per_run"]:
            raise EngineError(f"{len(trials)} trials > trials_per_run={spec['trials_per_run']}")
        try:
            ptr, pend, step, nxt = model.input_table(spec, trials, man["capacity"], man["copies"])
        except ValueError as exc:
            kind, need = exc.args
            raise EngineError(
                f"these trials need {kind}={need}, more than the build's "
                f"{man[kind]}; run them through the engine, which sizes the build"
            ) from None
        runs = self.path / "runs"
        runs.mkdir(exist_ok=True)
        rdir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=runs))
        try:
            files = {"ptr": ptr, "pend": pend, "in_step": step, "nxt": nxt}
            for key, arr in (arrays or {}).items():
                files[key] = np.ascontiguousarray(arr, np.float64)
            for name, edges in self.edges.items():
                files[name + "_w"] = np.ascontiguousarray(weights[edges], np.float64)
            args = []
            for key, arr in files.items():
                if key in ("ptr", "pend", "nxt") and man["n_inputs"] == 0:
                    continue
                f = rdir / f"{key}.dat"
                arr.tofile(f)
                args.append(f"{man['run_args'][key]}={f}")
            out = _run_binary(self.path, rdir, args)
            prof = rdir / "profiling_info.txt"  # a profiled build (ensure_project)
            if prof.exists():
                shutil.copyfile(prof, self.path / "last_profiling_info.txt")
            idx = np.fromfile(rdir / man["results"]["spike_i"], dtype=np.int32)
            t = np.fromfile(rdir / man["results"]["spike_t"], dtype=np.float64)
            if idx.size != t.size:
                raise EngineError(f"Brian2 standalone results are inconsistent:\n{out}")
            if final is not None:
                w_end = np.zeros(weights.shape[0])
                for name, edges in self.edges.items():
                    got = np.fromfile(rdir / man["results"][name + "_w_final"], np.float64)
                    w_end[edges[: got.size]] = got[: edges.size]
                final["weights"] = w_end
        finally:
            shutil.rmtree(rdir, ignore_errors=True)
        steps = np.round(t / spec["dt"]).astype(np.int64)
        return model.split_trials(spec, idx, steps, len(trials))


def _run_binary(path: Path, rdir: Path, args: list[str]) -> str:
    proc = subprocess.run(
        ["./main", "--results_dir", str(rdir) + os.sep, *args],
        cwd=path,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise EngineError(
            f"Brian2 standalone binary {path / 'main'} failed (exit code {proc.returncode}):\n"
            f"{_tail(proc.stdout + proc.stderr)}"
        )
    return proc.stdout


def ensure_project(
    network,
    dt: float,
    duration: float,
    *,
    capacity: int = DEFAULT_CAPACITY,
    copies: int = DEFAULT_COPIES,
    trials_per_run: int = 1,
    extra_compile_args: list[str] | None = None,
    root: Path | None = None,
    device: str = "cpp_standalone",
    cuda: dict | None = None,
    extra: dict | None = None,
    openmp_threads: int = 0,
) -> Project:
    """The compiled project for ``network``'s structure: from the cache, or built now.

    ``device`` is "cpp_standalone" or "cuda_standalone" (then ``cuda`` gives
    ``compute_capability`` and ``cuda_runtime_version``). ``openmp_threads > 0`` builds a
    ``cpp_standalone`` binary that runs each step's loops on that many OpenMP threads
    (Brian2's ``devices.cpp_standalone.openmp_threads``; 0: single-threaded). With
    ``SPIKESIM_BRIAN2_PROFILE=1`` in the environment the project (a separate cache entry)
    records Brian2's per-code-object timers; :meth:`Project.run` keeps the last run's as
    ``last_profiling_info.txt`` in the project folder.
    """
    global BUILDS
    from spikesim.engines import _brian2_model as model

    spec = model.spec_from_network(network, dt, duration, trials_per_run)
    opts = {
        "device": device,
        "capacity": int(capacity),
        "copies": int(copies),
        "extra_compile_args": extra_compile_args,
        "extra": extra,
        **(cuda or {}),
    }
    if openmp_threads:  # absent when 0, so the keys of existing builds stay valid
        if device != "cpp_standalone" or int(openmp_threads) < 0:
            raise EngineError(
                f"openmp_threads={openmp_threads!r}: a non-negative thread count, and only "
                "for the cpp_standalone device"
            )
        opts["openmp_threads"] = int(openmp_threads)
    if os.environ.get("SPIKESIM_BRIAN2_PROFILE") == "1":  # Brian2's per-code-object timers
        opts["profile"] = True
    root = cache_dir() if root is None else Path(root)
    key = project_key(spec, opts, network.structure_key())
    final = root / key
    if (final / "READY").exists():
        os.utime(final / "READY")
        return Project(final, spec)
    with _locked(root / f"{key}.lock"):
        if (final / "READY").exists():
            return Project(final, spec)
        if final.exists():  # left over by a crashed build
            shutil.rmtree(final, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=root))
        try:
            t0 = time.perf_counter()
            man = generate_project(spec, opts, tmp)
            t_gen = time.perf_counter() - t0
            t_make = compile_project(tmp, device)
            # Placeholder run (no input): check the synapse order Brian2 created.
            rdir = tmp / "runs" / "probe"
            rdir.mkdir(parents=True)
            _run_binary(tmp, rdir, [])
            info = {"generate_s": t_gen, "compile_s": t_make, "key": key}
            n_in = spec["inputs"].size
            for name, edges in man["synapses"].items():
                edges = np.asarray(edges, np.int64)
                got_pre = np.fromfile(rdir / man["results"][name + "_pre"], np.int32)
                got_post = np.fromfile(rdir / man["results"][name + "_post"], np.int32)
                if name == "syn_in":
                    copy = np.arange(edges.size) // max(1, spec["in_edges"].size)
                    want_pre = spec["slot"][edges] + n_in * copy
                else:
                    want_pre = spec["pre"][edges]
                if not (
                    np.array_equal(got_pre, want_pre)
                    and np.array_equal(got_post, spec["post"][edges])
                ):
                    raise EngineError(
                        f"Brian2 created the synapses of {name} in an unexpected order; "
                        "cannot map weights"
                    )
            shutil.rmtree(tmp / "runs", ignore_errors=True)
            (tmp / "READY").write_text(json.dumps(info))
            os.rename(tmp, final)
            BUILDS += 1
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    clean_cache(None, root=root)
    return Project(final, spec)


@contextlib.contextmanager
def _in_use(project: Project):
    with _locked(project.path.parent / f"{project.path.name}.lock", shared=True):
        if not (project.path / "READY").exists():
            raise EngineError(f"Brian2 project {project.path} was removed from the cache")
        yield


@register("brian2-standalone")
class Brian2StandaloneEngine(Engine):
    """Brian2 cpp_standalone engine: one compilation per network structure.

    Parameters
    ----------
    dt : float
        Time step in seconds (default 1e-4).
    capacity : int
        Input table entries (spiking (input neuron, step) pairs) per trial; grown to the
        next power of two when a trial needs more (a new build).
    trials_per_run : int
        Trials simulated back to back by one invocation of the binary (part of the
        build; a single ``run`` pads with empty trials).
    extra_compile_args : list of str, optional
        C++ compiler arguments replacing Brian2's defaults.
    cache : str or Path, optional
        Cache root (default :func:`cache_dir`).
    """

    name = "brian2-standalone"
    compiles_per_structure = True

    def __init__(
        self,
        dt: float = 1e-4,
        capacity: int = DEFAULT_CAPACITY,
        extra_compile_args: list[str] | None = None,
        cache: str | os.PathLike | None = None,
        trials_per_run: int = DEFAULT_TRIALS_PER_RUN,
    ):
        self.dt = check_dt(dt)
        for name, v in (("capacity", capacity), ("trials_per_run", trials_per_run)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise EngineError(f"unsupported option {name}={v!r}: a positive integer")
        self.capacity = capacity
        self.trials_per_run = trials_per_run
        self.extra_compile_args = None if extra_compile_args is None else list(extra_compile_args)
        self.cache = None if cache is None else Path(cache)

    def with_dt(self, dt: float) -> Brian2StandaloneEngine:
        """A copy with time step ``dt`` (seconds)."""
        return Brian2StandaloneEngine(
            dt, self.capacity, self.extra_compile_args, self.cache, self.trials_per_run
        )

    def __repr__(self) -> str:
        return f"Brian2StandaloneEngine(dt={self.dt!r}, capacity={self.capacity})"

    def project(self, network, duration: float, checked_inputs=()) -> Project:
        """The compiled project for ``network``, trial length ``duration`` (seconds) and
        input table sizes that fit ``checked_inputs``."""
        capacity, copies = table_size(network, self.dt, duration, checked_inputs, self.capacity)
        return ensure_project(
            network,
            self.dt,
            duration,
            capacity=capacity * self.trials_per_run,
            copies=copies,
            trials_per_run=self.trials_per_run,
            extra_compile_args=self.extra_compile_args,
            root=self.cache,
        )

    def _run(self, network, weights, times, neurons, duration, voltage_neurons, voltage_times):
        if voltage_neurons is not None:
            raise EngineError(
                "unsupported option voltage_neurons for engine 'brian2-standalone' (its "
                "binary records spikes only); use engine 'brian2' for voltages"
            )
        return self._run_batch(network, weights, [(times, neurons)], duration)[0]

    def _run_batch(self, network, weights, checked_inputs, duration):
        return run_trials(
            self.project(network, duration, checked_inputs),
            network,
            weights,
            checked_inputs,
            duration,
        )


def table_size(
    network, dt, duration, checked_inputs, capacity: int, *, min_copies: int = DEFAULT_COPIES
) -> tuple[int, int]:
    """Input table ``(capacity, copies)`` fitting every trial: at least ``capacity`` and
    ``min_copies``, capacity grown to the next power of two when a trial needs more (a new
    build)."""
    from spikesim.engines import _brian2_model as model

    spec = model.spec_from_network(network, dt, duration)
    need_cap, need_copies = 1, 1
    for times, neurons in checked_inputs:
        idx, _, copies = model.generator_arrays(spec, times, neurons)
        need_cap = max(need_cap, idx.size)
        need_copies = max(need_copies, copies)
    cap = capacity
    while cap < need_cap:
        cap *= 2
    return cap, max(min_copies, need_copies)


def run_trials(proj: Project, network, weights, checked_inputs, duration):
    """Run every trial on the compiled project (holding it in use); SpikeRecords."""
    out = []
    per_run = proj.spec["trials_per_run"]
    with _in_use(proj):
        for k in range(0, len(checked_inputs), per_run):
            chunk = checked_inputs[k : k + per_run]
            for (times, neurons), (idx, t) in zip(chunk, proj.run(weights, chunk), strict=True):
                out.append(assemble(network, times, neurons, idx, t, duration))
    return out


def bench_brian2(
    network,
    inputs,
    duration: float,
    dt: float,
    *,
    engine: str = "brian2-standalone",
    max_trials: int | None = None,
) -> dict:
    """Benchmark one Brian2 engine on ``inputs`` (list of input spikes).

    For ``brian2-standalone`` the project is compiled into a fresh temporary cache first
    (``compile_s``, reported apart), then every trial runs through ``run_batch``; likewise
    ``brian2-cuda``, whose build is its first trial (an :class:`EngineError` without a GPU). For the
    runtime engines (``brian2``, ``brian2-cython``) each trial builds its Brian2 objects,
    so at most ``max_trials`` trials are timed; the first (cython compilation) is a warm-up.

    Returns ``trials``, ``wall_s``, ``trials_per_s``, ``synaptic_events_per_trial``,
    ``synaptic_events_per_s``, ``compile_s`` (None for runtime engines) and ``dt``.
    """
    from spikesim.engines.base import get_engine
    from spikesim.record import check_input_spikes

    outdeg = np.bincount(network.pre, minlength=network.n_neurons)
    trials = list(inputs if max_trials is None else inputs[:max_trials])
    compile_s = None
    with tempfile.TemporaryDirectory(prefix="spikesim-bench-") as tmp:
        if engine == "brian2-standalone":
            eng = Brian2StandaloneEngine(dt=dt, cache=tmp)
            checked = [check_input_spikes(network, inp, duration) for inp in trials]
            t0 = time.perf_counter()
            eng.project(network, duration, checked)
            compile_s = time.perf_counter() - t0
        elif engine == "brian2-cuda":
            from spikesim.engines.brian2_cuda import CudaEngine

            eng = CudaEngine(dt=dt, cache=tmp)
            if not eng.available_here():  # nothing to time; skip generating a project
                raise EngineError(eng.unavailable_reason + "; nothing was measured")
            t0 = time.perf_counter()
            eng.run(network, trials[0], duration)  # nvcc build (raises without a GPU)
            compile_s = time.perf_counter() - t0
        else:
            eng = get_engine(engine).with_dt(dt)
            eng.run(network, trials[0], duration)  # warm-up (cython compiles here)
        t0 = time.perf_counter()
        recs = eng.run_batch(network, trials, duration)
        wall = time.perf_counter() - t0
    events = sum(int(np.dot(r.counts(), outdeg)) for r in recs)
    return {
        "trials": len(trials),
        "wall_s": wall,
        "trials_per_s": len(trials) / wall,
        "synaptic_events_per_trial": events / len(trials),
        "synaptic_events_per_s": events / wall,
        "compile_s": compile_s,
        "dt": dt,
    }
