"""Experiment files: parsing, schema validation, the registry of run kinds.

File layout (TOML)::

    [experiment]
    name = "digits-spiking"     # free text, used in outputs
    kind = "spiking"            # a registered kind: see available_kinds()
    seed = 0                    # the one seed of the run

    [task]          # ... tables defined by the kind's schema
    [network]
    ...

A table may name a file holding its keys (``file = "models/digits.toml"``, path relative to
the experiment file, then the repository root); keys given inline override the file's. A
``.npz`` file is not included: its resolved path stays the table's ``file`` key, for the
kind to read (``network.file`` of the ``spiking`` kind: a saved network).

This module is the one reader of experiment files: :func:`read_experiment` (parse, then
apply ``TABLE.KEY=VALUE`` overrides), :func:`locate` (find a referenced file),
:func:`apply_overrides` and :func:`resolve` (includes, schemas, defaults) serve
``spikesim train``, ``sweep``, ``compare`` and ``diagnose`` alike. Keys and values that were
renamed (:data:`RENAMED_KEYS`, :data:`RENAMED_VALUES`) are refused with a message naming
the new spelling. :func:`filled_defaults` reads a configuration recorded before keys were
added to the schema: the defaults it lacks (the run layer's resume rule).
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikesim.errors import ConfigError, ValidationError

__all__ = [
    "Field",
    "Kind",
    "RENAMED_KEYS",
    "RENAMED_VALUES",
    "apply_overrides",
    "available_kinds",
    "filled_defaults",
    "get_kind",
    "load",
    "locate",
    "parse_override",
    "parse_value",
    "read_experiment",
    "read_toml",
    "register_kind",
    "resolve",
    "set_key",
    "validate_table",
]

_MISSING = object()


@dataclass(frozen=True)
class Field:
    """One key of a config table.

    Parameters
    ----------
    type : type or tuple of types
        Accepted Python types after TOML parsing (``float`` also accepts ``int``).
    default : optional
        Default value; omit for a required key.
    choices : tuple, optional
        Allowed values.
    check : callable, optional
        ``check(value) -> str | None``: a message if the value is bad.
    doc : str
        One line of documentation (with units).
    """

    type: type | tuple[type, ...]
    default: Any = _MISSING
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return {float: "number", int: "integer", str: "string", bool: "boolean", list: "list"}.get(
        t, getattr(t, "__name__", str(t))
    )


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def type_phrase(t) -> str:
    """``t`` (a type or tuple of types) as the words of an error: "an integer", "a number"."""
    return _article(_type_name(t))


def _integral(value) -> bool:
    """A float with an integer value (TOML's ``1e3``), accepted where an integer is."""
    return isinstance(value, float) and value.is_integer()


def _type_ok(value, t) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    for tt in types:
        if tt is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if tt is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if tt is int and _integral(value):
            return True
        if tt not in (float, int) and isinstance(value, tt):
            return True
    return False


def validate_table(table: Mapping[str, Any], schema: Mapping[str, Field], where: str) -> dict:
    """Check ``table`` against ``schema``; return it with defaults filled in.

    Raises
    ------
    ConfigError
        Naming ``where.key`` for an unknown key, a missing required key, a wrong type, a
        value outside ``choices`` or one refused by ``check``.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{where}] must be a table, got {type(table).__name__}")
    out = {}
    for key in table:
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"unknown key {where}.{key} (known keys: {known})")
    for key, f in schema.items():
        if key not in table:
            if f.required:
                raise ConfigError(f"missing required key {where}.{key} ({f.doc})")
            out[key] = f.default
            continue
        value = table[key]
        if not _type_ok(value, f.type):
            raise ConfigError(
                f"{where}.{key} must be {type_phrase(f.type)}, got {value!r} "
                f"({type(value).__name__})"
            )
        if isinstance(value, int) and not isinstance(value, bool) and f.type is float:
            value = float(value)
        types = f.type if isinstance(f.type, tuple) else (f.type,)
        if _integral(value) and int in types and float not in types:
            value = int(value)
        if f.choices is not None and value not in f.choices:
            raise ConfigError(
                f"{where}.{key} = {value!r} is not one of {', '.join(map(repr, f.choices))}"
            )
        if f.check is not None:
            msg = f.check(value)
            if msg:
                raise ConfigError(f"{where}.{key} = {value!r}: {msg}")
        out[key] = value
    return out


@dataclass(frozen=True)
class Kind:
    """A kind of run: the schema of its tables and the function that runs it.

    ``run(config, out_dir, resume) -> dict`` receives the resolved config (every table
    validated, defaults filled) and returns the results (also written to ``out_dir``).
    A table's schema is a mapping of :class:`Field` or, for a table whose keys depend on
    one of its values (the ``[learner]`` table of kind ``rate``: the keys are the chosen
    learner's hyperparameters), a callable ``schema(table, where) -> dict`` that validates
    and returns the table, raising ConfigError naming the bad key.
    ``validate(config)``, optional, checks what the table schemas cannot (cross-table
    constraints, referenced files) at load time, raising ConfigError.
    """

    name: str
    tables: Mapping[str, Mapping[str, Field] | Callable[[Any, str], dict]]
    run: Callable[[dict, Path, bool], dict]
    optional_tables: tuple[str, ...] = field(default_factory=tuple)
    doc: str = ""
    validate: Callable[[dict], None] | None = None


_KINDS: dict[str, Kind] = {}

EXPERIMENT_TABLE = {
    "name": Field(str, "experiment", doc="name used in outputs"),
    "kind": Field(str, doc="kind of run"),
    "seed": Field(int, 0, check=lambda v: None if v >= 0 else "must be >= 0", doc="the run's seed"),
    "description": Field(str, "", doc="free text"),
    "base_dir": Field(
        str, "", doc="directory relative file paths are resolved against (default: the file's)"
    ),
}


def register_kind(kind: Kind) -> Kind:
    """Register a kind of run (modules in :mod:`spikesim.experiments.kinds` do this)."""
    _KINDS[kind.name] = kind
    return kind


def _load_kinds() -> None:
    import spikesim.experiments.kinds as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def available_kinds() -> list[str]:
    """Names of the registered kinds of run."""
    _load_kinds()
    return sorted(_KINDS)


def get_kind(name: str) -> Kind:
    """The registered kind ``name``.

    Raises
    ------
    ConfigError
        ``experiment.kind`` names no registered kind (the registered ones are listed).
    """
    _load_kinds()
    if name not in _KINDS:
        raise ConfigError(
            f"experiment.kind = {name!r} is not registered (known: {', '.join(sorted(_KINDS))})"
        )
    return _KINDS[name]


def read_toml(path: str | Path, what: str = "experiment file") -> dict:
    """Parse a TOML file; every failure (missing, unreadable, not UTF-8, bad TOML) is a
    :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({exc.reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def read_experiment(path: str | Path, overrides: Sequence[str] | Mapping[str, Any] = ()) -> dict:
    """Parse an experiment file into its raw (unresolved) dict, overrides applied.

    Parameters
    ----------
    path : path
        The TOML file.
    overrides : sequence of str or mapping
        ``"TABLE.KEY=VALUE"`` strings (``--set``) or a ``{"table.key": value}`` mapping;
        see :func:`apply_overrides`.

    Raises
    ------
    ConfigError
        The file is missing, unreadable or not valid TOML; an override is malformed.
    """
    return apply_overrides(read_toml(path), overrides)


def load(path: str | Path, overrides: Sequence[str] | Mapping[str, Any] = ()) -> dict:
    """Parse, override and resolve an experiment file (see :func:`resolve`)."""
    path = Path(path)
    return resolve(read_experiment(path, overrides), base_dir=path.parent)


# -- overrides ---------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A value given on the command line: TOML (``0.1``, ``true``, ``"bp"``, ``[64, 10]``),
    else the text itself as a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _split_key(dotted: Any, source: str) -> tuple[str, str]:
    table, dot, key = dotted.partition(".") if isinstance(dotted, str) else ("", "", "")
    table, key = table.strip(), key.strip()
    if not dot or not table or not key:
        raise ConfigError(f"{source} key {dotted!r} must be TABLE.KEY")
    return table, key


def parse_override(item: str, source: str = "--set") -> tuple[str, Any]:
    """Parse ``"TABLE.KEY=VALUE"`` into ``("table.key", value)`` (:func:`parse_value`).

    Raises
    ------
    ConfigError
        If ``item`` is not of that form.
    """
    dotted, sep, text = item.partition("=")
    if not sep:
        raise ConfigError(f"{source} expects TABLE.KEY=VALUE, got {item!r}")
    try:
        table, key = _split_key(dotted, source)
    except ConfigError:
        raise ConfigError(f"{source} expects TABLE.KEY=VALUE, got {item!r}") from None
    return f"{table}.{key}", parse_value(text.strip())


def set_key(raw: dict, dotted: str, value: Any, source: str = "--set") -> dict:
    """Set ``raw[table][key] = value`` for ``dotted = "table.key"``; return ``raw``.

    The table is created when the file has none; a table that includes a file
    (``file = ...``) keeps it, and the override wins over the included file's key.

    Raises
    ------
    ConfigError
        If ``dotted`` is not ``TABLE.KEY`` or ``raw[table]`` is not a table.
    """
    table, key = _split_key(dotted, source)
    target = raw.setdefault(table, {})
    if not isinstance(target, dict):
        raise ConfigError(f"{source} {dotted}: [{table}] is not a table in the experiment file")
    target[key] = copy.deepcopy(value)
    return raw


def apply_overrides(
    raw: dict, overrides: Sequence[str] | Mapping[str, Any], source: str = "--set"
) -> dict:
    """Apply overrides to a raw experiment dict in place; return it.

    Parameters
    ----------
    raw : dict
        A parsed, unresolved experiment file.
    overrides : sequence of str or mapping
        ``"TABLE.KEY=VALUE"`` strings, each VALUE parsed as TOML or else taken as a bare
        string (``spikesim train --set``), or a ``{"table.key": value}`` mapping of parsed
        values (``compare.set``), applied in order.
    source : str
        How the overrides were given, for error messages.
    """
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = [parse_override(item, source) for item in overrides]
    for dotted, value in items:
        set_key(raw, dotted, value, source)
    return raw


# -- includes ----------------------------------------------------------------------------


def locate(ref: Any, base_dir: Path | None, where: str) -> Path:
    """Find a file referenced by an experiment file.

    Tried in order: ``ref`` itself when absolute, then relative to ``base_dir`` (the
    experiment file's folder), to its parent (the repository root for files in
    ``experiments/``) and to the working directory.

    Raises
    ------
    ConfigError
        Naming ``where`` if ``ref`` is not a string or no candidate is a file.
    """
    if not isinstance(ref, str):
        raise ConfigError(f"{where} must be a string path, got {ref!r}")
    candidates = [Path(ref)] if Path(ref).is_absolute() else []
    if base_dir is not None:
        candidates += [Path(base_dir) / ref, Path(base_dir).parent / ref]
    candidates.append(Path.cwd() / ref)
    for c in candidates:
        try:
            found = c.is_file()
        except (OSError, ValueError):  # a name too long, a NUL byte
            found = False
        if found:
            return c
    raise ConfigError(f"{where} = {ref!r} not found (relative to the experiment file)")


def _include(table: dict, where: str, base_dir: Path | None) -> dict:
    if "file" not in table:
        return table
    path = locate(table["file"], base_dir, f"{where}.file")
    if path.suffix == ".npz":  # a saved network (spikesim.io.save_network): the kind reads it
        return {**table, "file": str(path.resolve())}
    inc = read_toml(path, what=f"{where}.file")
    return {**inc, **{k: v for k, v in table.items() if k != "file"}}


# -- renamed keys and values ---------------------------------------------------------------

#: Keys that were renamed, per kind (``"*"``: every kind): ``{"table.old": "table.new"}``.
#: A file that still uses the old key is refused with a message naming the new one, only
#: while the table's schema does not accept the old key itself (for a table whose keys
#: depend on a value, ``[learner]``: when the schema calls it an unknown key).
RENAMED_KEYS: dict[str, dict[str, str]] = {
    "spiking": {
        "task.data_path": "task.path",
        "rule.alpha": "rule.learning_rate",
    },
    "zeroorder": {
        "rule.alpha": "rule.learning_rate",
        "rule.shuffle": "train.shuffle",
    },
    "rate": {
        "learner.lr": "learner.learning_rate",
        "learner.lrs": "learner.learning_rate",
    },
}

#: Values that were renamed, per kind: ``{"table.key": {"old": "new"}}``; refused with a
#: message naming the new value, only while the key's choices do not include the old one
#: (for a table whose keys depend on a value: when the schema refuses that key).
RENAMED_VALUES: dict[str, dict[str, dict[Any, Any]]] = {
    "zeroorder": {"rule.baseline": {"per_sample": "per-sample"}},
    "rate": {"learner.loss": {"softmax-ce": "cross-entropy"}},
}


def _renamed(
    kind: str, table_name: str, table: Mapping[str, Any], schema: Any
) -> tuple[str, str] | None:
    """``(what a refusal names, message)`` for the first old key or value of ``table``:
    ``("unknown key table.old", ...)`` or ``("table.key", ...)``; None if there is none."""
    for scope in ("*", kind):
        for old, new in RENAMED_KEYS.get(scope, {}).items():
            t, _, key = old.partition(".")
            if t != table_name or key not in table:
                continue
            if isinstance(schema, Mapping) and key in schema:
                continue  # still a key of this schema
            return f"unknown key {old}", f"{old} was renamed {new}"
    for scope in ("*", kind):
        for dotted, values in RENAMED_VALUES.get(scope, {}).items():
            t, _, key = dotted.partition(".")
            if t != table_name or key not in table:
                continue
            value = table[key]
            if not isinstance(value, str) or value not in values:
                continue
            f = schema.get(key) if isinstance(schema, Mapping) else None
            if f is not None and f.choices is not None and value in f.choices:
                continue
            return dotted, f"{dotted} = {value!r} was renamed {values[value]!r}"
    return None


def filled_defaults(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The keys the current schema fills into a recorded configuration that lacks them.

    A configuration recorded by an older spikesim (``run.json``), before keys were added
    to the schema, reads as if resolved now: each missing key takes its default.

    Parameters
    ----------
    recorded : mapping
        A resolved configuration as recorded (table name -> table).

    Returns
    -------
    dict
        ``{"table.key": default}`` for every key of the recorded kind's schema (and of
        ``[experiment]``) that ``recorded`` lacks and that has a default; tables are filled
        as :func:`resolve` fills them (an optional table only when recorded). For a table
        whose keys depend on one of its values (``[learner]`` of kind ``rate``, ``[rule]``
        of kind ``spiking``) the defaults of the recorded choice, none when the recorded
        table no longer validates. The new name of a renamed key (:data:`RENAMED_KEYS`)
        gets no default while the record holds the old name: the record says what it was.
        Empty when the recorded kind is not registered.
    """
    exp = recorded.get("experiment")
    name = exp.get("kind") if isinstance(exp, Mapping) else None
    if not isinstance(name, str) or name not in available_kinds():
        return {}
    kind = _KINDS[name]
    out: dict[str, Any] = {}
    tables = {"experiment": EXPERIMENT_TABLE, **kind.tables}
    for t, schema in tables.items():
        if t not in recorded and t in kind.optional_tables:
            continue
        table = recorded.get(t, {})
        if not isinstance(table, Mapping):
            continue
        if callable(schema):
            try:
                filled = schema(dict(table), t)
            except (ConfigError, ValidationError):
                continue
            defaults = {k: v for k, v in filled.items() if k not in table}
        else:
            defaults = {
                k: f.default for k, f in schema.items() if k not in table and not f.required
            }
        out.update({f"{t}.{k}": v for k, v in defaults.items()})
    for scope in ("*", name):
        for old, new in RENAMED_KEYS.get(scope, {}).items():
            t, _, key = old.partition(".")
            if isinstance(recorded.get(t), Mapping) and key in recorded[t]:
                out.pop(new, None)
    return copy.deepcopy(out)


def resolve(raw: Mapping[str, Any], base_dir: Path | None = None) -> dict:
    """Validate a parsed experiment dict; return the resolved config.

    Every table of the kind's schema is validated with defaults filled in (tables the file
    omits get all defaults, or an error if they have required keys); unknown tables are
    rejected by name, renamed keys and values with their new name.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"an experiment must be a table of tables, got {type(raw).__name__}")
    if "experiment" not in raw:
        raise ConfigError("missing table [experiment] (with at least kind = ...)")
    exp = validate_table(raw["experiment"], EXPERIMENT_TABLE, "experiment")
    if not exp["base_dir"] and base_dir is not None:
        exp["base_dir"] = str(Path(base_dir).resolve())
    kinds = available_kinds()
    if exp["kind"] not in _KINDS:
        raise ConfigError(f"experiment.kind = {exp['kind']!r} is not one of {', '.join(kinds)}")
    kind = _KINDS[exp["kind"]]
    out: dict[str, Any] = {"experiment": exp}
    for name in raw:
        if name != "experiment" and name not in kind.tables:
            raise ConfigError(
                f"unknown table [{name}] for kind {kind.name!r} "
                f"(known: {', '.join(['experiment', *kind.tables])})"
            )
    for name, schema in kind.tables.items():
        table = raw.get(name, {})
        if name in raw or name not in kind.optional_tables:
            table = _include(dict(table), name, base_dir) if isinstance(table, dict) else table
            renamed = _renamed(kind.name, name, table, schema) if isinstance(table, dict) else None
            if callable(schema):  # a table whose keys depend on another value
                try:
                    out[name] = schema(table, name)
                except ConfigError as exc:
                    if renamed and renamed[0] in str(exc):  # refused for the old name
                        raise ConfigError(f"{exc}: {renamed[1]}") from None
                    raise
            else:
                if renamed:
                    raise ConfigError(renamed[1])
                out[name] = validate_table(table, schema, name)
    if kind.validate is not None:
        kind.validate(out)
    return out
