"""Integer keys accept integral floats (TOML's ``1e3``) and refuse others, in plain words."""

from __future__ import annotations

import pytest

from spikesim.errors import ConfigError
from spikesim.experiments import Field, validate_table
from spikesim.experiments.kinds.rate import learner_table

SCHEMA = {"trials": Field(int, 10, doc="trials"), "lr": Field(float, 0.1, doc="rate")}


def test_integral_float_is_an_integer():
    out = validate_table({"trials": 1e3}, SCHEMA, "train")
    assert out["trials"] == 1000 and type(out["trials"]) is int


@pytest.mark.parametrize("value", [1.5, float("inf"), float("nan"), "3", True])
def test_other_values_are_refused(value):
    with pytest.raises(ConfigError) as exc:
        validate_table({"trials": value}, SCHEMA, "train")
    assert str(exc.value).startswith(f"train.trials must be an integer, got {value!r}")


def test_the_files_path(tmp_path):
    from spikesim.experiments import load

    exp = tmp_path / "e.toml"
    body = (
        '[experiment]\nkind = "rate"\n[task]\ndataset = "blobs"\n'
        '[learner]\nname = "bp"\nsizes = [20, 8, 4]\n[train]\nbatch_size = {}\n'
    )
    exp.write_text(body.format("2e1"))
    assert load(exp)["train"]["batch_size"] == 20
    exp.write_text(body.format("1.5"))
    with pytest.raises(ConfigError, match=r"train.batch_size must be an integer, got 1.5"):
        load(exp)


def test_rate_learner_messages_use_the_right_article():
    with pytest.raises(ConfigError) as exc:
        learner_table({"name": "bp", "sizes": [2, 2], "learning_rate": "x"})
    assert "learner.learning_rate must be a number (like the default" in str(exc.value)


def test_rate_learner_integral_float():
    from spikesim.rate import available

    assert "ep" in available()
    with pytest.raises(ConfigError, match=r"must be an integer .*got 2.5"):
        learner_table({"name": "ep", "sizes": [2, 2], "n_free": 2.5})
    assert learner_table({"name": "ep", "sizes": [2, 3, 2], "n_free": 2e1})["n_free"] == 20
