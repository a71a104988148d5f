"""Brian2 standalone projects: generated, compiled once per structure, cached, run.

Shared by the ``brian2-standalone`` and ``brian2-cuda`` engines
(:mod:`spikesim.engines.brian2.standalone`, :mod:`spikesim.engines.brian2.cuda`) and by the
Brian2-native learning rule (:mod:`spikesim.plasticity.brian2_rule`).

* **One binary per structure.** The project is generated for everything except the
  weights and the input spikes. ``Network.structure_key()``, the model spec's dt, trial
  length and trials per run, the :class:`~spikesim.engines.brian2.options.BuildOptions`
  (input table sizes, compiler arguments, ...), the Brian2 version and the source of the
  generating modules form the cache key. Weights (``syn_*.w``) and the input spike tables
  (``inputs.ptr``, ``inputs.pend``, ``in_step.values``; see
  :mod:`spikesim.engines.brian2.model`) are passed to the binary on its command line
  (Brian2's ``run_args`` mechanism: ``name=file``), so a new trial never recompiles.
  One invocation simulates ``trials_per_run`` trials back to back (state reset between
  them, see :func:`spikesim.engines.brian2.model.spec_from_network`), which spreads the
  binary's fixed start-up cost (creating the synapses, writing results) over them.
* **No global device in this process.** The code is generated in a child process
  (:mod:`spikesim.engines.brian2.codegen`, given the spec and ``options.json``); this
  process runs ``make`` (capturing the compiler's messages for
  :class:`~spikesim.errors.EngineError`) and then runs the binary directly, reading the
  spike monitor's result files. Brian2 in this process stays on the runtime device, so
  the ``brian2`` engine keeps working alongside.
* **Cache.** Projects live in :func:`cache_dir` (``$SPIKESIM_BRIAN2_CACHE``, else
  ``$SPIKESIM_CACHE/brian2``, else ``~/.cache/spikesim/brian2``) as ``<key>/``. A build
  happens under an exclusive ``flock`` on ``<key>.lock`` in a private temporary directory
  which is renamed into place when complete (so a crashed build never leaves a half
  project behind, and a second process waiting on the lock finds the finished project).
  Runs hold a shared lock and use a private results directory (``--results_dir``), so
  concurrent runs of one binary from several processes do not collide. After each build
  the least recently used projects beyond ``SPIKESIM_BRIAN2_CACHE_MAX`` (default 16) are
  deleted (skipping ones in use); :func:`clean_cache` deletes them explicitly.
* :data:`BUILDS` counts the compilations done by this process (tests assert on it).
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from spikesim.engines.brian2 import model
from spikesim.engines.brian2.codegen import write_spec
from spikesim.engines.brian2.common import assemble
from spikesim.engines.brian2.options import DEFAULT_COPIES, BuildOptions
from spikesim.errors import EngineError

__all__ = [
    "BUILDS",
    "Project",
    "cache_dir",
    "clean_cache",
    "ensure_project",
    "in_use",
    "project_key",
    "run_trials",
    "table_size",
]

#: Number of projects compiled by this process (``make`` runs that succeeded).
BUILDS = 0

#: The modules whose source generates a project (part of the cache key).
_GENERATORS = ("model.py", "codegen.py", "options.py")


def cache_dir() -> Path:
    """Root of the Brian2 project cache: ``$SPIKESIM_BRIAN2_CACHE`` if set, else
    ``$SPIKESIM_CACHE/brian2``, else ``~/.cache/spikesim/brian2``."""
    own = os.environ.get("SPIKESIM_BRIAN2_CACHE")
    if own:
        return Path(own)
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


def generate_project(spec: dict, opts: BuildOptions, directory: Path) -> dict:
    """Generate the project's code into ``directory`` (child process); returns the manifest.

    The child reads ``spec.npz`` (the model spec) and ``options.json`` (``opts``) written
    here (:mod:`spikesim.engines.brian2.codegen`).
    """
    directory.mkdir(parents=True, exist_ok=True)
    spec_path = directory / "spec.npz"
    options_path = directory / "options.json"
    write_spec(spec, spec_path)
    options_path.write_text(opts.to_json())
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spikesim.engines.brian2.codegen",
            str(spec_path),
            str(options_path),
            str(directory),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise EngineError(f"Brian2 code generation ({opts.device}) failed:\n{_tail(proc.stderr)}")
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


def project_key(spec: dict, opts: BuildOptions, structure_key: str) -> str:
    """The cache key of a project: structure, clock, options, versions, generator source."""
    import importlib.metadata

    h = hashlib.sha1()
    h.update(structure_key.encode())
    h.update(repr((spec["dt"], spec["n_steps"])).encode())
    h.update(opts.to_json().encode())
    h.update(importlib.metadata.version("brian2").encode())
    if opts.device == "cuda_standalone":
        h.update(importlib.metadata.version("brian2cuda").encode())
    for mod in _GENERATORS:  # the code that generates it
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
    opts: BuildOptions,
    *,
    trials_per_run: int = 1,
    root: Path | None = None,
) -> Project:
    """The compiled project for ``network``'s structure: from the cache, or built now.

    Parameters
    ----------
    network : Network
    dt, duration : float
        Time step and trial length (seconds).
    opts : BuildOptions
        How to build (device, input table size, compiler arguments, ...).
    trials_per_run : int
        Trials simulated back to back by one invocation of the binary.
    root : Path, optional
        Cache root (default :func:`cache_dir`).

    With ``SPIKESIM_BRIAN2_PROFILE=1`` in the environment the project (a separate cache
    entry: ``opts.profile`` is set) records Brian2's per-code-object timers;
    :meth:`Project.run` keeps the last run's as ``last_profiling_info.txt`` in the project
    folder.
    """
    global BUILDS
    if not isinstance(opts, BuildOptions):
        raise TypeError(f"opts must be a BuildOptions record, got {type(opts).__name__}")
    spec = model.spec_from_network(network, dt, duration, trials_per_run)
    if os.environ.get("SPIKESIM_BRIAN2_PROFILE") == "1":  # Brian2's per-code-object timers
        opts = dataclasses.replace(opts, profile=True)
    device = opts.device
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
def in_use(project: Project):
    """Hold ``project`` in use (a shared lock: the cache cleaner skips it) while running."""
    with _locked(project.path.parent / f"{project.path.name}.lock", shared=True):
        if not (project.path / "READY").exists():
            raise EngineError(f"Brian2 project {project.path} was removed from the cache")
        yield


def table_size(
    network, dt, duration, checked_inputs, capacity: int, *, min_copies: int = DEFAULT_COPIES
) -> tuple[int, int]:
    """Input table ``(capacity, copies)`` fitting every trial: at least ``capacity`` and
    ``min_copies``, capacity grown to the next power of two when a trial needs more (a new
    build)."""
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
    with in_use(proj):
        for k in range(0, len(checked_inputs), per_run):
            chunk = checked_inputs[k : k + per_run]
            for (times, neurons), (idx, t) in zip(chunk, proj.run(weights, chunk), strict=True):
                out.append(assemble(network, times, neurons, idx, t, duration))
    return out
