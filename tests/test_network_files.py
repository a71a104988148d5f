"""Trained networks as files: ``network.file`` in an experiment file, ``spikesim simulate``."""

import json

import numpy as np
import pytest

import spikesim
from spikesim import io
from spikesim.cli import main
from spikesim.errors import ConfigError
from spikesim.experiments.config import resolve
from spikesim.experiments.kinds import spiking

EXPERIMENT = """\
[experiment]
name = "files"
kind = "spiking"
seed = 0
[task]
dataset = "spike-pattern"
n_train = 20
n_test = 10
[network]
sizes = [10, 2]
{network}
[encoding]
duration = 0.05
[train]
trials = 100
chunk = 100
eval_every = 100
plots = false
"""


def _raw(network=None, sizes=(10, 2)):
    raw = {
        "experiment": {"name": "files", "kind": "spiking", "seed": 0},
        "task": {"dataset": "spike-pattern", "n_train": 20, "n_test": 10},
        "network": {"sizes": list(sizes), **(network or {})},
        "encoding": {"duration": 0.05},
        "train": {"trials": 100, "chunk": 100, "eval_every": 100, "plots": False},
    }
    return raw


@pytest.fixture
def saved(tmp_path):
    """A network as a spiking run saves it: the built network with changed weights."""
    net = spiking.build(resolve(_raw(), base_dir=tmp_path))["network"]
    w = np.random.default_rng(3).uniform(0.0, 0.4, net.n_edges)
    path = io.save_network(tmp_path / "trained.npz", net.with_weights(w))
    return path, net.with_weights(w)


def test_network_file_is_the_saved_network(saved, tmp_path):
    path, net = saved
    config = resolve(_raw({"file": "trained.npz"}), base_dir=tmp_path)
    assert config["network"]["file"] == str(path.resolve())
    built = spiking.build(config)["network"]
    for name in ("pre", "post", "weight", "delay", "sign", "inputs", "outputs", "t_ref"):
        np.testing.assert_array_equal(getattr(built, name), getattr(net, name))


def test_training_continues_from_the_saved_weights(saved, tmp_path):
    from spikesim.experiments.runs import run_experiment

    path, net = saved
    run_experiment(resolve(_raw({"file": str(path)}), base_dir=tmp_path), tmp_path / "run")
    w = np.load(tmp_path / "run" / "weights.npz")
    np.testing.assert_array_equal(w["w_init"], net.weight)
    again = io.load_network(tmp_path / "run" / "network.npz")
    np.testing.assert_array_equal(again.weight, w["w_final"])
    np.testing.assert_array_equal(again.pre, net.pre)


def test_zero_trials_evaluates_a_trained_network(tmp_path):
    """``train.trials = 0`` with ``network.file``: the run's saved network, evaluated alone,
    gives exactly the run's final test accuracy and loss, and its weights stay."""
    from spikesim.experiments.runs import run_experiment

    first = run_experiment(resolve(_raw(), base_dir=tmp_path), tmp_path / "train")
    raw = _raw({"file": str(tmp_path / "train" / "network.npz")})
    raw["train"]["trials"] = 0
    again = run_experiment(resolve(raw, base_dir=tmp_path), tmp_path / "eval")
    assert again["final"]["steps"] == 0
    assert again["final"]["test_accuracy"] == first["final"]["test_accuracy"]
    assert again["final"]["test_loss"] == first["final"]["test_loss"]
    w = np.load(tmp_path / "eval" / "weights.npz")
    np.testing.assert_array_equal(w["w_init"], w["w_final"])


def test_missing_network_file_names_key_and_path(tmp_path):
    with pytest.raises(ConfigError, match=r"network.file = 'nope.npz' not found"):
        resolve(_raw({"file": "nope.npz"}), base_dir=tmp_path)


def test_a_file_that_is_not_a_network_is_refused(tmp_path):
    rec = spikesim.SpikeRecord(np.zeros(0), np.zeros(0, np.int64), 3, 0.1)
    io.save_record(tmp_path / "rec.npz", rec)
    with pytest.raises(ConfigError, match=r"network.file = '.*rec.npz' is not a saved network"):
        resolve(_raw({"file": "rec.npz"}), base_dir=tmp_path)


def test_keys_the_file_fixes_are_refused(saved, tmp_path):
    with pytest.raises(ConfigError, match=r"network.tau_syn = 0.02 conflicts with network.file"):
        resolve(_raw({"file": "trained.npz", "tau_syn": 0.02}), base_dir=tmp_path)


def test_sizes_must_describe_the_saved_layers(saved, tmp_path):
    with pytest.raises(ConfigError, match=r"has layers \[11, 2\] but network.sizes = \[10, 3\]"):
        resolve(_raw({"file": "trained.npz"}, sizes=(10, 3)), base_dir=tmp_path)


def _experiment(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.format(network=""))
    return path


def test_simulate_writes_raster_spikes_and_voltages(saved, tmp_path, capsys):
    path, net = saved
    out = tmp_path / "sim"
    code = main(
        ["simulate", str(path), "--input", str(_experiment(tmp_path)), "--out", str(out)]
        + ["--samples", "0,2", "--seed", "5"]
    )
    assert code == 0
    printed = capsys.readouterr().out.split()
    for k in (0, 2):
        for name in (f"spikes_{k}.npz", f"raster_{k}.png", f"voltage_{k}.png"):
            assert str(out / name) in printed
    # the saved spikes are those of an independent simulation of the same sample and seed
    built = spiking.build(resolve(_raw(), base_dir=tmp_path))
    drive = spikesim.encoding.poisson(
        built["x_test"][2], duration=0.05, max_rate=100.0, neurons=net.inputs, seed=5 + 2
    )
    want = spikesim.simulate(net, drive, 0.05, voltage_neurons=net.outputs)
    got = io.load_record(out / "spikes_2.npz")
    np.testing.assert_array_equal(got.times, want.times)
    np.testing.assert_array_equal(got.neurons, want.neurons)
    np.testing.assert_array_equal(got.voltage, want.voltage)
    np.testing.assert_array_equal(got.voltage_neurons, net.outputs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"][1]["sample"] == 2
    assert summary["trials"][1]["label"] == int(built["y_test"][2])
    assert summary["trials"][1]["output_counts"] == want.counts()[net.outputs].tolist()


def test_simulate_replays_a_record_and_reads_run_folders(saved, tmp_path):
    path, net = saved
    run = tmp_path / "run"
    run.mkdir()
    io.save_network(run / "network.npz", net)
    drive = (np.array([0.001, 0.002, 0.004]), net.inputs[[0, 1, 0]])
    full = spikesim.simulate(net, drive, 0.03)
    io.save_record(tmp_path / "in.npz", full)
    out = tmp_path / "sim"
    args = ["simulate", str(run), "--input", str(tmp_path / "in.npz"), "--out", str(out)]
    assert main(args + ["--voltages", "all"]) == 0
    got = io.load_record(out / "spikes_0.npz")
    np.testing.assert_array_equal(got.times, full.times)
    np.testing.assert_array_equal(got.neurons, full.neurons)
    np.testing.assert_array_equal(got.voltage_neurons, np.flatnonzero(~net.is_input))


def test_simulate_a_nir_file(saved, tmp_path):
    nir = pytest.importorskip("nir", reason="the optional extra 'nir' is not installed")
    path, net = saved
    net0 = net.__class__(
        n_neurons=net.n_neurons,
        pre=net.pre,
        post=net.post,
        weight=net.weight,
        sign=net.sign,
        inputs=net.inputs,
        outputs=net.outputs,
        t_ref=0.0,
    )
    nir.write(tmp_path / "net.nir", spikesim.to_nir(net0))
    drive = (np.array([0.001, 0.002]), net0.inputs[[0, 1]])
    io.save_record(tmp_path / "in.npz", spikesim.simulate(net0, drive, 0.03))
    out = tmp_path / "sim"
    args = ["simulate", str(tmp_path / "net.nir"), "--input", str(tmp_path / "in.npz")]
    assert main(args + ["--out", str(out)]) == 0
    want = spikesim.simulate(net0, drive, 0.03)
    got = io.load_record(out / "spikes_0.npz")
    np.testing.assert_allclose(got.times, want.times, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.neurons, want.neurons)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--samples", "99"], "--samples 99: the test split has 10 samples"),
        (["--samples", "a"], "--samples must be comma-separated integers"),
        (["--voltages", "999"], "--voltages 999: neuron 999 is not in the network"),
    ],
)
def test_simulate_errors_exit_2_with_a_message(saved, tmp_path, capsys, extra, message):
    path, _ = saved
    args = ["simulate", str(path), "--input", str(_experiment(tmp_path))]
    assert main(args + ["--out", str(tmp_path / "o")] + extra) == 2
    assert message in capsys.readouterr().err


def test_simulate_refuses_what_is_not_a_network_or_an_input(tmp_path, capsys, saved):
    path, _ = saved
    exp = str(_experiment(tmp_path))
    out = str(tmp_path / "o")
    assert main(["simulate", str(tmp_path / "no.npz"), "--input", exp, "--out", out]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["simulate", str(path), "--input", "x.csv", "--out", str(tmp_path / "o")]) == 2
    assert "must be an experiment file (.toml) or a spike record (.npz)" in capsys.readouterr().err
    (tmp_path / "big.toml").write_text(EXPERIMENT.format(network="").replace("[10, 2]", "[12, 2]"))
    args = ["simulate", str(path), "--input", str(tmp_path / "big.toml")]
    assert main(args + ["--out", str(tmp_path / "o"), "--set", "task.n_test=10"]) == 2
    err = capsys.readouterr().err
    assert "samples have 13 inputs (bias inputs included) but the network has 11 input" in err
