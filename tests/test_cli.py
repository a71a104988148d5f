"""The command-line tool: demo outputs, benchmark JSON, exit codes."""

import json
import subprocess
import sys

import pytest

from spikesim.cli import main


def test_demo_writes_its_outputs(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seed", "1"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("raster.png", "voltage.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert summary["network"]["n_edges"] == 64 * 100 + 100 * 10
    assert summary["spike_counts_per_layer"]["hidden"] > 0
    assert summary["seed"] == 1


def test_bench_events_json(capsys):
    assert main(["bench", "events", "--json", "--engines", "event", "--trials", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["synaptic_events_per_s"] > 0 and out["trials_per_s"] > 0
    assert out["network"]["n_edges"] == 784 * 100 + 100 * 10


def test_help_and_usage_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "spikesim.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "demo" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "spikesim.cli", "nope"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_engine_error_exit_code(tmp_path, capsys):
    from spikesim.engines import available

    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path), "--engine", "nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err
    assert all(name in err for name in available())


@pytest.mark.parametrize("argv", [["demo", "--seed", "x"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


DIAGNOSE_FILE = """
[experiment]
kind = "spiking"
[task]
dataset = "spike-pattern"
n_inputs = 6
n_train = 8
n_test = 4
[network]
sizes = [6, 2]
[train]
trials = 10
chunk = 10
eval_every = 10
"""


def test_diagnose_prints_the_single_layer_numbers(tmp_path, capsys):
    exp = tmp_path / "d.toml"
    exp.write_text(DIAGNOSE_FILE)
    argv = ["diagnose", str(exp), "--samples", "2", "--trials", "20", "--capacity"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("single-trial Poisson accuracy ceiling of the targets: 0.")
    assert out[1].startswith("rate model with the network's signs: train")
    assert [line.split(":")[0] for line in out[2:]] == ["sample 0", "sample 1"]
    # --set as in train; a hidden layer leaves only the ceiling
    assert main(["diagnose", str(exp), "--set", "network.sizes=[6, 3, 2]"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("hidden layer")


def test_diagnose_refuses_other_kinds_and_old_keys(tmp_path, capsys):
    exp = tmp_path / "t.toml"
    exp.write_text('[experiment]\nkind = "toy"\n')
    assert main(["diagnose", str(exp)]) == 2
    assert 'needs kind = "spiking"' in capsys.readouterr().err
    exp.write_text(DIAGNOSE_FILE)
    assert main(["diagnose", str(exp), "--set", "task.data_path=/d"]) == 2
    assert "task.data_path was renamed task.path" in capsys.readouterr().err
    assert main(["diagnose", str(exp), "--trials", "0"]) == 2
    assert "--trials must be >= 1" in capsys.readouterr().err
