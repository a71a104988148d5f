"""An exploding loss stops every kind with a divergence error (exit 1) naming the step."""

from __future__ import annotations

import pytest

from spikesim.cli import main

RATE = (
    '[experiment]\nkind = "rate"\nseed = 1\n[task]\ndataset = "blobs"\nn_train = 200\n'
    '[learner]\nname = "bp"\nsizes = [20, 8, 4]\nlearning_rate = {lr}\n[train]\nepochs = 2\n'
)
ZEROORDER = (
    '[experiment]\nkind = "zeroorder"\nseed = 0\n[task]\ndataset = "digits"\nn_train = 300\n'
    'n_test = 50\n[model]\nsizes = [64, 8, 10]\n[rule]\nmethod = "sgd"\n'
    "learning_rate = {lr}\n[train]\nsteps = 200\neval_every = 20\n"
)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow being reported
@pytest.mark.parametrize(
    "text, pattern",
    [(RATE, r"diverged at step \d+: train_loss = \S+ \(limit"), (ZEROORDER, r"at update \d+")],
)
def test_exploding_loss_exits_1(tmp_path, capsys, text, pattern):
    import re

    exp = tmp_path / "e.toml"
    exp.write_text(text.format(lr=1e6))
    assert main(["train", str(exp), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert (
        re.search(pattern, err)
        and "smaller" in err
        and "learning_rate" in err.replace("learning rate", "learning_rate")
    )
    # the same file with a sane learning rate finishes (the check is not always on)
    exp.write_text(text.format(lr=0.01))
    assert main(["train", str(exp), "--out", str(tmp_path / "ok")]) == 0
