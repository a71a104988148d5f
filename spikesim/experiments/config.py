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
the experiment file, then the repository root); keys given inline override the file's.
"""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikesim.errors import ConfigError

__all__ = [
    "Field",
    "Kind",
    "register_kind",
    "available_kinds",
    "load",
    "resolve",
    "validate_table",
    "run_experiment",
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


def _type_ok(value, t) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    for tt in types:
        if tt is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if tt is int and isinstance(value, int) and not isinstance(value, bool):
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
                f"{where}.{key} must be a {_type_name(f.type)}, got {value!r} "
                f"({type(value).__name__})"
            )
        if isinstance(value, int) and not isinstance(value, bool) and f.type is float:
            value = float(value)
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
    "seed": Field(int, 0, doc="the run's seed"),
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


def load(path: str | Path) -> dict:
    """Parse and resolve an experiment file (see :func:`resolve`)."""
    path = Path(path)
    return resolve(read_toml(path), base_dir=path.parent)


def _include(table: dict, where: str, base_dir: Path | None) -> dict:
    if "file" not in table:
        return table
    ref = table["file"]
    if not isinstance(ref, str):
        raise ConfigError(f"{where}.file must be a string path, got {ref!r}")
    candidates = [Path(ref)] if Path(ref).is_absolute() else []
    if base_dir is not None:
        candidates += [base_dir / ref, base_dir.parent / ref]
    candidates.append(Path.cwd() / ref)
    for c in candidates:
        try:
            found = c.is_file()
        except (OSError, ValueError):  # a name too long, a NUL byte
            found = False
        if found:
            inc = read_toml(c, what=f"{where}.file")
            merged = {**inc, **{k: v for k, v in table.items() if k != "file"}}
            return merged
    raise ConfigError(f"{where}.file = {ref!r} not found (relative to the experiment file)")


def resolve(raw: Mapping[str, Any], base_dir: Path | None = None) -> dict:
    """Validate a parsed experiment dict; return the resolved config.

    Every table of the kind's schema is validated with defaults filled in (tables the file
    omits get all defaults, or an error if they have required keys); unknown tables are
    rejected by name.
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
            if callable(schema):  # a table whose keys depend on another value
                out[name] = schema(table, name)
            else:
                out[name] = validate_table(table, schema, name)
    if kind.validate is not None:
        kind.validate(out)
    return out


def run_experiment(
    config: Mapping[str, Any],
    out_dir: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    command=None,
):
    """Run a resolved config under the run contract (see :mod:`spikesim.experiments.runs`)."""
    from spikesim.experiments.runs import run_experiment as run

    return run(config, out_dir, resume=resume, force=force, command=command)
