"""The options every command shares: --set, --seed, --version, --quiet, help text."""

from __future__ import annotations

import argparse
import re

import pytest

from spikesim.cli import build_parser, main
from spikesim.engines import available


def _parsers(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, path + (name,))


def test_every_option_has_help_text():
    missing = [
        (" ".join(path), action.option_strings)
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if action.option_strings and not action.help
    ]
    assert missing == []


def test_every_command_has_a_description():
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    assert [name for name, p in sub.choices.items() if not p.description] == []


@pytest.mark.parametrize("command", ["train", "compare", "sweep"])
def test_set_is_common(command):
    args = build_parser().parse_args([command, "x.toml", "--out", "o", "--set", "a.b=1"])
    assert args.set == ["a.b=1"]


@pytest.mark.parametrize("command", ["train", "compare"])
def test_seed_is_common(command):
    args = build_parser().parse_args([command, "x.toml", "--out", "o", "--seed", "7"])
    assert args.seed == 7


def test_version(capsys):
    from spikesim import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikesim {__version__}"


def test_quiet_turns_progress_off(monkeypatch):
    monkeypatch.delenv("SPIKESIM_NO_PROGRESS", raising=False)
    seen = {}
    parser = build_parser()
    args = parser.parse_args(["--quiet", "demo"])
    assert args.quiet
    import os

    def fake(args):
        seen["env"] = os.environ.get("SPIKESIM_NO_PROGRESS")
        return 0

    monkeypatch.setattr("spikesim.cli.build_parser", lambda: _with_func(parser, fake))
    assert main(["--quiet", "demo"]) == 0
    assert seen["env"] == "1"


def _with_func(parser, func):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["demo"].set_defaults(func=func)
    return parser


def test_demo_engine_choices_are_the_registry():
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    engine = next(a for a in sub.choices["demo"]._actions if a.dest == "engine")
    assert list(engine.choices) == available()


def test_sweep_help_example_is_valid_for_its_file(capsys):
    """The epilog's example parses: the file exists and the swept key is in its kind."""
    import re
    import shlex
    from pathlib import Path

    from spikesim.experiments import load

    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    epilog = sub.choices["sweep"].epilog
    line = next(ln for ln in epilog.splitlines() if "spikesim sweep" in ln)
    argv = shlex.split(line.strip())[1:]
    args = top.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    for spec in args.param:
        key, values = spec.split("=", 1)
        for value in values.split(","):
            assert re.fullmatch(r"[\w.]+", key)
            load(root / args.experiment, overrides=[f"{key}={value}"])


def test_env_vars_in_top_level_help():

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    found = set()
    for path in (root / "spikesim").rglob("*.py"):
        found.update(re.findall(r"os\.environ\.get\(\s*\"(SPIKESIM_\w+)\"", path.read_text()))
    text = build_parser().format_help()
    assert found and [name for name in sorted(found) if name not in text] == []


def test_env_vars_in_the_command_line_docs():
    from pathlib import Path

    from spikesim.experiments.info import ENVIRONMENT

    page = Path(__file__).resolve().parents[1] / "docs" / "guide" / "command-line.md"
    text = page.read_text()
    assert [name for name in ENVIRONMENT if f"`{name}`" not in text] == []


@pytest.mark.parametrize("module", ["spikesim", "spikesim.cli"])
def test_python_dash_m_runs_the_command_line(module):
    """``python -m spikesim`` and ``python -m spikesim.cli`` are the ``spikesim`` script:
    same version line, same exit status for a usage error."""
    import subprocess
    import sys

    from spikesim import __version__

    ok = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0 and ok.stdout.strip() == f"spikesim {__version__}"
    bad = subprocess.run(
        [sys.executable, "-m", module, "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "no-such-command" in bad.stderr
