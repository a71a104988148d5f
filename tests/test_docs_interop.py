"""The python blocks of docs/guide/interop.md run and print what the page says."""

import contextlib
import io
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "guide" / "interop.md"


# elephant 1.2 passes copy= to quantities >= 0.16, which deprecates it (third-party)
@pytest.mark.filterwarnings("ignore:The 'copy' argument in Quantity is deprecated")
def test_interop_page_runs_and_prints_what_it_says(tmp_path, monkeypatch):
    for name in ("nir", "pynwb", "neo", "elephant"):
        pytest.importorskip(name, reason=f"the optional package {name!r} is not installed")
    monkeypatch.chdir(tmp_path)
    text = PAGE.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 4
    printed = []
    for code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(PAGE), "exec"), {"__name__": "__doc__"})
        printed.append(out.getvalue())
    texts = re.findall(r"```text\n(.*?)```", text, flags=re.S)
    assert printed[0] == texts[0]
    assert "Network(n_neurons=5, n_edges=6, inputs=3, outputs=2) [0.2 0.2 0.2]" in text
    assert (
        printed[1].strip() == "Network(n_neurons=5, n_edges=6, inputs=3, outputs=2) [0.2 0.2 0.2]"
    )
    assert printed[2].strip().endswith("(500, 2)")
    assert printed[3] == texts[1]
