"""Every ```python block of the tutorials in docs/guide/tutorial-*.md runs without error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide"
FAST = sorted(p for p in GUIDE.glob("tutorial-*.md"))


def code_blocks(path: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))


@pytest.mark.parametrize("path", FAST, ids=[p.stem for p in FAST])
def test_tutorial_runs(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = code_blocks(path)
    assert code.strip(), f"{path.name} has no python block"
    exec(compile(code, str(path), "exec"), {"__name__": "__tutorial__"})
    # a tutorial that promises figures writes them
    for name in re.findall(r'save_figure\([^,]+, "([^"]+)"\)', code):
        assert (tmp_path / name).stat().st_size > 1000
