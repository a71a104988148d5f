"""The experiment-file format: validation names the bad key; includes; overrides."""

import pytest

from spikesim.errors import ConfigError
from spikesim.experiments import Field, Kind, register_kind, resolve, validate_table
from spikesim.experiments.config import _KINDS

SCHEMA = {
    "rate": Field(float, 0.1, check=lambda v: None if v > 0 else "must be positive"),
    "mode": Field(str, "a", choices=("a", "b")),
    "n": Field(int, doc="count"),
    "sizes": Field(list, [1, 2]),
}


def test_defaults_filled_and_int_promoted_to_float():
    out = validate_table({"n": 3, "rate": 1}, SCHEMA, "t")
    assert out == {"rate": 1.0, "mode": "a", "n": 3, "sizes": [1, 2]}
    assert isinstance(out["rate"], float)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"n": 1, "bogus": 2}, "unknown key t.bogus"),
        ({}, "missing required key t.n"),
        ({"n": "3"}, "t.n must be an integer"),
        ({"n": True}, "t.n must be an integer"),
        ({"n": 1, "mode": "c"}, "t.mode = 'c' is not one of"),
        ({"n": 1, "rate": -1.0}, "t.rate = -1.0: must be positive"),
        ({"n": 1, "sizes": "x"}, "t.sizes must be a list"),
    ],
)
def test_each_kind_of_bad_key_is_named(table, message):
    with pytest.raises(ConfigError, match=message):
        validate_table(table, SCHEMA, "t")


@pytest.fixture
def toy_kind():
    kind = register_kind(
        Kind(
            name="toy-test",
            tables={"train": SCHEMA, "extra": {"x": Field(int, 0)}},
            run=lambda c, o, r: {"final": {"x": c["extra"]["x"]}},
            optional_tables=("extra",),
        )
    )
    yield kind
    _KINDS.pop("toy-test")


def test_resolve_kinds_tables_and_includes(toy_kind, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.toml").write_text("n = 7\nmode = 'b'\n")
    (tmp_path / "exps").mkdir()
    raw = {
        "experiment": {"kind": "toy-test", "seed": 3},
        "train": {"file": "models/m.toml", "mode": "a"},
    }
    cfg = resolve(raw, base_dir=tmp_path / "exps")
    assert cfg["train"]["n"] == 7 and cfg["train"]["mode"] == "a"  # inline overrides file
    assert "extra" not in cfg and cfg["experiment"]["seed"] == 3
    with pytest.raises(ConfigError, match=r"unknown table \[bogus\]"):
        resolve({**raw, "bogus": {}}, base_dir=tmp_path / "exps")
    with pytest.raises(ConfigError, match="experiment.kind = 'nope'"):
        resolve({"experiment": {"kind": "nope"}})
    with pytest.raises(ConfigError, match=r"missing table \[experiment\]"):
        resolve({"train": {}})
    with pytest.raises(ConfigError, match="not found"):
        resolve({"experiment": {"kind": "toy-test"}, "train": {"file": "missing.toml"}})


def test_train_cli_overrides_and_run_info(toy_kind, tmp_path, capsys):
    import json

    from spikesim.cli import main

    exp = tmp_path / "e.toml"
    exp.write_text('[experiment]\nkind = "toy-test"\n[train]\nn = 1\n[extra]\nx = 1\n')
    assert main(["train", str(exp), "--out", str(tmp_path / "o"), "--set", "extra.x=5"]) == 0
    assert json.loads(capsys.readouterr().out)["final"] == {"x": 5}
    info = json.loads((tmp_path / "o" / "run.json").read_text())
    assert info["config"]["extra"]["x"] == 5 and "numpy" in info["versions"]
    assert main(["train", str(exp), "--out", str(tmp_path / "o"), "--set", "train.bad=1"]) == 2
    assert "unknown key train.bad" in capsys.readouterr().err


REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


#: experiments/*.toml that are data, not experiments (the reproduction table, issue 22)
NOT_EXPERIMENTS = {"reproduction.toml"}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "experiments").glob("*.toml") if p.name not in NOT_EXPERIMENTS),
    ids=lambda p: p.name,
)
def test_every_shipped_experiment_file_loads(path):
    """Each file under experiments/ resolves (known keys, right types, includes found),
    and each run of a comparison resolves with the comparison's and its own overrides."""
    from spikesim.experiments.compare import resolve_run
    from spikesim.experiments.config import load

    config = load(path)
    assert config["experiment"]["kind"] in {"compare", "rate", "spiking", "zeroorder", "toy"}
    if config["experiment"]["kind"] == "compare":
        common = config["compare"].get("set", {})
        runs = [
            resolve_run(run, k, path.parent, common)
            for k, run in enumerate(config["compare"]["runs"])
        ]
        assert [r["label"] for r in runs] == [r["label"] for r in config["compare"]["runs"]]
        if path.name == "online-fmnist-early.toml":  # the overrides reach every run
            for r in runs:
                assert r["config"]["train"]["max_iterations"] == 4000
                assert r["config"]["train"]["eval_every"] == 100


# -- the one reader: read, include, override -------------------------------------------


def test_overrides_from_the_command_line_and_from_a_table():
    from spikesim.experiments.config import apply_overrides, parse_override, parse_value

    raw = {"train": {"n": 1}, "experiment": {"kind": "toy"}}
    apply_overrides(raw, ["train.n=3", "train.mode=b", 'extra.s="x y"', "extra.l=[1, 2]"])
    assert raw["train"] == {"n": 3, "mode": "b"}  # a bare word is a string
    assert raw["extra"] == {"s": "x y", "l": [1, 2]}
    apply_overrides(raw, {"train.n": 4, "extra.l": [5]}, source="compare.set")
    assert raw["train"]["n"] == 4 and raw["extra"]["l"] == [5]
    assert parse_override(" train.rate = 0.5") == ("train.rate", 0.5)
    assert parse_value("true") is True and parse_value("1e-3") == 1e-3
    for bad in ("train.n", "n=3", ".n=3", "train.=3", "=1"):
        with pytest.raises(ConfigError, match="--set expects TABLE.KEY=VALUE"):
            apply_overrides({}, [bad])
    with pytest.raises(ConfigError, match=r"compare.set key 'n' must be TABLE.KEY"):
        apply_overrides({}, {"n": 1}, source="compare.set")
    with pytest.raises(ConfigError, match=r"--set train.n: \[train\] is not a table"):
        apply_overrides({"train": 3}, ["train.n=1"])


def test_an_override_wins_over_an_included_file(toy_kind, tmp_path):
    from spikesim.experiments.config import load, read_experiment

    (tmp_path / "m.toml").write_text("n = 7\nmode = 'b'\n")
    exp = tmp_path / "e.toml"
    exp.write_text('[experiment]\nkind = "toy-test"\n[train]\nfile = "m.toml"\n')
    assert read_experiment(exp, ["train.n=2"])["train"] == {"file": "m.toml", "n": 2}
    cfg = load(exp, overrides=["train.n=2"])
    assert cfg["train"]["n"] == 2 and cfg["train"]["mode"] == "b"
    assert load(exp)["train"]["n"] == 7


def test_read_errors_name_the_file(tmp_path):
    from spikesim.experiments.config import locate, read_experiment

    with pytest.raises(ConfigError, match="experiment file .*nope.toml does not exist"):
        read_experiment(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[experiment\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        read_experiment(tmp_path / "bad.toml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "m.toml").write_text("")
    assert locate("m.toml", tmp_path / "sub", "x.file") == tmp_path / "m.toml"  # parent
    with pytest.raises(ConfigError, match="x.file = 'q.toml' not found"):
        locate("q.toml", tmp_path, "x.file")
    with pytest.raises(ConfigError, match="x.file must be a string path"):
        locate(3, tmp_path, "x.file")


def test_sweep_and_train_share_the_reader():
    """sweep parses values exactly as train's --set, with no import of the cli."""
    import subprocess
    import sys

    from spikesim.experiments import config, sweep

    assert sweep.read_experiment is config.read_experiment
    assert sweep.parse_param("train.x=1,b,[1, 2],true") == ("train.x", [1, "b", [1, 2], True])
    code = (
        "import sys, spikesim.experiments.sweep, spikesim.experiments.diagnose;"
        "print(any(m.startswith('spikesim.cli') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


#: The layers, bottom up: a module may import only from its own layer or below
#: (docs/architecture.md). ``spikesim/__init__.py`` (the package's face) and
#: ``spikesim.testing`` (the conformance checks: nothing imports them) sit on top.
LAYERS = {
    "errors": 0,
    "_version": 0,
    "_jitcache": 0,
    "graph": 1,
    "receptive": 1,
    "record": 1,
    "nwb": 1,
    "encoding": 1,
    "io": 1,
    "data": 1,
    "plots": 1,
    "engines": 2,
    "simulate": 2,
    "interop": 1,
    "plasticity": 3,
    "rate": 3,
    "zeroorder": 3,
    "training": 4,
    "experiments": 5,
    "benchmarks": 5,
    "reproduce": 5,
    "cli": 6,
    "testing": 7,
}


def _layer(module: str) -> str:
    return module.split(".")[1].removesuffix(".py")


def test_imports_go_one_way():
    """core <- engines <- learning <- training <- experiments <- cli, checked on the source
    of every module (a lazy import inside a function counts)."""
    import ast

    pkg = REPO / "spikesim"
    for path in pkg.rglob("*.py"):
        parts = path.relative_to(pkg).parts
        if parts[0] in ("__init__.py", "__main__.py"):
            continue
        here = parts[0].removesuffix(".py")
        assert here in LAYERS, f"spikesim/{parts[0]} is in no layer of LAYERS"
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "spikesim":
                names = [f"spikesim.{a.name}" for a in node.names]  # from spikesim import io
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if not name.startswith("spikesim.") or _layer(name) not in LAYERS:
                    continue  # another package, or a name of the package's face
                there = _layer(name)
                assert LAYERS[there] <= LAYERS[here], (
                    f"{path.relative_to(REPO)} ({here}) imports {name} ({there}), a higher layer"
                )


# -- renamed keys and values -------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            {"experiment": {"kind": "spiking"}, "task": {"data_path": "/data"}},
            "task.data_path was renamed task.path",
        ),
        (
            {"experiment": {"kind": "zeroorder"}, "rule": {"alpha": 0.1}},
            "rule.alpha was renamed rule.learning_rate",
        ),
        (
            {"experiment": {"kind": "zeroorder"}, "rule": {"shuffle": False}},
            "rule.shuffle was renamed train.shuffle",
        ),
        (
            {"experiment": {"kind": "zeroorder"}, "rule": {"baseline": "per_sample"}},
            "rule.baseline = 'per_sample' was renamed 'per-sample'",
        ),
        (
            {
                "experiment": {"kind": "rate"},
                "task": {"dataset": "digits"},
                "learner": {"name": "bp", "sizes": [64, 10], "lr": 0.1},
            },
            "learner.lr was renamed learner.learning_rate",
        ),
    ],
)
def test_an_old_key_names_the_new_one(raw, message):
    with pytest.raises(ConfigError, match=message):
        resolve(raw)


def test_new_names_resolve():
    cfg = resolve(
        {
            "experiment": {"kind": "zeroorder"},
            "rule": {"learning_rate": 0.1, "baseline": "per-sample"},
            "train": {"shuffle": False},
        }
    )
    assert cfg["rule"]["learning_rate"] == 0.1 and cfg["train"]["shuffle"] is False
    assert resolve({"experiment": {"kind": "spiking"}, "task": {"path": "/d"}})["task"]["path"]


def test_renames_are_generic_and_inert_while_the_old_key_is_valid(toy_kind, monkeypatch):
    from spikesim.experiments import config

    monkeypatch.setitem(config.RENAMED_KEYS, "toy-test", {"train.count": "train.n"})
    monkeypatch.setitem(config.RENAMED_VALUES, "toy-test", {"train.mode": {"old": "b"}})
    base = {"experiment": {"kind": "toy-test"}}
    with pytest.raises(ConfigError, match="train.count was renamed train.n"):
        resolve({**base, "train": {"count": 3}})
    with pytest.raises(ConfigError, match="train.mode = 'old' was renamed 'b'"):
        resolve({**base, "train": {"n": 1, "mode": "old"}})
    # an entry for a key the schema still has changes nothing
    monkeypatch.setitem(config.RENAMED_KEYS, "toy-test", {"train.rate": "train.step"})
    assert resolve({**base, "train": {"n": 1, "rate": 2}})["train"]["rate"] == 2.0


def test_shipped_files_use_no_old_name():
    """The loader refuses old names (test_every_shipped_experiment_file_loads); this also
    catches them in included model files and in the zero-order files' values."""
    import tomllib

    for path in [*(REPO / "experiments").glob("*.toml"), *(REPO / "models").glob("*.toml")]:
        raw = tomllib.loads(path.read_text())
        assert "data_path" not in raw.get("task", {}), path
        if raw.get("experiment", {}).get("kind") == "zeroorder":
            assert {"alpha", "shuffle"}.isdisjoint(raw.get("rule", {})), path
        for table in raw.values():
            if isinstance(table, dict):
                assert table.get("baseline") != "per_sample", path


# -- messages name the full key ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            {
                "experiment": {"kind": "rate"},
                "task": {"dataset": "digits"},
                "learner": {"name": "bp", "sizes": [64, 10], "optimizer": "adamw"},
            },
            r"^learner.optimizer = 'adamw' is not one of sgd, adam",
        ),
        (
            {
                "experiment": {"kind": "rate"},
                "task": {"dataset": "digits"},
                "learner": {"name": "bp", "sizes": [64, 10], "optimizer": 3},
            },
            r"^learner.optimizer must be a str",
        ),
        (
            {"experiment": {"kind": "spiking"}, "task": {"flip": 1.5}},
            r"^task.flip = 1.5: must be a probability",
        ),
        ({"experiment": {"kind": "spiking"}, "task": {"flip": "x"}}, r"^task.flip must be a"),
        (
            {"experiment": {"kind": "spiking"}, "network": {"skip": [0.1]}},
            r"^network.skip = \[0.1\]: must be \[\] \(none\) or \[w_exc, w_inh\]",
        ),
        ({"experiment": {"kind": "spiking", "seed": -1}}, r"^experiment.seed = -1: must be >= 0"),
        ({"experiment": {"kind": "spiking", "seed": 0.5}}, r"^experiment.seed must be an integer"),
        (
            {
                "experiment": {"kind": "rate"},
                "task": {"dataset": "nope"},
                "learner": {"name": "bp"},
            },
            r"^task.dataset = 'nope': is not one of",
        ),
        (
            {"experiment": {"kind": "zeroorder"}, "task": {"test_fraction": 1.0}},
            r"^task.test_fraction = 1.0: must be in \(0, 1\)",
        ),
    ],
)
def test_messages_name_the_full_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        resolve(raw)


def test_a_renamed_value_in_a_value_dependent_table(monkeypatch):
    """[learner] (keys depend on the learner): the old value is named once the learner
    refuses it, and inert while the learner still accepts it."""
    from spikesim.experiments import config

    monkeypatch.setitem(config.RENAMED_VALUES, "rate", {"learner.optimizer": {"adamw": "adam"}})
    raw = {
        "experiment": {"kind": "rate"},
        "task": {"dataset": "digits"},
        "learner": {"name": "bp", "sizes": [64, 10], "optimizer": "adamw"},
    }
    with pytest.raises(ConfigError, match="is not one of sgd, adam: .* was renamed 'adam'"):
        resolve(raw)
    monkeypatch.setitem(config.RENAMED_VALUES, "rate", {"learner.optimizer": {"sgd": "x"}})
    raw["learner"]["optimizer"] = "sgd"
    assert resolve(raw)["learner"]["optimizer"] == "sgd"


def test_override_strips_spaces_round_table_and_key():
    """``"1 .x=1"`` (seen once by the slow fuzzer) sets table ``"1"``, key ``"x"``, as
    TOML's dotted key ``1 . x`` would."""
    import tomllib

    from spikesim.experiments.config import apply_overrides

    out = apply_overrides({"train": {"n": 0}}, ["1 .x=1", " train . n = 3"])
    assert out == {"train": {"n": 3}, "1": {"x": 1}}
    assert tomllib.loads("1 . x = 1") == {"1": {"x": 1}}
