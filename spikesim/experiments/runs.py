"""The run contract, the same for every kind: one way to start, skip and resume a run.

:func:`run_experiment` runs a resolved configuration into an output folder:

* the folder is locked while the run writes (:class:`~spikesim.training.FolderLock`); a
  second run into it is refused at once;
* ``run.json`` records the resolved configuration, the spikesim version, the git commit
  when run from a checkout, the dataset paths used and the command line;
* ``resume=True`` continues from the checkpoint; it is refused when the folder does not
  exist, holds no run, holds a run of another kind, or a configuration that differs in any
  key other than the run's length (the keys named by :attr:`TrainingKind.budget_keys`); the
  message names the keys and both values. A finished run resumed with the same length is
  read back;
* a key added to the schema after a run was recorded is absent from its ``run.json``.
  Where the configuration holds it at its default (the value the schema fills in,
  :func:`spikesim.experiments.config.filled_defaults`) it is no difference: the run
  behaves as recorded, so it resumes (its checkpoint is adopted, see
  :func:`_adopt_checkpoint`), is read back or is skipped. Set to any other value it is a
  difference like any other, its old value named ``not recorded (the default ...)``. A
  renamed key is not such a key: its old name in the record and its new one in the
  configuration differ as before. The rule is in one place, :func:`changed_keys` and
  :func:`same_config` (the restart rule of sweeps and comparisons), for every kind;
* without ``resume``, a folder holding another experiment's run is refused unless
  ``force=True``, which empties it first;
* every configuration error is raised before anything is written.

:func:`run_or_skip` is the restart rule of sweeps and comparisons. :func:`load_run`
reads a finished run back (:class:`Run`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikesim.errors import ConfigError, ValidationError
from spikesim.experiments.config import Kind, filled_defaults, get_kind
from spikesim.training import (
    CHECKPOINT,
    LOCK,
    RESULTS,
    FolderLock,
    Interrupted,
    RunLockedError,
    Schedule,
    Stepper,
    config_hash,
    lock_holder,
    read_checkpoint,
    train,
    write_checkpoint,
)

__all__ = [
    "NETWORK",
    "RUN_INFO",
    "Run",
    "TrainingKind",
    "as_recorded",
    "finished_results",
    "recorded_config",
    "changed_keys",
    "load_run",
    "plot_run",
    "run_experiment",
    "run_or_skip",
    "same_config",
]

RUN_INFO = "run.json"
NETWORK = "network.npz"
# keys that never make two configurations different experiments
_IGNORED = ("experiment.description",)


@dataclass(frozen=True)
class TrainingKind(Kind):
    """A kind trained by the one driver (:func:`spikesim.training.train`).

    Attributes
    ----------
    stepper : callable
        ``stepper(config) -> Stepper``: builds data, model and learner from a resolved
        config; every ConfigError must come from here, before training starts.
    schedule : callable
        ``schedule(config) -> Schedule``.
    plot : callable, optional
        ``plot(run, out_dir) -> list of Path``: draws the run's figures from its folder
        (:class:`Run`); used after training and by ``spikesim plot``.
    budget_keys : tuple of str
        Dotted keys that set only the length of the run (``"train.trials"``): they may
        change on resume (a longer run continues, a shorter one is refused).
    plots_key : str
        Dotted key of a boolean that turns the plots after training off ("": always on).
    """

    run: Callable[[dict, Path, bool], dict] | None = None
    stepper: Callable[[dict], Stepper] | None = None
    schedule: Callable[[dict], Schedule] | None = None
    plot: Callable[[Run, Path], list[Path]] | None = None
    budget_keys: tuple[str, ...] = ()
    plots_key: str = ""

    def __post_init__(self):
        if self.stepper is None or self.schedule is None:
            raise ValidationError(f"kind {self.name!r}: a TrainingKind needs stepper and schedule")
        if self.run is None:
            object.__setattr__(
                self,
                "run",
                lambda config, out, resume: run_experiment(config, out, resume=resume, force=True),
            )


@dataclass(frozen=True)
class Run:
    """A run read back from its folder (:func:`load_run`).

    Attributes
    ----------
    path : Path
    kind : str
    config : dict
        The resolved configuration (``run.json``).
    final : dict
        The final figures (``results.json``).
    initial : dict
        The metrics before training.
    curve : list of dict
        The learning curve: one record per evaluation (``step``, ``samples_seen``,
        ``wall_s``, metrics).
    details : dict
        The kind's other results.
    results : dict
        The whole ``results.json``.
    network : Network or None
        The trained network (``network.npz``; spiking runs).
    info : dict
        The whole ``run.json``.
    """

    path: Path
    kind: str
    config: dict
    final: dict
    initial: dict
    curve: list
    details: dict
    results: dict
    network: Any = None
    info: dict = field(default_factory=dict)


# -- reading folders ----------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def recorded_config(out_dir: str | Path) -> dict | None:
    """The configuration recorded in ``out_dir/run.json``, or None."""
    info = _read_json(Path(out_dir) / RUN_INFO)
    cfg = info.get("config") if isinstance(info, dict) else None
    return cfg if isinstance(cfg, dict) else None


def finished_results(out_dir: str | Path, config: Mapping[str, Any]) -> dict | None:
    """The results of a finished run of ``config`` in ``out_dir``, or None.

    Finished: ``results.json`` parses and ``run.json`` records the same configuration
    (:func:`same_config`).
    """
    out = Path(out_dir)
    if not same_config(recorded_config(out), config):
        return None
    res = _read_json(out / RESULTS)
    return res if isinstance(res, dict) else None


def as_recorded(config: Mapping[str, Any]) -> Any:
    """A configuration as it reads back from ``run.json`` (JSON types only)."""
    from spikesim.io import strict_json

    return json.loads(json.dumps(strict_json(dict(config))))


def _flat(config: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for t, tab in config.items():
        if isinstance(tab, Mapping):
            for k, v in tab.items():
                out[f"{t}.{k}"] = v
        else:
            out[t] = tab
    return out


@dataclass(frozen=True)
class _Unrecorded:
    """A key the recorded configuration lacks, and the default the schema fills in."""

    default: Any


def _compare(
    old: Mapping[str, Any], new: Mapping[str, Any], skip: set[str]
) -> tuple[list[tuple[str, Any, Any]], list[str]]:
    """The differences of a recorded configuration ``old`` and ``new`` (the old value an
    :class:`_Unrecorded` for a key ``old`` lacks that has a default), and the keys ``old``
    lacks that ``new`` holds at their default (no difference: the run behaves the same)."""
    recorded = as_recorded(old)
    a, b = _flat(recorded), _flat(as_recorded(new))
    filled = as_recorded(filled_defaults(recorded))
    diff, defaulted = [], []
    for k in sorted(set(a) | set(b)):
        if k in skip:
            continue
        if k not in a and k in filled:
            if b[k] == filled[k]:
                defaulted.append(k)
            else:
                diff.append((k, _Unrecorded(filled[k]), b[k]))
        elif a.get(k) != b.get(k):
            diff.append((k, a.get(k), b.get(k)))
    return diff, defaulted


def changed_keys(
    old: Mapping[str, Any], new: Mapping[str, Any], ignore: Sequence[str] = ()
) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every key a recorded configuration
    ``old`` and ``new`` differ in, sorted by key.

    A key missing on one side has value None there, except that a key ``old`` lacks and
    ``new`` holds at the value the schema fills in for it is no difference: a key added to
    the schema after ``old`` was recorded, at its default
    (:func:`~spikesim.experiments.config.filled_defaults`).
    ``experiment.description`` and the keys in ``ignore`` are never differences.
    """
    diff, _ = _compare(old, new, set(ignore) | set(_IGNORED))
    return [(k, None if isinstance(o, _Unrecorded) else o, n) for k, o, n in diff]


def same_config(recorded: Mapping[str, Any] | None, config: Mapping[str, Any]) -> bool:
    """Whether a recorded configuration (``run.json``; None: none) is ``config``: no key
    differs, as :func:`changed_keys` counts them, ``experiment.description`` included."""
    return recorded is not None and not _compare(recorded, config, set())[0]


def _describe(diff: list[tuple[str, Any, Any]]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, _Unrecorded):
            return f"not recorded (the default {json.dumps(v.default)})"
        return json.dumps(v)

    shown = [f"{k}: {value(o)} -> {value(n)}" for k, o, n in diff[:8]]
    more = f" and {len(diff) - 8} more" if len(diff) > 8 else ""
    return "; ".join(shown) + more


def _kind(config: Mapping[str, Any]) -> Kind:
    return get_kind(config["experiment"]["kind"])


# -- the contract --------------------------------------------------------------------------


def _check_folder(kind: Kind, config: dict, out: Path, *, resume: bool, force: bool) -> str:
    """``"fresh"``, ``"resume"`` or ``"finished"``; raises ConfigError when refused."""
    holder = lock_holder(out)
    if holder is not None:
        raise RunLockedError(
            f"{out} is in use by another run ({holder}); wait for it to finish or choose "
            "another --out"
        )
    old = recorded_config(out)
    budget = kind.budget_keys if isinstance(kind, TrainingKind) else ()
    if resume:
        if not out.is_dir():
            raise ConfigError(f"--resume: {out} does not exist; nothing to resume")
        if old is None:
            raise ConfigError(
                f"--resume: {out} holds no run ({RUN_INFO} missing); nothing to resume"
            )
        old_kind = old.get("experiment", {}).get("kind")
        if old_kind != kind.name:
            raise ConfigError(
                f"--resume: {out} holds a run of kind {old_kind!r}; this experiment is of "
                f"kind {kind.name!r}"
            )
        if not isinstance(kind, TrainingKind):
            return "resume"  # a collection of runs (compare): each run applies the rule
        diff, _ = _compare(old, config, {*budget, *_IGNORED})
        if diff:
            raise ConfigError(
                f"--resume: the configuration differs from the one recorded in "
                f"{out / RUN_INFO} in {', '.join(k for k, _, _ in diff)} ({_describe(diff)}); "
                "undo the change, or start a new run with another --out (or --force)"
            )
        if not changed_keys(old, config) and isinstance(_read_json(out / RESULTS), dict):
            return "finished"
        return "resume"
    diff, _ = _compare(old, config, set(_IGNORED)) if old is not None else ([], [])
    if diff and not force:
        was = old.get("experiment", {}) if isinstance(old, Mapping) else {}
        now = config["experiment"]
        if (was.get("kind"), was.get("name")) != (now["kind"], now["name"]):
            what = f"experiment {was.get('name')!r} (kind {was.get('kind')!r})"
        else:
            what = f"another configuration ({_describe(diff)})"
        raise ConfigError(
            f"{out} holds the results of {what}; choose another --out, or pass --force to "
            "empty the folder first"
        )
    return "fresh"


def _empty(out: Path) -> None:
    if not out.is_dir():
        return
    for p in out.iterdir():
        if p.name == LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _stale(out: Path) -> None:
    """Remove a previous run's outputs that a fresh run would not overwrite at once."""
    from spikesim.training import TIMING

    for name in (RESULTS, CHECKPOINT, TIMING, NETWORK, "error.txt"):
        (out / name).unlink(missing_ok=True)


def _check_length(kind: TrainingKind, stepper: Stepper, out: Path) -> None:
    ckpt = out / CHECKPOINT
    if not ckpt.is_file():
        return
    try:
        step = read_checkpoint(ckpt).step
    except ValidationError as exc:
        raise ConfigError(f"--resume: {exc}") from None
    if step > stepper.total:
        keys = " / ".join(kind.budget_keys) or "its length"
        raise ConfigError(
            f"--resume: the checkpoint in {out} holds {step} steps ({stepper.unit}s), more "
            f"than this configuration's {stepper.total} ({keys}); resume with at least as "
            "many, or start again with --force"
        )


def _adopt_checkpoint(kind: TrainingKind, config: dict, out: Path) -> None:
    """Give a checkpoint written before keys were added to the schema this configuration's
    hash.

    Such a checkpoint holds the hash of the configuration without the keys that
    ``run.json`` lacks and ``config`` holds at their default (:func:`changed_keys`); it is
    rewritten (atomically, only its ``config_hash``) before ``run.json`` records them, so
    that the folder is consistent at every moment: a run killed in between resumes too.
    """
    old = recorded_config(out)
    ckpt = out / CHECKPOINT
    if old is None or not ckpt.is_file():
        return
    _, added = _compare(old, config, set())
    if not added:
        return
    exclude = (*kind.budget_keys, *_IGNORED)
    legacy = {t: dict(v) if isinstance(v, Mapping) else v for t, v in config.items()}
    for key in added:
        table, _, name = key.partition(".")
        legacy[table].pop(name)
        if not legacy[table] and table not in old:
            del legacy[table]
    now, was = config_hash(config, exclude=exclude), config_hash(legacy, exclude=exclude)
    cp = read_checkpoint(ckpt)
    if cp.meta.get("config_hash") == was != now:
        write_checkpoint(ckpt, cp.arrays, {**cp.meta, "config_hash": now})


def run_experiment(
    config: Mapping[str, Any],
    out_dir: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    command: Sequence[str] | None = None,
) -> dict:
    """Run a resolved configuration into ``out_dir`` under the run contract.

    Parameters
    ----------
    config : mapping
        A resolved configuration (:func:`spikesim.experiments.resolve`).
    out_dir : path
    resume : bool
        Continue the run in ``out_dir`` (see the module docstring for what is refused).
    force : bool
        Empty a folder holding another experiment's run first.
    command : sequence of str, optional
        The command line, recorded in ``run.json`` and used in the hint printed on Ctrl-C.

    Returns
    -------
    dict
        The results (also in ``out_dir/results.json``).

    Raises
    ------
    ConfigError
        Refused as described above (nothing written).
    RunLockedError
        Another process writes into ``out_dir``.
    Interrupted
        Ctrl-C: a checkpoint was written; the message says how to resume.
    """
    config = dict(config)
    kind = _kind(config)
    out = Path(out_dir)
    state = _check_folder(kind, config, out, resume=resume, force=force)
    if state == "finished":
        return _read_json(out / RESULTS)
    stepper = None
    if isinstance(kind, TrainingKind):
        stepper = kind.stepper(config)  # every data/model error before anything is written
        if state == "resume":
            _check_length(kind, stepper, out)
    with FolderLock(out):
        if force and not resume:
            _empty(out)
        elif state == "fresh":
            _stale(out)
        else:  # resuming: the results of a shorter run are no longer this run's
            (out / RESULTS).unlink(missing_ok=True)
            if stepper is not None:
                _adopt_checkpoint(kind, config, out)  # before run.json records new keys
        from spikesim.experiments.runinfo import write_run_info

        write_run_info(out, config, command=command, data_paths=data_paths(config))
        if stepper is None:  # a kind with its own loop (compare: a collection of runs)
            results = kind.run(config, out, resume)
            if not (out / RESULTS).is_file() and isinstance(results, dict):
                from spikesim.io import write_json

                write_json(out / RESULTS, results)
            return results
        try:
            results = train(
                stepper,
                kind.schedule(config),
                out_dir=out,
                kind=kind.name,
                config_hash=config_hash(config, exclude=(*kind.budget_keys, *_IGNORED)),
                name=run_label(config, out),
                resume=state == "resume",
                header={"experiment": config["experiment"]},
            )
        except Interrupted as exc:
            how = (
                " ".join([*command, "--resume"] if "--resume" not in command else command)
                if command
                else f"run_experiment(config, {str(out)!r}, resume=True)"
            )
            raise Interrupted(
                f"{exc}; resume with: {how}", step=exc.step, checkpoint=exc.checkpoint
            ) from None
        if kind.plot is not None and _plots_on(kind, config):
            kind.plot(load_run(out), out)
    return results


def _plots_on(kind: TrainingKind, config: Mapping[str, Any]) -> bool:
    if not kind.plots_key:
        return True
    table, _, key = kind.plots_key.partition(".")
    return bool(config.get(table, {}).get(key, True))


def data_paths(config: Mapping[str, Any]) -> dict[str, str | None]:
    """The dataset files a configuration reads: ``{dataset name: directory}`` (None for
    data built in or generated)."""
    task = config.get("task")
    if not isinstance(task, Mapping) or "dataset" not in task:
        return {}
    name = task["dataset"]
    path = task.get("path") or task.get("data_path") or None
    if name not in ("fashion-mnist", "mnist"):
        return {name: None}
    from spikesim.data.images import candidate_dirs

    found = next((d for d in candidate_dirs(name, path) if d.is_dir()), None)
    return {name: str(found.resolve()) if found is not None else path}


def run_or_skip(config: Mapping[str, Any], out_dir: str | Path) -> tuple[dict, str]:
    """The restart rule of sweeps and comparisons, for one run in its own folder.

    A folder recording the same configuration with ``results.json`` is read back
    (``"skipped"``); one recording it without results (interrupted) is resumed
    (``"resumed"``); any other folder is emptied and run from scratch (``"ran"``).

    Returns
    -------
    (dict, str)
        The results and what was done.
    """
    out = Path(out_dir)
    done = finished_results(out, config)
    if done is not None:
        return done, "skipped"
    if same_config(recorded_config(out), config):
        return run_experiment(config, out, resume=True), "resumed"
    return run_experiment(config, out, force=True), "ran"


# -- runs as data ---------------------------------------------------------------------------


def load_run(path: str | Path) -> Run:
    """Read a finished run back from its folder.

    Returns
    -------
    Run
        Configuration, curve, final figures and (spiking runs) the trained network.

    Raises
    ------
    ValidationError
        The folder does not exist or holds no finished run (the message says what is
        missing).
    """
    out = Path(path)
    if not out.is_dir():
        raise ValidationError(f"{out}: no such run folder")
    info = _read_json(out / RUN_INFO)
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        raise ValidationError(f"{out}: no readable {RUN_INFO}; not a spikesim run folder")
    res = _read_json(out / RESULTS)
    if not isinstance(res, dict):
        raise ValidationError(f"{out}: no readable {RESULTS}; the run has not finished")
    network = None
    if (out / NETWORK).is_file():
        from spikesim.io import load_network

        network = load_network(out / NETWORK)
    config = info["config"]
    return Run(
        path=out,
        kind=config["experiment"]["kind"],
        config=config,
        final=dict(res.get("final", {})),
        initial=dict(res.get("initial", {})),
        curve=list(res.get("curve", [])),
        details=dict(res.get("details", {})),
        results=res,
        network=network,
        info=info,
    )


def plot_run(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Redraw a finished run's figures from its folder, into ``out_dir`` (default: the
    run's folder); returns the files written."""
    run = load_run(path)
    kind = _kind(run.config)
    if not isinstance(kind, TrainingKind) or kind.plot is None:
        raise ValidationError(f"{run.path}: kind {kind.name!r} has no figures to redraw")
    out = Path(out_dir) if out_dir is not None else run.path
    out.mkdir(parents=True, exist_ok=True)
    return list(kind.plot(run, out))


def run_label(config: Mapping[str, Any], out: Path) -> str:
    """The progress bar's label: ``experiment.name``, or when that is the default
    ("experiment") the run folder's name (a comparison's learner label), with the kind."""
    name = config["experiment"]["name"]
    if name == "experiment":
        name = Path(out).name or name
    return f"{name} ({config['experiment']['kind']})"
