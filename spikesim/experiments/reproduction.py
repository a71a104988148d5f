"""The reproduction table as data: ``experiments/reproduction.toml``, its tables, its check.

Every number of the README's reproduction table (and of the tables in ``docs/`` that are
generated from it) is a *measure* of the data file: the command that produces it, the seeds,
the recorded value per seed, the tolerance, whether it is exact across machines, the wall
time it took and the date and commit it was measured at. The tables are *rows* whose cells
are templates over the measures; :func:`render_table` turns them into Markdown and
:func:`write_tables` puts them between the markers of their file, so a table cannot
drift from the data. :func:`check` reruns the measures whose recorded wall time fits a
budget (cheapest first) and says, per measure, whether it reproduced.

The file (TOML)::

    [tables.readme]                  # one table: the file it lives in and its columns
    file = "README.md"
    columns = ["result", "command", "measured", "target"]
    headers = ["result", "command", "measured", "target"]   # optional, default columns

    [[measure]]
    id = "fmnist-bp"                 # [a-z0-9-]; what --only names and templates use
    claim = "bp 784-500-10, Fashion-MNIST, test accuracy after 40 epochs"
    command = "spikesim train experiments/fmnist-bp.toml --out {out} --set experiment.seed={seed}"
    read = "results.json:final.test_accuracy"   # FILE (under {out}) or 'stdout', ':' key path
    seeds = [0, 1, 2]                # optional; then the command must use {seed}
    value = [0.8943, 0.8976, 0.8982] # one number per seed (a number without seeds)
    reproducible = "tolerance"       # 'exact' | 'tolerance' | 'machine'
    tolerance = 0.005                # absolute, in the value's unit; 0 for 'exact'
    wall_s = 100                     # measured wall time of one seed's run, seconds
    measured = 2026-12-02            # the date (a TOML date) and ...
    commit = "b0009b6"               # ... the commit the value was measured at
    note = "..."                     # optional

    [[row]]
    table = "readme"                 # optional, default 'readme'
    result = "bp, Fashion-MNIST 784-500-10"
    command = "`spikesim train experiments/fmnist-bp.toml ...`"
    measured = "{fmnist-bp.pct.mean:.2f} ± {fmnist-bp.pct.sd:.2f}% (3 seeds)"
    target = ">= 89.5%"

``reproducible``: ``exact`` values come out to the last digit on every machine (the Numba
paths and seeded NumPy generators: the order of every sum is fixed by the code);
``tolerance`` values go through BLAS, whose summation order depends on the library, the
CPU and the thread count, and training amplifies that rounding; ``machine`` values are
speeds, which depend on the machine (``check`` skips them unless ``--only`` names them).
A measure without ``command`` (a number put together from several runs by a script)
stays in the table and is skipped by ``check``.

A command is a Python format string: ``{seed}`` and ``{out}`` (a fresh temporary folder)
are filled in, literal braces are doubled. It is split as a shell would split it; leading
``NAME=VALUE`` words set environment variables, ``spikesim`` runs this interpreter's
``python -m spikesim.cli`` and ``python`` this interpreter. It runs in the repository root
(the parent of the data file's folder).

Templates: ``{ID}`` is the measure's value (several seeds print as ``a / b / c``), and
``{ID.pct}`` the same times 100; ``.mean``, ``.sd`` (sample standard deviation), ``.min``,
``.max`` and ``[i]`` (the i-th seed) give one number; any Python format spec follows a
colon, ``{ID.pct.mean:.2f}``. Literal braces are doubled.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import shlex
import string
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from spikesim.errors import ConfigError

DEFAULT_FILE = Path("experiments") / "reproduction.toml"
REPRODUCIBLE = ("exact", "tolerance", "machine")
STATUSES = ("reproduced", "drifted", "failed", "skipped")  # Outcome.status

_ID = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_COMMIT = re.compile(r"[0-9a-f]{7,40}\Z")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_MEASURE_KEYS = {
    "id",
    "claim",
    "command",
    "read",
    "seeds",
    "value",
    "reproducible",
    "tolerance",
    "wall_s",
    "measured",
    "commit",
    "note",
}
_MEASURE_REQUIRED = ("id", "claim", "value", "reproducible", "measured", "commit")


class Measure(NamedTuple):
    """One measured number (per seed) and how to measure it again.

    Attributes
    ----------
    id : str
        Name used by ``--only`` and by the table templates.
    claim : str
        What the number is.
    command : str or None
        Format string (``{seed}``, ``{out}``) of the command that measures it; None when no
        single command does.
    read : str or None
        ``"FILE:key.path"`` (FILE relative to ``{out}``) or ``"stdout:key.path"``: where the
        value is in the command's JSON output.
    seeds : tuple of int
        The seeds measured, ``()`` for a command without seed.
    values : tuple of float
        The recorded value per seed, ``(n_seeds,)`` (one value when ``seeds`` is empty).
    reproducible : str
        ``"exact"``, ``"tolerance"`` or ``"machine"`` (see the module docstring).
    tolerance : float
        Largest absolute difference accepted by :func:`check`, in the value's unit.
    wall_s : float or None
        Recorded wall time of one run of the command, seconds (a command with ``{seed}``
        runs once per seed).
    measured : datetime.date
        When the values were measured.
    commit : str
        The commit they were measured at.
    note : str
        Free text (how, where, caveats).
    """

    id: str
    claim: str
    command: str | None
    read: str | None
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    reproducible: str
    tolerance: float
    wall_s: float | None
    measured: datetime.date
    commit: str
    note: str

    @property
    def runs_per_seed(self) -> bool:
        """Whether the command runs once per seed (it uses ``{seed}``), or once for all
        (it measures every seed; ``read`` picks one with ``{seed}``)."""
        return self.command is not None and "seed" in _fields(self.command, self.id)

    @property
    def cost_s(self) -> float | None:
        """Recorded wall time of all its runs, seconds (None when not recorded)."""
        if self.wall_s is None:
            return None
        return self.wall_s * (max(1, len(self.seeds)) if self.runs_per_seed else 1)


class Table(NamedTuple):
    """A generated table: its name, the file it lives in (relative to the root), its
    column keys (what rows name) and their headers (what the table shows)."""

    name: str
    file: str
    columns: tuple[str, ...]
    headers: tuple[str, ...]


class Row(NamedTuple):
    """One row of a table: the table's name and one template per column."""

    table: str
    cells: tuple[str, ...]
    where: str


class Reproduction(NamedTuple):
    """The parsed data file: measures by id, tables by name, rows in file order, the root
    folder the commands run in and the files are relative to."""

    measures: dict[str, Measure]
    tables: dict[str, Table]
    rows: tuple[Row, ...]
    root: Path
    path: Path


# -- reading -----------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fields(template: str, where: str) -> list[str]:
    """The field names of a format string (ConfigError naming ``where`` when malformed)."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc} in {template!r} (double literal braces)") from None


def _measure(raw: Any, index: int, path: Path) -> Measure:
    where = f"{path}: measure #{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table, got {raw!r}")
    if isinstance(raw.get("id"), str):
        where = f"{path}: measure {raw['id']!r}"
    unknown = sorted(set(raw) - _MEASURE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (keys: {sorted(_MEASURE_KEYS)})")
    for key in _MEASURE_REQUIRED:
        if key not in raw:
            raise ConfigError(f"{where}: key {key!r} is missing")

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{where}: key {key!r} {why}, got {raw.get(key)!r}")

    if not isinstance(raw["id"], str) or not _ID.match(raw["id"]):
        raise bad("id", "must be lower-case letters, digits and '-'")
    for key in ("claim", "note"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            raise bad(key, "must be a non-empty string")
    if raw["reproducible"] not in REPRODUCIBLE:
        raise bad("reproducible", f"must be one of {', '.join(REPRODUCIBLE)}")
    seeds = raw.get("seeds", [])
    if not isinstance(seeds, list) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise bad("seeds", "must be a list of non-negative integers")
    if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
        raise bad("seeds", "must not repeat a seed")
    value = raw["value"]
    values = value if isinstance(value, list) else [value]
    if not values or not all(_number(v) and math.isfinite(v) for v in values):
        raise bad("value", "must be a finite number or a list of them")
    if len(values) != max(1, len(seeds)):
        raise bad("value", f"must have one number per seed ({max(1, len(seeds))})")
    tolerance = raw.get("tolerance", 0.0)
    if not _number(tolerance) or not math.isfinite(tolerance) or tolerance < 0:
        raise bad("tolerance", "must be a number >= 0")
    if raw["reproducible"] == "exact" and tolerance != 0:
        raise bad("tolerance", "must be 0 for an exact measure")
    if raw["reproducible"] != "exact" and tolerance == 0:
        raise bad("tolerance", f"must be > 0 for a {raw['reproducible']!r} measure")
    wall_s = raw.get("wall_s")
    if wall_s is not None and (not _number(wall_s) or not wall_s > 0):
        raise bad("wall_s", "must be a number of seconds > 0")
    if not isinstance(raw["measured"], datetime.date) or isinstance(
        raw["measured"], datetime.datetime
    ):
        raise bad("measured", "must be a TOML date (2026-12-02)")
    if not isinstance(raw["commit"], str) or not _COMMIT.match(raw["commit"]):
        raise bad("commit", "must be a commit hash (7 to 40 hex digits)")
    command, read = raw.get("command"), raw.get("read")
    if (command is None) != (read is None):
        raise ConfigError(f"{where}: keys 'command' and 'read' go together (one is missing)")
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise bad("command", "must be a non-empty string")
        fields = set(_fields(command, f"{where}: key 'command'"))
        if fields - {"seed", "out"}:
            raise bad("command", f"may use only {{seed}} and {{out}}, not {sorted(fields)}")
        if not isinstance(read, str) or ":" not in read or not read.split(":", 1)[1]:
            raise bad("read", "must be 'FILE:key.path' or 'stdout:key.path'")
        read_fields = set(_fields(read, f"{where}: key 'read'"))
        if read_fields - {"seed"}:
            raise bad("read", f"may use only {{seed}}, not {sorted(read_fields)}")
        if seeds and "seed" not in fields | read_fields:
            raise bad("command", "must use {seed} (or 'read' must: the measure has seeds)")
        if not seeds and "seed" in fields | read_fields:
            raise bad("command", "uses {seed} but the measure has no 'seeds'")
        if read.split(":", 1)[0] != "stdout" and "out" not in fields:
            raise bad("command", f"must write under {{out}} to be read from {read!r}")
    return Measure(
        id=raw["id"],
        claim=raw["claim"],
        command=command,
        read=read,
        seeds=tuple(seeds),
        values=tuple(float(v) for v in values),
        reproducible=raw["reproducible"],
        tolerance=float(tolerance),
        wall_s=None if wall_s is None else float(wall_s),
        measured=raw["measured"],
        commit=raw["commit"],
        note=raw.get("note", ""),
    )


def _tables(raw: Any, path: Path) -> dict[str, Table]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: [tables] must name at least one table")
    tables = {}
    for name, spec in raw.items():
        where = f"{path}: table {name!r}"
        if not _ID.match(name):
            raise ConfigError(f"{where}: a name must be lower-case letters, digits and '-'")
        if not isinstance(spec, dict) or not {"file", "columns"} <= set(spec) <= {
            "file",
            "columns",
            "headers",
        }:
            raise ConfigError(f"{where}: must have the keys 'file', 'columns' (and 'headers')")
        columns = spec["columns"]
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) and _ID.match(c) for c in columns)
            or "table" in columns
            or len(set(columns)) != len(columns)
        ):
            raise ConfigError(f"{where}: key 'columns' must list column keys, got {columns!r}")
        if not isinstance(spec["file"], str) or not spec["file"]:
            raise ConfigError(f"{where}: key 'file' must be a path, got {spec['file']!r}")
        headers = spec.get("headers", columns)
        if (
            not isinstance(headers, list)
            or len(headers) != len(columns)
            or not all(isinstance(h, str) and h and "|" not in h for h in headers)
        ):
            raise ConfigError(
                f"{where}: key 'headers' must give one header per column, got {headers!r}"
            )
        tables[name] = Table(name, spec["file"], tuple(columns), tuple(headers))
    return tables


def _row(raw: Any, index: int, tables: dict[str, Table], path: Path) -> Row:
    where = f"{path}: row #{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table, got {raw!r}")
    name = raw.get("table", "readme")
    if name not in tables:
        raise ConfigError(f"{where}: key 'table' names no table: {name!r} ({sorted(tables)})")
    columns = tables[name].columns
    if raw.get(columns[0]):
        where = f"{where} ({str(raw[columns[0]])[:40]!r})"
    keys = set(raw) - {"table"}
    if keys != set(columns):
        extra, missing = sorted(keys - set(columns)), sorted(set(columns) - keys)
        what = f"unknown key {extra[0]!r}" if extra else f"key {missing[0]!r} is missing"
        raise ConfigError(f"{where}: {what} (table {name!r} has columns {list(columns)})")
    for column in columns:
        cell = raw[column]
        if not isinstance(cell, str) or "\n" in cell:
            raise ConfigError(f"{where}: key {column!r} must be one line of text, got {cell!r}")
        _fields(cell, f"{where}: key {column!r}")
    return Row(name, tuple(raw[c] for c in columns), where)


def load(path: str | os.PathLike = DEFAULT_FILE, *, root: str | os.PathLike | None = None):
    """Read and check the data file.

    Parameters
    ----------
    path : path-like
        The TOML file (default ``experiments/reproduction.toml``).
    root : path-like, optional
        The folder commands run in and table files are relative to; default the parent of
        the file's folder.

    Returns
    -------
    Reproduction

    Raises
    ------
    ConfigError
        A bad measure, table or row, naming it and the key; a template naming an unknown
        measure or failing to format.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such reproduction file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - {"tables", "measure", "row"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r}")
    tables = _tables(raw.get("tables"), path)
    measures: dict[str, Measure] = {}
    for i, item in enumerate(raw.get("measure", [])):
        m = _measure(item, i, path)
        if m.id in measures:
            raise ConfigError(f"{path}: measure {m.id!r}: key 'id' is used twice")
        measures[m.id] = m
    rows = tuple(_row(item, i, tables, path) for i, item in enumerate(raw.get("row", [])))
    repro = Reproduction(
        measures, tables, rows, Path(root) if root else path.resolve().parent.parent, path
    )
    for row in rows:  # every template formats: an unknown id is an error now, not later
        _render_row(row, repro)
    return repro


# -- tables ------------------------------------------------------------------------------


class Value:
    """A measure's values as a template sees them (``{id}``, ``{id.pct.mean:.2f}``)."""

    def __init__(self, values: Sequence[float], scale: float = 1.0):
        self._values = tuple(v * scale for v in values)
        self._scale = scale

    @property
    def pct(self) -> Value:
        """The values times 100."""
        return Value(self._values, 100.0)

    @property
    def mean(self) -> float:
        return math.fsum(self._values) / len(self._values)

    @property
    def sd(self) -> float:
        """Sample standard deviation (n - 1); needs two seeds."""
        n = len(self._values)
        if n < 2:
            raise ValueError("sd needs at least two values")
        m = self.mean
        return math.sqrt(math.fsum((v - m) ** 2 for v in self._values) / (n - 1))

    @property
    def min(self) -> float:
        return min(self._values)

    @property
    def max(self) -> float:
        return max(self._values)

    def __getitem__(self, i: int) -> float:
        return self._values[i]

    def __format__(self, spec: str) -> str:
        return " / ".join(format(v, spec) for v in self._values)


class _Lookup(dict):
    def __missing__(self, key: str):
        raise ConfigError(f"no measure {key!r}")


def _render_row(row: Row, repro: Reproduction) -> tuple[str, ...]:
    lookup = _Lookup({mid: Value(m.values) for mid, m in repro.measures.items()})
    cells = []
    for column, template in zip(repro.tables[row.table].columns, row.cells, strict=True):
        try:
            cells.append(template.format_map(lookup))
        except ConfigError as exc:
            raise ConfigError(f"{row.where}: key {column!r}: {exc}") from None
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise ConfigError(f"{row.where}: key {column!r}: {exc} in {template!r}") from None
    return tuple(cells)


def render_table(repro: Reproduction, name: str = "readme") -> str:
    """The Markdown table ``name`` (header, rule, one line per row; no trailing newline)."""
    if name not in repro.tables:
        raise ConfigError(f"no table {name!r} in {repro.path} ({sorted(repro.tables)})")
    headers = repro.tables[name].headers
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in repro.rows:
        if row.table == name:
            lines.append("| " + " | ".join(_render_row(row, repro)) + " |")
    return "\n".join(lines)


def markers(name: str) -> tuple[str, str]:
    """The two comment lines that enclose the generated table ``name`` in its file."""
    return (
        f"<!-- reproduction table {name}: generated from {DEFAULT_FILE.as_posix()} by "
        "`spikesim reproduce --table --write`; edit that file, not this table -->",
        f"<!-- end of reproduction table {name} -->",
    )


def table_in_file(repro: Reproduction, name: str) -> str:
    """The text between table ``name``'s markers in its file (ConfigError without them)."""
    table = repro.tables[name]
    text = (repro.root / table.file).read_text(encoding="utf-8")
    begin, end = markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ConfigError(
            f"{table.file}: table {name!r} needs its two markers once each, in order: "
            f"{begin!r} and {end!r}"
        )
    return text[text.index(begin) + len(begin) : text.index(end)].strip("\n")


def write_tables(repro: Reproduction, names: Iterable[str] | None = None) -> list[Path]:
    """Replace each table's text between its markers by :func:`render_table`; returns the
    files that changed (written atomically)."""
    from spikesim.io import write_text

    changed = []
    for name in repro.tables if names is None else names:
        old = table_in_file(repro, name)
        new = render_table(repro, name)
        if old == new:
            continue
        path = repro.root / repro.tables[name].file
        text = path.read_text(encoding="utf-8")
        begin, end = markers(name)
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        write_text(path, f"{head}{begin}\n{new}\n{end}{tail}")
        changed.append(path)
    return changed


# -- check -------------------------------------------------------------------------------


class Outcome(NamedTuple):
    """What :func:`check` found for one measure.

    ``status`` is ``reproduced`` (every seed within the tolerance), ``drifted`` (some seed
    not: both numbers are in ``recorded`` and ``now``), ``failed`` (the command failed or
    its output had no value; ``reason`` says which) or ``skipped`` (``reason``: the budget,
    no command, machine-dependent). ``recorded`` / ``now`` are per seed, ``now`` None where
    not run; ``wall_s`` is the time the reruns took, seconds.
    """

    id: str
    status: str
    reason: str
    reproducible: str
    seeds: tuple[int, ...]
    recorded: tuple[float, ...]
    now: tuple[float | None, ...]
    tolerance: float
    recorded_wall_s: float | None
    wall_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self._asdict().items()}


def plan(
    repro: Reproduction, *, budget_s: float, only: Sequence[str] = ()
) -> tuple[list[Measure], dict[str, str]]:
    """The measures :func:`check` reruns, cheapest first, and the others' skip reasons.

    Measures without a command are skipped; so are ``machine`` measures and measures
    without a recorded wall time unless ``only`` names them. The rest run cheapest first
    while their recorded wall times (all seeds) add up to at most ``budget_s`` seconds.
    """
    unknown = [i for i in only if i not in repro.measures]
    if unknown:
        raise ConfigError(f"--only: no measure {unknown[0]!r} in {repro.path}")
    chosen = [repro.measures[i] for i in (only or repro.measures)]
    skipped, candidates = {}, []
    for m in chosen:
        if m.command is None:
            skipped[m.id] = "no command (put together from several runs)"
        elif m.reproducible == "machine" and not only:
            skipped[m.id] = "machine-dependent (a speed); name it with --only to run it"
        elif m.cost_s is None and not only:
            skipped[m.id] = "no recorded wall time; name it with --only to run it"
        else:
            candidates.append(m)
    candidates.sort(key=lambda m: (m.cost_s or 0.0, m.id))
    run, spent = [], 0.0
    for m in candidates:
        if spent + (m.cost_s or 0.0) <= budget_s:
            run.append(m)
            spent += m.cost_s or 0.0
        else:
            skipped[m.id] = f"budget ({m.cost_s:.0f} s recorded, {budget_s - spent:.0f} s left)"
    return run, skipped


def command_argv(command: str, *, seed: int | None, out: str) -> tuple[list[str], dict[str, str]]:
    """The argv and the extra environment variables of one run of ``command``."""
    words = shlex.split(command.format(seed=seed, out=out))
    env = {}
    while words and _ENV.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if not words:
        raise ConfigError(f"command {command!r} runs nothing")
    if words[0] == "spikesim":
        words[:1] = [sys.executable, "-m", "spikesim.cli"]
    elif words[0] == "python":
        words[0] = sys.executable
    return words, env


def _lookup(data: Any, key: str) -> float:
    for part in key.split("."):
        if isinstance(data, list) and re.fullmatch(r"-?\d+", part):
            data = data[int(part)]
        elif isinstance(data, dict):
            data = data[part]
        else:
            raise KeyError(part)
    if not _number(data):
        raise TypeError(f"{key} is {data!r}, not a number")
    return float(data)


def _run_command(m: Measure, seed: int | None, root: Path) -> dict[str, str]:
    """Run ``m``'s command (for ``seed``); returns its stdout (key ``"stdout"``) and the
    text of every JSON file it wrote under ``{out}`` (by relative path). RuntimeError when
    it fails."""
    with tempfile.TemporaryDirectory(prefix=f"spikesim-check-{m.id}-") as out:
        argv, extra = command_argv(m.command, seed=seed, out=out)
        env = {**os.environ, **extra, "SPIKESIM_NO_PROGRESS": "1"}
        try:
            proc = subprocess.run(
                argv, cwd=root, env=env, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise RuntimeError(f"cannot run {argv[0]}: {exc}") from None
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(f"exit status {proc.returncode}: {tail[0]}")
        texts = {"stdout": proc.stdout}
        for path in Path(out).rglob("*.json"):
            texts[path.relative_to(out).as_posix()] = path.read_text(encoding="utf-8")
        return texts


def _read(m: Measure, seed: int | None, texts: dict[str, str]) -> float:
    """The value of ``m`` for ``seed`` in a run's outputs; RuntimeError when absent."""
    read = m.read.format(seed=seed)
    source, key = read.split(":", 1)
    try:
        return _lookup(json.loads(texts[source]), key)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise RuntimeError(f"no value at {read!r}: {type(exc).__name__}: {exc}") from None


def check(
    repro: Reproduction,
    *,
    budget_s: float,
    only: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Rerun the measures that fit ``budget_s`` (see :func:`plan`), one run at a time, and
    compare each seed's value with the recorded one.

    Parameters
    ----------
    repro : Reproduction
    budget_s : float
        Seconds of recorded wall time the reruns may add up to.
    only : sequence of str
        Measure ids to consider (default all).
    progress : callable, optional
        Called with one line before and after every run.

    Returns
    -------
    list of Outcome
        The measures run, in the order run, then the skipped ones in file order.

    Notes
    -----
    Measures with the same command (and seed) read one run's outputs: it runs once.
    """
    say = progress or (lambda line: None)
    to_run, skipped = plan(repro, budget_s=budget_s, only=only)
    outcomes = []
    cache: dict[tuple[str, int | None], dict[str, str]] = {}
    for k, m in enumerate(to_run):
        seeds: tuple[int | None, ...] = m.seeds or (None,)
        now: list[float | None] = []
        status, reason, start = "reproduced", "", time.perf_counter()
        runs = [[s] for s in seeds] if m.runs_per_seed else [list(seeds)]
        shown = "?" if m.wall_s is None else f"{m.wall_s:.0f} s"
        for group in runs:
            label = m.id if group[0] is None or len(group) > 1 else f"{m.id} seed {group[0]}"
            say(f"[{k + 1}/{len(to_run)}] {label} (recorded {shown}) ...")
            t0 = time.perf_counter()
            try:
                key = (m.command, group[0] if m.runs_per_seed else None)
                if key not in cache:  # measures that read one command's outputs run it once
                    cache[key] = _run_command(m, key[1], repro.root)
                values = [_read(m, seed, cache[key]) for seed in group]
            except RuntimeError as exc:
                status, reason = "failed", f"{label}: {exc}"
                say(f"[{k + 1}/{len(to_run)}] {label}: failed: {exc}")
                break
            for seed, value in zip(group, values, strict=True):
                recorded = m.values[seeds.index(seed)]
                now.append(value)
                ok = abs(value - recorded) <= m.tolerance
                where = m.id if seed is None else f"{m.id} seed {seed}"
                if not ok:
                    status = "drifted"
                    reason = reason or f"{where}: {value!r} now, {recorded!r} recorded"
                say(
                    f"[{k + 1}/{len(to_run)}] {where}: {'ok' if ok else 'DRIFTED'} "
                    f"({value!r} now, {recorded!r} recorded, tolerance {m.tolerance!r}; "
                    f"{time.perf_counter() - t0:.0f} s)"
                )
        now += [None] * (len(seeds) - len(now))
        outcomes.append(
            Outcome(
                m.id,
                status,
                reason,
                m.reproducible,
                m.seeds,
                m.values,
                tuple(now),
                m.tolerance,
                m.cost_s,
                time.perf_counter() - start,
            )
        )
    for mid, m in repro.measures.items():
        if mid in skipped:
            outcomes.append(
                Outcome(
                    mid,
                    "skipped",
                    skipped[mid],
                    m.reproducible,
                    m.seeds,
                    m.values,
                    (None,) * len(m.values),
                    m.tolerance,
                    m.cost_s,
                    None,
                )
            )
    return outcomes


__all__ = [
    "DEFAULT_FILE",
    "REPRODUCIBLE",
    "STATUSES",
    "Measure",
    "Outcome",
    "Reproduction",
    "Row",
    "Table",
    "Value",
    "check",
    "command_argv",
    "load",
    "markers",
    "plan",
    "render_table",
    "table_in_file",
    "write_tables",
]
