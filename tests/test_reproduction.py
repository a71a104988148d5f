"""The reproduction table as data: parser, generator, ``--check`` and the README's table.

``--check`` is exercised on real commands: the toy kind (whose value the test computes
on its own from the kind's documented definition) and a one-line Python program (a closed
form), so a check that cannot tell a reproduced value from a drifted one fails here.
"""

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from spikesim.cli import main
from spikesim.errors import ConfigError
from spikesim.experiments import reproduction as rp

REPO = Path(__file__).resolve().parent.parent
TOY = REPO / "experiments" / "toy.toml"

HEAD = """
[tables.readme]
file = "T.md"
columns = ["what", "value"]
"""

GOOD_MEASURE = {
    "id": "m",
    "claim": "a number",
    "command": "python -c 'print(1)'",
    "read": "stdout:x",
    "value": 1.0,
    "reproducible": "exact",
    "measured": "2026-12-02",
    "commit": "b0009b6",
}


def _toml_value(v):
    if isinstance(v, str) and v[:4].isdigit() and v.count("-") == 2:
        return v  # a TOML date
    return json.dumps(v)


def _measure_toml(fields: dict) -> str:
    return "[[measure]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields.items())


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "experiments" / "repro.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(HEAD + text, encoding="utf-8")
    return path


def _toy_score(seed: int, *, scale=1.0, shift=0.0, n=100, steps=3) -> float:
    """The toy kind's final score, from its definition (mean over steps of the mean of
    ``n`` numbers ``shift + scale z``, ``z`` from ``default_rng([seed, step])``)."""
    means = [
        shift + scale * np.random.default_rng([seed, k]).standard_normal(n).mean()
        for k in range(steps)
    ]
    return float(sum(means) / steps)


# -- parser ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"id": "Bad_Id"}, "measure 'Bad_Id': key 'id' must be lower-case"),
        ({"id": 7}, "measure #1: key 'id'"),
        ({"bogus": 1}, "measure 'm': unknown key 'bogus'"),
        ({"claim": None}, "measure 'm': key 'claim' is missing"),
        ({"reproducible": "roughly"}, "measure 'm': key 'reproducible'"),
        ({"tolerance": 0.1}, "measure 'm': key 'tolerance' must be 0 for an exact"),
        ({"reproducible": "tolerance"}, "measure 'm': key 'tolerance' must be > 0"),
        ({"tolerance": -1, "reproducible": "tolerance"}, "key 'tolerance' must be a number"),
        ({"value": "high"}, "measure 'm': key 'value' must be a finite number"),
        ({"value": [1.0, 2.0]}, "measure 'm': key 'value' must have one number per seed"),
        ({"seeds": [0, 0], "value": [1, 1]}, "key 'seeds' must not repeat"),
        ({"seeds": [0, 1], "value": [1, 2]}, "measure 'm': key 'command' must use {seed}"),
        ({"command": "python -c 'print({seed})'"}, "uses {seed} but the measure has no"),
        ({"command": "run {where}"}, "key 'command' may use only {seed} and {out}"),
        ({"command": "python -c '{'"}, "measure 'm': key 'command'"),
        ({"read": "x"}, "measure 'm': key 'read' must be 'FILE:key.path'"),
        ({"read": "results.json:x"}, "measure 'm': key 'command' must write under {out}"),
        ({"read": None}, "keys 'command' and 'read' go together"),
        ({"wall_s": 0}, "measure 'm': key 'wall_s'"),
        ({"measured": "yesterday"}, "measure 'm': key 'measured' must be a TOML date"),
        ({"commit": "main"}, "measure 'm': key 'commit' must be a commit hash"),
    ],
)
def test_bad_measure_is_refused_naming_it_and_the_key(tmp_path, change, message):
    fields = {**GOOD_MEASURE, **change}
    fields = {k: v for k, v in fields.items() if v is not None}
    path = _write(tmp_path, _measure_toml(fields))
    with pytest.raises(ConfigError) as exc:
        rp.load(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_good_measure_is_read(tmp_path):
    path = _write(tmp_path, _measure_toml(GOOD_MEASURE))
    repro = rp.load(path)
    m = repro.measures["m"]
    assert m.values == (1.0,) and m.seeds == () and m.tolerance == 0.0
    assert str(m.measured) == "2026-12-02" and repro.root == tmp_path


@pytest.mark.parametrize(
    "row, message",
    [
        ('what = "a"\nvalue = "{m}"\nextra = "x"', "row #1 ('a'): unknown key 'extra'"),
        ('what = "a"', "row #1 ('a'): key 'value' is missing"),
        ('what = "a"\nvalue = "{nope}"', "row #1 ('a'): key 'value': no measure 'nope'"),
        ('what = "a"\nvalue = "{m:.2q}"', "row #1 ('a'): key 'value'"),
        ('what = "a"\nvalue = "{m.sd}"', "row #1 ('a'): key 'value': sd needs at least two"),
        ('what = "a"\nvalue = "{m"', "row #1 ('a'): key 'value'"),
        ('what = "a"\nvalue = 3', "row #1 ('a'): key 'value' must be one line of text"),
        ('table = "u"\nwhat = "a"\nvalue = "b"', "row #1: key 'table' names no table: 'u'"),
    ],
)
def test_bad_row_is_refused_naming_it_and_the_key(tmp_path, row, message):
    path = _write(tmp_path, _measure_toml(GOOD_MEASURE) + "[[row]]\n" + row + "\n")
    with pytest.raises(ConfigError) as exc:
        rp.load(path)
    assert message in str(exc.value)


def test_bad_file_and_table_definitions(tmp_path):
    with pytest.raises(ConfigError, match="no such reproduction file"):
        rp.load(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[tables.t]\nfile = 'T.md'\ncolumns = ['a']\nheaders = ['x', 'y']\n")
    with pytest.raises(ConfigError, match="table 't': key 'headers' must give one header"):
        rp.load(bad)
    bad.write_text("[tables.t]\nfile = 'T.md'\ncolumns = ['a']\n[[thing]]\n")
    with pytest.raises(ConfigError, match="unknown top-level key 'thing'"):
        rp.load(bad)
    twice = _measure_toml(GOOD_MEASURE) * 2
    with pytest.raises(ConfigError, match="measure 'm': key 'id' is used twice"):
        rp.load(_write(tmp_path, twice))


# -- generator ---------------------------------------------------------------------------


def test_generated_table_against_hand_written_markdown(tmp_path):
    values = [0.8943, 0.8973, 0.8965]
    body = _measure_toml(
        {
            **GOOD_MEASURE,
            "id": "acc",
            "seeds": [0, 1, 2],
            "value": values,
            "command": "python -c 'print({seed})'",
            "reproducible": "tolerance",
            "tolerance": 0.005,
        }
    ) + _measure_toml({**GOOD_MEASURE, "id": "slope", "value": -0.5041})
    body += """
[[row]]
what = "accuracy"
value = "{acc.pct.mean:.2f} ± {acc.pct.sd:.2f}% ({acc.pct:.2f}; first {acc[0]:.4f})"

[[row]]
what = "slope, {{literal}}"
value = "{slope:.3f} (min {acc.min}, max {acc.max:.2%})"
"""
    repro = rp.load(_write(tmp_path, body))
    pct = [100 * v for v in values]
    mean, sd = statistics.mean(pct), statistics.stdev(pct)
    expected = "\n".join(
        [
            "| what | value |",
            "|---|---|",
            f"| accuracy | {mean:.2f} ± {sd:.2f}% (89.43 / 89.73 / 89.65; first 0.8943) |",
            "| slope, {literal} | -0.504 (min 0.8943, max 89.73%) |",
        ]
    )
    assert rp.render_table(repro, "readme") == expected
    assert f"{mean:.2f} ± {sd:.2f}" == "89.60 ± 0.16"


def test_write_tables_replaces_only_the_marked_block(tmp_path):
    body = _measure_toml(GOOD_MEASURE) + '[[row]]\nwhat = "one"\nvalue = "{m:.1f}"\n'
    repro = rp.load(_write(tmp_path, body))
    begin, end = rp.markers("readme")
    target = tmp_path / "T.md"
    target.write_text(f"# Title\n\ntext before\n{begin}\n| stale |\n{end}\ntext after\n")
    target.write_text("no markers\n")
    with pytest.raises(ConfigError, match="table 'readme' needs its two markers"):
        rp.table_in_file(repro, "readme")
    target.write_text(f"# Title\n\ntext before\n{begin}\n| stale |\n{end}\ntext after\n")
    assert rp.write_tables(repro) == [target]
    assert target.read_text() == (
        f"# Title\n\ntext before\n{begin}\n| what | value |\n|---|---|\n| one | 1.0 |\n"
        f"{end}\ntext after\n"
    )
    assert rp.write_tables(repro) == []  # up to date: nothing written
    assert rp.table_in_file(repro, "readme") == rp.render_table(repro, "readme")


def test_readme_and_docs_tables_equal_the_generated_ones():
    """The tables in README.md and docs/ are exactly what the data file generates: edit
    experiments/reproduction.toml and run `spikesim reproduce --table --write`."""
    repro = rp.load(REPO / "experiments" / "reproduction.toml")
    assert "readme" in repro.tables
    for name in repro.tables:
        assert rp.table_in_file(repro, name) == rp.render_table(repro, name), (
            f"table {name!r} in {repro.tables[name].file} differs from the data file: "
            "run `spikesim reproduce --table --write`"
        )


def test_every_readme_row_is_in_the_data_file():
    """Every row between the README's markers comes from a [[row]] (none added by hand
    next to them), and the measures' claims are unique."""
    repro = rp.load(REPO / "experiments" / "reproduction.toml")
    block = rp.table_in_file(repro, "readme").splitlines()
    rows = [r for r in repro.rows if r.table == "readme"]
    assert len(block) == 2 + len(rows)
    claims = [m.claim for m in repro.measures.values()]
    assert len(set(claims)) == len(claims)


# -- check -------------------------------------------------------------------------------


def _toy_measure(mid: str, value: float, **extra) -> str:
    return _measure_toml(
        {
            "id": mid,
            "claim": f"toy score ({mid})",
            "command": f"spikesim train {TOY} --out {{out}} --set experiment.seed={{seed}}",
            "read": "results.json:final.score",
            "seeds": [0, 1],
            "value": value,
            "reproducible": "exact",
            "wall_s": 2,
            "measured": "2026-12-02",
            "commit": "b0009b6",
            **extra,
        }
    )


def test_check_reproduces_and_drifts_on_real_commands(tmp_path):
    scores = [_toy_score(0), _toy_score(1)]
    assert scores[0] != scores[1]
    body = (
        _toy_measure("toy-ok", scores)
        + _toy_measure("toy-drift", [scores[0], scores[1] + 1e-9])
        + _measure_toml(
            {
                **GOOD_MEASURE,
                "id": "sqrt2",
                "command": "python -c 'import json; print(json.dumps({{\"x\": 2 ** 0.5}}))'",
                "value": 1.4142,
                "reproducible": "tolerance",
                "tolerance": 1e-4,
                "wall_s": 1,
            }
        )
        + _measure_toml(
            {**GOOD_MEASURE, "id": "fails", "command": "python -c 'exit(3)'", "wall_s": 1}
        )
        + _measure_toml({**GOOD_MEASURE, "id": "costly", "wall_s": 7200})
        + _measure_toml(
            {
                k: v
                for k, v in {**GOOD_MEASURE, "id": "scripted"}.items()
                if k not in ("command", "read")
            }
        )
    )
    repro = rp.load(_write(tmp_path, body))
    lines = []
    ran = rp.check(repro, budget_s=60, progress=lines.append)
    # cheapest first (ties by id), then the skipped ones in file order
    assert [o.id for o in ran] == ["fails", "sqrt2", "toy-drift", "toy-ok", "costly", "scripted"]
    outcomes = {o.id: o for o in ran}

    assert outcomes["toy-ok"].status == "reproduced"
    assert outcomes["toy-ok"].now == tuple(scores)
    drift = outcomes["toy-drift"]
    assert drift.status == "drifted" and drift.now == tuple(scores)
    assert drift.recorded[1] == scores[1] + 1e-9 and "seed 1" in drift.reason
    assert outcomes["sqrt2"].status == "reproduced"
    assert math.isclose(outcomes["sqrt2"].now[0], math.sqrt(2), rel_tol=0, abs_tol=0)
    assert outcomes["fails"].status == "failed" and "exit status 3" in outcomes["fails"].reason
    assert outcomes["costly"].status == "skipped" and "budget" in outcomes["costly"].reason
    assert outcomes["scripted"].status == "skipped"
    assert "no command" in outcomes["scripted"].reason
    assert any("DRIFTED" in line for line in lines)
    assert any("toy-ok seed 1: ok" in line for line in lines)


def test_check_plan_budget_and_order(tmp_path):
    body = (
        _toy_measure("b", [0.0, 0.0], wall_s=30)
        + _toy_measure("a", [0.0, 0.0], wall_s=10)
        + _toy_measure("c", [0.0, 0.0], wall_s=5, reproducible="machine", tolerance=1.0)
    )
    repro = rp.load(_write(tmp_path, body))
    run, skipped = rp.plan(repro, budget_s=60)  # a: 2 x 10 s, b: 2 x 30 s
    assert [m.id for m in run] == ["a"]
    assert "budget (60 s recorded, 40 s left)" in skipped["b"]
    assert "machine-dependent" in skipped["c"]
    run, skipped = rp.plan(repro, budget_s=1000, only=["c", "b"])
    assert [m.id for m in run] == ["c", "b"]
    with pytest.raises(ConfigError, match="--only: no measure 'z'"):
        rp.plan(repro, budget_s=10, only=["z"])


def test_one_run_serves_measures_reading_the_same_command(tmp_path):
    """A command that measures every seed at once runs once (``read`` picks the seed), and
    two measures reading the same run's output share it: the command counts its runs."""
    counter = tmp_path / "runs.txt"
    code = (
        f"import json; open({str(counter)!r}, 'a').write('run ');"
        " print(json.dumps({{'v': [10, 20], 'w': 3}}))"
    )
    body = _measure_toml(
        {
            **GOOD_MEASURE,
            "id": "per-seed",
            "command": f'python -c "{code}"',
            "read": "stdout:v.{seed}",
            "seeds": [0, 1],
            "value": [10, 20],
            "wall_s": 1,
        }
    ) + _measure_toml(
        {**GOOD_MEASURE, "id": "w", "command": f'python -c "{code}"', "read": "stdout:w"}
    )
    repro = rp.load(_write(tmp_path, body))
    outcomes = {o.id: o for o in rp.check(repro, budget_s=10, only=["per-seed", "w"])}
    assert outcomes["per-seed"].status == "reproduced"
    assert outcomes["per-seed"].now == (10.0, 20.0)
    assert outcomes["w"].status == "drifted" and outcomes["w"].now == (3.0,)  # recorded 1
    assert counter.read_text() == "run "


def test_cli_check_json_and_exit_codes(tmp_path, capsys):
    scores = [_toy_score(0), _toy_score(1)]
    body = _toy_measure("toy-ok", scores) + _toy_measure("toy-drift", [0.5, 0.5])
    path = _write(tmp_path, body)
    assert main(["reproduce", "--check", "--file", str(path), "--only", "toy-ok", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(o["id"], o["status"], o["now"]) for o in out] == [("toy-ok", "reproduced", scores)]
    code = main(["reproduce", "--check", "--file", str(path), "--budget", "1", "--json"])
    out = {o["id"]: o for o in json.loads(capsys.readouterr().out)}
    assert code == 1 and out["toy-drift"]["status"] == "drifted"
    assert out["toy-drift"]["recorded"] == [0.5, 0.5] and out["toy-drift"]["now"] == scores
    assert main(["reproduce", "--check", "--file", str(path), "--budget", "0"]) == 0
    assert "budget" in capsys.readouterr().out


def test_cli_table_and_usage(tmp_path, capsys):
    body = _measure_toml(GOOD_MEASURE) + '[[row]]\nwhat = "one"\nvalue = "{m:.1f}"\n'
    path = _write(tmp_path, body)
    assert main(["reproduce", "--table", "--file", str(path)]) == 0
    assert capsys.readouterr().out == "| what | value |\n|---|---|\n| one | 1.0 |\n"
    assert main(["reproduce"]) == 2
    assert "give a reproduction NAME, --table or --check" in capsys.readouterr().err
    assert main(["reproduce", "--check", "--write", "--file", str(path)]) == 2
    assert main(["reproduce", "--check", "--budget", "-1", "--file", str(path)]) == 2
    assert main(["reproduce", "--check", "amit-linear", "--seeds", "1"]) == 2
    assert "go without a reproduction NAME" in capsys.readouterr().err
