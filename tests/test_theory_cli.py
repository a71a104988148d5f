"""``spikesim theory ...``: small runs that check the identities, files and exit codes."""

import json

import numpy as np
import pytest

from spikesim.cli import main


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_sh_theorem1_json_and_files(tmp_path, capsys):
    code, out, _ = _run(
        capsys, ["theory", "sh-theorem1", "--quick", "--json", "--out", str(tmp_path)]
    )
    assert code == 0
    res = json.loads(out)
    assert res == json.loads((tmp_path / "sh-theorem1.json").read_text())
    assert (tmp_path / "sh-theorem1.png").stat().st_size > 10_000
    # the measured mean update agrees with eq. (4.6) to within its sampling noise
    assert res["relative_error"] <= 4 * res["noise_level"]
    assert res["min_p_value"] > 1e-3
    assert res["n"][-1] == 20_000


def test_ck_rate_slope(tmp_path, capsys):
    code, out, _ = _run(
        capsys,
        [
            "theory",
            "ck-rate",
            "--ns",
            "100,316,1000",
            "--dims",
            "2,4",
            "--replicates",
            "40",
            "--learning-rate",
            "1.5",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert code == 0
    res = json.loads(out)
    assert res["learning_rate"] == 1.5 and "alpha" not in res
    assert -0.7 < res["slope"] < -0.3
    for case in res["cases"]:
        assert np.all(np.diff(case["error"]) < 0)
    assert (tmp_path / "ck-rate.png").exists()


def test_variance_exponent(tmp_path, capsys):
    code, out, _ = _run(capsys, ["theory", "variance", "--quick", "--out", str(tmp_path)])
    assert code == 0 and "exponent (1-point)" in out
    res = json.loads((tmp_path / "variance.json").read_text())
    assert abs(res["exponent"] - 2.0) < 0.3
    assert abs(res["two_point_exponent"] - 1.0) < 0.3
    assert (tmp_path / "variance.png").exists()


def test_bad_sizes_exit_with_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["theory", "variance", "--dims", "a,b", "--out", str(tmp_path)])
    assert info.value.code == 2
    code, _, err = _run(
        capsys, ["theory", "sh-theorem1", "--samples", "10", "--out", str(tmp_path)]
    )
    assert code == 2 and "samples" in err


def test_divergence_is_a_runtime_failure(tmp_path, capsys):
    # n = 10 updates with d = 64 is far outside the stable regime n >> learning_rate A^2 d
    code, _, err = _run(
        capsys,
        [
            "theory",
            "ck-rate",
            "--ns",
            "10,20",
            "--dims",
            "64",
            "--replicates",
            "20",
            "--out",
            str(tmp_path),
        ],
    )
    assert code == 1
    assert "diverged at step" in err and "n >> learning_rate A^2 d" in err


def test_digits_quick(tmp_path, capsys):
    code, out, _ = _run(
        capsys,
        [
            "theory",
            "digits",
            "--steps",
            "2000",
            "--eval-every",
            "1000",
            "--rules",
            "previous,ema",
            "--learning-rate",
            "0.02",
            "--out",
            str(tmp_path),
        ],
    )
    assert code == 0 and "previous" in out and "ema" in out
    res = json.loads((tmp_path / "digits.json").read_text())
    assert [r["rule"] for r in res["runs"]] == ["previous", "ema"]
    assert res["learning_rate"] == 0.02 and "alpha" not in res
    assert res["runs"][0]["steps"] == [0, 1000, 2000]
    assert (tmp_path / "digits.png").exists()


def test_digits_unknown_rule_is_usage_error(tmp_path, capsys):
    code, _, err = _run(capsys, ["theory", "digits", "--rules", "adam", "--out", str(tmp_path)])
    assert code == 2 and "adam" in err
