"""The reward-modulated STDP trainer and the ``spiking`` experiment kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikesim import DivergenceError
from spikesim.cli import main
from spikesim.plasticity.loss import one_hot_rates
from spikesim.plasticity.tasks import ei_network, spike_pattern_task, with_bias
from spikesim.plasticity.trainer import Trainer

SMALL = """
[experiment]
name = "tiny"
kind = "spiking"
seed = 3

[task]
dataset = "spike-pattern"
n_train = 100
n_test = 50

[network]
sizes = [10, 2]

[rule]
baseline = "per-sample"
beta = 0.3

[train]
trials = 4000
chunk = 500
eval_every = 1000
plots = false
"""


def write(tmp_path, text=SMALL, name="exp.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def pattern_trainer(*, shuffle: bool, seed: int = 0, batch: int = 1, n_threads=None):
    ds = spike_pattern_task(n_inputs=20, n_train=200, n_test=200, seed=seed)
    net = ei_network([21, 2], w_exc=0.2, w_inh=0.1, seed=seed)
    tr = Trainer(
        net,
        with_bias(ds.x_train, 1),
        one_hot_rates(ds.y_train, 2, 60.0, 10.0),
        ds.y_train,
        learning_rate=0.02,
        baseline="per-sample",
        beta=0.3,
        rate_scale=50.0,
        chunk=1000,
        batch=batch,
        n_threads=n_threads,
        shuffle_reward=shuffle,
        seed=seed,
    )
    test = (with_bias(ds.x_test, 1), one_hot_rates(ds.y_test, 2, 60.0, 10.0), ds.y_test)
    return tr, test


def test_real_reward_learns_shuffled_reward_does_not():
    accs = {}
    for shuffle in (False, True):
        tr, test = pattern_trainer(shuffle=shuffle)
        for _ in range(15):
            tr.train_chunk()
        accs[shuffle] = tr.evaluate(*test, repeats=2)["accuracy"]
    assert accs[False] >= 0.9
    assert accs[True] <= 0.7  # chance is 0.5


def test_same_seed_same_weights_and_batch_semantics():
    a, _ = pattern_trainer(shuffle=False, seed=1)
    b, _ = pattern_trainer(shuffle=False, seed=1)
    a.train_chunk()
    b.train_chunk()
    np.testing.assert_array_equal(a.w, b.w)
    # batch = 1 through the batched code path equals the sequential loop
    c, _ = pattern_trainer(shuffle=False, seed=1)
    c.batch = 1
    samples, pres = c._samples(0, c.chunk)
    rng = np.random.default_rng([c.seed, 1, 0])
    counts, times = c._spikes(c.x[samples], rng)
    w, bstate = c.w.copy(), c.bstate.copy()
    losses, preds, rel = np.zeros(c.chunk), np.zeros(c.chunk, np.int64), np.zeros(c.chunk)
    bad = c._train_batched(
        samples,
        pres,
        counts,
        times,
        w,
        bstate,
        losses,
        preds,
        rel,
        np.zeros(c.chunk, np.int64),
        c.ring.copy(),
        c.ring_n.copy(),
    )
    assert bad == -1
    np.testing.assert_array_equal(w, a.w)
    # batched updates do not depend on the number of threads
    d1, _ = pattern_trainer(shuffle=False, seed=1, batch=8, n_threads=1)
    d2, _ = pattern_trainer(shuffle=False, seed=1, batch=8, n_threads=2)
    d1.train_chunk()
    d2.train_chunk()
    np.testing.assert_array_equal(d1.w, d2.w)


def test_resume_equals_uninterrupted(tmp_path, capsys):
    exp = write(tmp_path)
    assert main(["train", str(exp), "--out", str(tmp_path / "full")]) == 0
    assert (
        main(["train", str(exp), "--out", str(tmp_path / "part"), "--set", "train.trials=2000"])
        == 0
    )
    assert main(["train", str(exp), "--out", str(tmp_path / "part"), "--resume"]) == 0
    full = np.load(tmp_path / "full" / "weights.npz")
    part = np.load(tmp_path / "part" / "weights.npz")
    np.testing.assert_array_equal(full["w_final"], part["w_final"])
    r_full = json.loads((tmp_path / "full" / "results.json").read_text())
    r_part = json.loads((tmp_path / "part" / "results.json").read_text())
    untimed = [{k: v for k, v in p.items() if k != "wall_s"} for p in r_full["curve"]]
    assert untimed == [{k: v for k, v in p.items() if k != "wall_s"} for p in r_part["curve"]]
    assert [p["step"] for p in r_part["curve"]] == [0, 1000, 2000, 3000, 4000]
    timed = ("wall_s", "samples_per_s")
    assert {k: v for k, v in r_full["final"].items() if k not in timed} == {
        k: v for k, v in r_part["final"].items() if k not in timed
    }
    assert r_part["resumed_from_step"] == 2000 and r_full["resumed_from_step"] == 0
    assert set(r_full["final"]) >= {"test_accuracy", "test_loss"}


def test_nan_loss_stops_with_step_and_keeps_checkpoint(tmp_path, monkeypatch, capsys):
    exp = write(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(exp), "--out", str(out), "--set", "train.trials=1000"]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    import spikesim.experiments.kinds.spiking as kind

    real = kind.make_trainer

    def poisoned(config, built):
        tr = real(config, built)
        tr.targets[7] = np.nan  # every trial on training example 7 now has a NaN loss
        return tr

    monkeypatch.setattr(kind, "make_trainer", poisoned)
    capsys.readouterr()
    assert main(["train", str(exp), "--out", str(out), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "step" in err and "nan" in err.lower() and "checkpoint" in err
    assert (out / "checkpoint.npz").read_bytes() == before
    with np.load(out / "checkpoint.npz") as z:
        assert int(z["step"]) == 1000


def test_divergence_error_carries_the_step():
    tr, _ = pattern_trainer(shuffle=False)
    tr.train_chunk()
    tr.targets[:] = np.inf
    with pytest.raises(DivergenceError, match="step 1000") as exc:
        tr.train_chunk()
    assert exc.value.step == 1000
    assert tr.step == 1000


@pytest.mark.parametrize(
    "table, key, value",
    [
        ("rule", "alphx", "0.1"),
        ("network", "sizes", "[3]"),
        ("rule", "baseline", '"median"'),
        ("network", "inhibitory_fraction", "1.5"),
        ("loss", "tie_break", '"median"'),
    ],
)
def test_bad_keys_are_named(tmp_path, capsys, table, key, value):
    exp = write(tmp_path)
    code = main(
        ["train", str(exp), "--out", str(tmp_path / "o"), "--set", f"{table}.{key}={value}"]
    )
    assert code == 2
    assert f"{table}.{key}" in capsys.readouterr().err


def test_mismatched_layer_sizes_are_named(tmp_path, capsys):
    text = SMALL.replace('dataset = "spike-pattern"', 'dataset = "digits"')
    code = main(["train", str(write(tmp_path, text)), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "network.sizes[0]" in capsys.readouterr().err


def test_chunk_multiples_are_checked_at_load_time(tmp_path, capsys):
    from spikesim.errors import ConfigError
    from spikesim.experiments.config import load

    bad = SMALL.replace("eval_every = 1000", "eval_every = 1100")
    with pytest.raises(ConfigError, match="train.eval_every"):
        load(write(tmp_path, bad))  # the kind's validate hook, before anything runs
    out = tmp_path / "o"
    assert main(["train", str(write(tmp_path, bad)), "--out", str(out)]) == 2
    assert "train.chunk" in capsys.readouterr().err
    assert not (out / "checkpoint.npz").exists()
    with pytest.raises(ConfigError, match="rule.center_beta"):
        load(write(tmp_path, SMALL.replace("beta = 0.3", "beta = 0.3\ncenter_beta = 1.5")))


def test_hidden_layer_random_signs_population_run(tmp_path):
    text = SMALL.replace(
        "sizes = [10, 2]",
        "sizes = [10, 8, 2]\nei_pairs = false\ninhibitory_fraction = 0.3\npopulation = 3\n"
        "w_exc = [0.3, 0.4]\nw_inh = [0.3, 0.4]",
    ).replace("[rule]", '[loss]\ntie_break = "random"\n\n[rule]')
    out = tmp_path / "o"
    assert main(["train", str(write(tmp_path, text)), "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["details"]["n_edges"] == 11 * 8 + 8 * 6  # 10 + 1 bias -> 8 -> 2 classes x 3 outputs
    assert r["final"]["n_parameters"] == r["details"]["n_edges"]
    assert len(r["details"]["output_mean_counts_after"]) == 6
    assert 0.0 <= r["final"]["test_accuracy"] <= 1.0
    # a population run is reproducible: the same seed gives the same curve
    out2 = tmp_path / "o2"
    assert main(["train", str(write(tmp_path, text)), "--out", str(out2)]) == 0
    r2 = json.loads((out2 / "results.json").read_text())
    assert [p["test_accuracy"] for p in r2["curve"]] == [p["test_accuracy"] for p in r["curve"]]
