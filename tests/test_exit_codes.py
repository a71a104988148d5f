"""The installed ``spikesim`` command: exit codes 0 / 2 / 1, messages on stderr, results on stdout.

0: success; 2: a usage or config error (bad arguments, bad experiment file, invalid
value); 1: a runtime failure (missing dataset, a run that fails). Every case runs the
console script of the virtual environment in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SPIKESIM = str(Path(sys.executable).with_name("spikesim"))


def spikesim(*args, cwd=None):
    env = dict(os.environ, SPIKESIM_NO_PROGRESS="1")
    return subprocess.run(
        [SPIKESIM, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=300,
    )


TOY = textwrap.dedent(
    """
    [experiment]
    kind = "toy"
    seed = 2

    [toy]
    n = 5
    steps = 2
    """
)


@pytest.fixture
def files(tmp_path):
    def write(name, text):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def test_success_exit_0_results_on_stdout_and_in_files(files, tmp_path):
    proc = spikesim("train", files("toy.toml", TOY), "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # stdout is exactly the JSON summary
    assert summary["out"] == str(tmp_path / "out") and "final" in summary
    assert (tmp_path / "out" / "results.json").is_file()
    assert "error" not in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "invalid choice: 'nope'"),
        ([], "required: COMMAND"),
        (["train"], "the following arguments are required"),
        (["demo", "--seed", "x"], "invalid int value: 'x'"),
        (["bench", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_usage_errors_exit_2(args, message):
    proc = spikesim(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stdout == ""


CONFIG_ERRORS = {
    "missing file": (None, "does not exist"),
    "directory": ("DIR", "is a directory"),
    "not TOML": ("[experiment\nkind = ", "not valid TOML"),
    "not UTF-8": (b"\xff\xfe[experiment]", "not UTF-8"),
    "unknown kind": ('[experiment]\nkind = "nope"\n', "experiment.kind = 'nope' is not one of"),
    "unknown key": ('[experiment]\nkind = "toy"\n[toy]\nstepz = 3\n', "unknown key toy.stepz"),
    "wrong type": ('[experiment]\nkind = "toy"\n[toy]\nsteps = "3"\n', "toy.steps must be"),
    "bad value": ('[experiment]\nkind = "toy"\n[toy]\nsteps = 0\n', "toy.steps = 0: must be > 0"),
    "unknown table": ('[experiment]\nkind = "toy"\n[toi]\n', "unknown table [toi]"),
    "table is a value": ("experiment = 3\n", "[experiment] must be a table"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_errors_exit_2_naming_the_problem(case, tmp_path):
    content, message = CONFIG_ERRORS[case]
    path = tmp_path / "exp.toml"
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    proc = spikesim("train", path, "--out", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("spikesim: error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(
    "override, message",
    [
        ("toy.steps", "--set expects TABLE.KEY=VALUE"),
        ("toy.steps=-1", "toy.steps = -1: must be > 0"),
        ("experiment.kind.x=1", "unknown key experiment.kind.x"),
    ],
)
def test_bad_overrides_exit_2(files, tmp_path, override, message):
    proc = spikesim("train", files("toy.toml", TOY), "--out", tmp_path / "o", "--set", override)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_missing_dataset_exits_1(files, tmp_path):
    from spikesim.experiments import available_kinds

    if "rate" not in available_kinds():
        pytest.skip("kind 'rate' not registered")
    empty = tmp_path / "no-data"
    empty.mkdir()
    exp = files(
        "mnist.toml",
        f"""
        [experiment]
        kind = "rate"
        [task]
        dataset = "mnist"
        path = "{empty}"
        [learner]
        name = "bp"
        sizes = [784, 10, 10]
        """,
    )
    proc = spikesim("train", exp, "--out", tmp_path / "out")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("spikesim: error: ") and "mnist" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_failing_run_exits_1(files, tmp_path):
    proc = spikesim("train", files("toy.toml", TOY + "fail = true\n"), "--out", tmp_path / "o")
    assert proc.returncode == 1
    assert proc.stderr.startswith("spikesim: error: ") and proc.stdout == ""
    assert "Traceback" not in proc.stderr and "SPIKESIM_DEBUG=1" in proc.stderr
