"""A training run killed with SIGKILL at a random point and resumed ends like an uninterrupted one.

For each trainer kind (``spiking``: reward-modulated STDP; ``rate``: a rate learner) a tiny
experiment runs three times through the real command line, ``.venv/bin/spikesim train``:

1. uninterrupted, timing the span from its first checkpoint to its last one;
2. killed with SIGKILL at a random moment inside that span (after the first checkpoint,
   before the last -- checked: the checkpoint then holds fewer steps than the run has, and
   no ``results.json`` exists; a kill that lands too late is redrawn), then resumed with
   ``--resume``;

and the final weights (every array of the final state) of 2 must equal those of 1 bit for
bit. A control resumes a copy of the killed run whose checkpoint has one weight nudged by
1e-3: its final weights must differ, which shows the resumed run continues from the
checkpoint rather than starting over (a fresh run would also match the reference).

The kill delay is drawn from ``random.Random(SPIKESIM_KILL_SEED)`` (default: a fresh seed,
printed in every failure message so a failure can be replayed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

SPIKESIM = str(Path(sys.executable).with_name("spikesim"))

CONFIGS = {
    # 20 inputs + bias -> 2 outputs, 50 ms trials; a checkpoint every 200 trials.
    "spiking": """
        [experiment]
        name = "sigkill-spiking"
        kind = "spiking"
        seed = 3

        [task]
        dataset = "spike-pattern"
        n_train = 60
        n_test = 20

        [network]
        sizes = [20, 2]

        [encoding]
        duration = 0.05

        [train]
        trials = 6000
        chunk = 100
        eval_every = 200
        plots = false
    """,
    # 20-16-4 multilayer perceptron on blobs, batch 1; a checkpoint every 100 samples.
    "rate": """
        [experiment]
        name = "sigkill-rate"
        kind = "rate"
        seed = 5

        [task]
        dataset = "blobs"

        [learner]
        name = "bp-sgd"
        sizes = [20, 16, 4]
        learning_rate = 0.05

        [train]
        epochs = 1
        batch_size = 1
        max_iterations = 1600
        eval_every = 400
        eval_n_test = 50
        checkpoint_every = 100
        train_error_n = 50
    """,
}


def final_state(kind: str, out: Path) -> dict[str, np.ndarray]:
    """The arrays that define the trained model at the end of a run."""
    if kind == "spiking":
        with np.load(out / "weights.npz") as z:
            state = {"w_final": z["w_final"]}
        with np.load(out / "checkpoint.npz") as z:
            state.update({k: z[k] for k in z.files})
    else:
        from spikesim.experiments.train_rate import load_checkpoint

        state, pos = load_checkpoint(out / "checkpoint.npz")
        state = dict(state, step=np.array(pos["step"]))  # the position's wall_s varies
    return state


def checkpoint_step(kind: str, out: Path) -> int:
    if kind == "spiking":
        with np.load(out / "checkpoint.npz") as z:
            return int(z["step"])
    from spikesim.experiments.train_rate import load_checkpoint

    return int(load_checkpoint(out / "checkpoint.npz")[1]["step"])


def total_steps(kind: str) -> int:
    return 6000 if kind == "spiking" else 1600


def env() -> dict:
    return dict(
        os.environ,
        SPIKESIM_NO_PROGRESS="1",
        OPENBLAS_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
    )


def start(cfg: Path, out: Path, resume: bool = False) -> subprocess.Popen:
    cmd = [SPIKESIM, "train", str(cfg), "--out", str(out)] + (["--resume"] if resume else [])
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()
    )


def wait_for_checkpoint(proc: subprocess.Popen, out: Path, timeout: float = 300.0) -> float:
    t0 = time.monotonic()
    while not (out / "checkpoint.npz").exists():
        if proc.poll() is not None:
            pytest.fail(f"run ended before its first checkpoint: {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("no checkpoint within the time limit")
        time.sleep(0.005)
    return time.monotonic()


def finish(proc: subprocess.Popen, timeout: float = 300.0) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_sigkill_then_resume_gives_the_same_weights(kind, tmp_path):
    from spikesim.experiments import available_kinds

    if kind not in available_kinds():
        pytest.skip(f"kind {kind!r} is not registered")
    cfg = tmp_path / f"{kind}.toml"
    cfg.write_text(textwrap.dedent(CONFIGS[kind]))
    seed = int(os.environ.get("SPIKESIM_KILL_SEED", random.SystemRandom().randrange(10**6)))
    rng = random.Random(seed)

    # 1. uninterrupted reference, timing its first checkpoint -> its last checkpoint
    ref = tmp_path / "ref"
    proc = start(cfg, ref)
    wait_for_checkpoint(proc, ref)
    t_first = time.time()
    rc, _, err = finish(proc)
    assert rc == 0, err
    window = (ref / "checkpoint.npz").stat().st_mtime - t_first

    # 2. killed at a random moment between the first and the last checkpoint, then resumed
    out = tmp_path / "killed"
    for _attempt in range(6):
        if out.exists():
            for p in out.iterdir():
                p.unlink()
        delay = rng.uniform(0.0, 0.9) * max(window, 0.0)
        proc = start(cfg, out)
        wait_for_checkpoint(proc, out)
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        rc, _, err = finish(proc)
        step = checkpoint_step(kind, out)
        if killed and rc == -signal.SIGKILL and step < total_steps(kind):
            break
    else:
        pytest.fail(f"seed {seed}: never killed before the last checkpoint (window {window:.2f} s)")
    what = f"seed {seed}, killed {delay:.3f} s after the first checkpoint, at step {step}"
    assert 0 < step < total_steps(kind), what
    assert not (out / "results.json").exists(), what

    # control: the same resume from a checkpoint with one weight nudged must end elsewhere
    # (so the resumed run really continues from the checkpoint instead of starting over)
    nudged = tmp_path / "nudged"
    shutil.copytree(out, nudged)
    with np.load(nudged / "checkpoint.npz") as z:
        arrays = {k: z[k] for k in z.files}
    key = "w" if kind == "spiking" else sorted(k for k in arrays if k.startswith("learner."))[0]
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] += 1e-3
    np.savez(nudged / "checkpoint.npz", **arrays)
    rc, _, err = finish(start(cfg, nudged, resume=True))
    assert rc == 0, err
    nudged_state = final_state(kind, nudged)

    rc, stdout, err = finish(start(cfg, out, resume=True))
    assert rc == 0, f"{what}: resume failed: {err}"
    assert json.loads(stdout)["out"] == str(out)

    want, got = final_state(kind, ref), final_state(kind, out)
    assert sorted(want) == sorted(got), what
    for name in want:
        a, b = want[name], got[name]
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {name}"
        if a.dtype.kind in "fiub":
            assert a.tobytes() == b.tobytes(), f"{what}: {name} differs"
        else:
            assert np.array_equal(a, b), f"{what}: {name} differs"
    first = "w_final" if kind == "spiking" else key.removeprefix("learner.")
    assert not np.array_equal(nudged_state[first], want[first]), f"{what}: resume ignored"
    with open(ref / "results.json") as f:
        ref_final = json.load(f)["final"]
    with open(out / "results.json") as f:
        got_final = json.load(f)["final"]
    for key in ref_final:
        if "wall" not in key and "per_s" not in key:
            assert got_final[key] == ref_final[key], f"{what}: final.{key}"
