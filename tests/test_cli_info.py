"""`spikesim info` and the dataset folder named by SPIKESIM_DATA."""

from __future__ import annotations

import json

import pytest

from spikesim.cli import main
from spikesim.data.images import FILES
from spikesim.errors import DatasetNotFoundError


def _info(capsys, *extra):
    assert main(["info", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_lists_the_registries(capsys):
    from spikesim import __version__, rate
    from spikesim.engines import available, get_engine
    from spikesim.experiments.config import available_kinds
    from spikesim.plasticity import available_rules

    info = _info(capsys)
    assert info["version"] == __version__
    assert sorted(info["engines"]) == available()
    for name, entry in info["engines"].items():
        ok, reason = type(get_engine(name)).availability()
        assert entry == {"available": ok, "reason": reason}
        assert ok or reason  # an unavailable engine says why
    assert info["rules"] == available_rules()
    assert info["rate_learners"] == rate.available()
    assert info["kinds"] == available_kinds()


def test_info_reports_datasets_and_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPIKESIM_DATA", str(tmp_path))
    info = _info(capsys)
    assert info["environment"]["SPIKESIM_DATA"] == str(tmp_path)
    entry = info["datasets"]["fashion-mnist"]
    assert not entry["found"] and str(tmp_path) in entry["where"]
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for stem in FILES.values():
        (folder / f"{stem}.gz").write_bytes(b"")
    entry = _info(capsys)["datasets"]["fashion-mnist"]
    assert entry == {"found": True, "where": str(folder)}


def test_info_text(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("spikesim ") and "engines:" in out and "SPIKESIM_DATA" in out


def test_spikesim_data_without_the_dataset_is_an_error(tmp_path, monkeypatch):
    """No silent fall back to /usr/share/datasets or the cache when the variable is set."""
    from spikesim import data

    monkeypatch.setenv("SPIKESIM_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as exc:
        data.load("fashion-mnist")
    message = str(exc.value)
    assert f"SPIKESIM_DATA={tmp_path}" in message
    assert str(tmp_path / "fashion-mnist") in message
    assert all(stem in message for stem in FILES.values())
    assert "/usr/share/datasets" not in message.split("to get it")[0]
