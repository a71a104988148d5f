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
        ({"n": "3"}, "t.n must be a integer"),
        ({"n": True}, "t.n must be a integer"),
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


@pytest.mark.parametrize(
    "path", sorted((REPO / "experiments").glob("*.toml")), ids=lambda p: p.name
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
