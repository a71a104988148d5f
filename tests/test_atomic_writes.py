"""Results and plots are written atomically: a crash leaves the old file or the new one.

Three kinds of crash: an exception inside the writer (clean failure: the old file stays and
no temporary file is left), a process killed with SIGKILL exactly in the middle of a write
(the writer pauses half-way and the test kills it), and a process killed at random times
while it rewrites a large file in a loop. A control run with a naive ``open(path, "wb")``
writer shows that the mid-write kill does leave a truncated file when writes are not
atomic, so the check can fail.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from spikesim import io

# -- clean failures -------------------------------------------------------------------------


def leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


class Boom:
    """An array-like whose conversion fails: np.savez raises after writing earlier arrays."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("boom")


def test_failing_writers_keep_the_old_file_and_leave_no_temp_file(tmp_path, monkeypatch):
    old = {
        "r.json": b'{"old": true}\n',
        "r.txt": b"old text",
        "r.npz": None,
        "r.png": b"\x89PNG old",
    }
    io.write_npz(tmp_path / "r.npz", a=np.arange(3))
    old["r.npz"] = (tmp_path / "r.npz").read_bytes()
    for name, data in old.items():
        if name != "r.npz":
            (tmp_path / name).write_bytes(data)

    with pytest.raises(RuntimeError, match="boom"):  # fails after writing array "a"
        io.write_npz(tmp_path / "r.npz", a=np.zeros(10**5), b=Boom())
    with pytest.raises(TypeError, match="not JSON serialisable"):
        io.write_json(tmp_path / "r.json", {"x": object()})

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])

    def half_then_fail(fh, **kwargs):
        fh.write(b"\x89PNG half a figure")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        io.save_figure(fig, tmp_path / "r.png")
    assert not plt.fignum_exists(fig.number)  # closed even on failure

    # a crash between writing and renaming: fsync fails after the text is written
    def failing_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(io.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        io.write_text(tmp_path / "r.txt", "new text " * 1000)
    monkeypatch.undo()

    for name, data in old.items():
        assert (tmp_path / name).read_bytes() == data, name
    assert leftovers(tmp_path, set(old)) == []


def test_successful_writes_replace_and_leave_nothing_else(tmp_path):
    io.write_json(tmp_path / "a.json", {"v": 1})
    io.write_json(tmp_path / "a.json", {"v": 2, "x": np.float64(0.5), "y": np.arange(2)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"v": 2, "x": 0.5, "y": [0, 1]}
    io.write_npz(tmp_path / "b.npz", w=np.ones(4))
    with np.load(tmp_path / "b.npz") as f:
        assert f["w"].tolist() == [1.0] * 4
    fig, ax = plt.subplots()
    io.save_figure(fig, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    io.write_text(tmp_path / "sub" / "d.txt", "hi")  # parents are created
    assert leftovers(tmp_path, {"a.json", "b.npz", "c.png", "sub"}) == []
    assert leftovers(tmp_path / "sub", {"d.txt"}) == []


# -- SIGKILL in the middle of a write ---------------------------------------------------------

CHILD_PAUSE = textwrap.dedent(
    """
    import os, sys, time
    from spikesim import io

    path, mode = sys.argv[1], sys.argv[2]
    payload = bytes([0x42]) * 4_000_000  # the new content: 4 MB of "B"

    def write_half_then_wait(fh):
        fh.write(payload[: len(payload) // 2])
        fh.flush()
        os.fsync(fh.fileno())
        print("HALF", flush=True)
        time.sleep(60)
        fh.write(payload[len(payload) // 2 :])

    if mode == "atomic":
        io._atomic_write(path, write_half_then_wait, "wb")
    else:  # the naive way, as a control
        with open(path, "wb") as fh:
            write_half_then_wait(fh)
    """
)


def run_child(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_at_half(path: Path, mode: str) -> None:
    proc = run_child(CHILD_PAUSE, str(path), mode)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "HALF", proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_sigkill_mid_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "result.bin"
    old = bytes([0x41]) * 1000
    target.write_bytes(old)
    kill_at_half(target, "atomic")
    assert target.read_bytes() == old
    # the killed writer's temporary file may remain; it is hidden and never the result
    stray = leftovers(tmp_path, {"result.bin"})
    assert all(name.startswith(".result.bin.") and name.endswith(".tmp") for name in stray)


def test_control_naive_writer_is_caught_truncated(tmp_path):
    target = tmp_path / "result.bin"
    target.write_bytes(bytes([0x41]) * 1000)
    kill_at_half(target, "naive")
    data = target.read_bytes()
    assert len(data) == 2_000_000 and set(data) == {0x42}  # half of the new content


# -- SIGKILL at random moments while rewriting large results ----------------------------------

CHILD_LOOP = textwrap.dedent(
    """
    import sys
    import numpy as np
    from spikesim import io

    path, kind = sys.argv[1], sys.argv[2]
    k = 0
    while True:
        k += 1
        if kind == "npz":
            io.write_npz(path, a=np.full(1_000_000, float(k)), b=np.full(10, k))
        else:
            io.write_json(path, {"k": k, "values": [k] * 200_000})
        if k == 1:
            print("FIRST", flush=True)
    """
)


def read_consistent(path: Path, kind: str) -> int:
    """Load a result written by CHILD_LOOP; assert it is complete; return its k."""
    if kind == "npz":
        with np.load(path) as f:
            a, b = f["a"], f["b"]
        k = int(b[0])
        assert a.shape == (1_000_000,) and np.all(a == k) and np.all(b == k)
    else:
        data = json.loads(path.read_text())
        k = data["k"]
        assert len(data["values"]) == 200_000 and set(data["values"]) == {k}
    return k


@pytest.mark.parametrize("kind", ["npz", "json"])
def test_sigkill_at_random_times_never_leaves_a_partial_result(tmp_path, kind):
    rng = random.Random(1234)
    target = tmp_path / f"result.{kind}"
    seen = []
    for _ in range(3):
        proc = run_child(CHILD_LOOP, str(target), kind)
        try:
            assert proc.stdout.readline().strip() == "FIRST", proc.stderr.read()
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        seen.append(read_consistent(target, kind))
    assert all(k >= 1 for k in seen)


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    io.write_text(tmp_path / "a.txt", "x")
    open(tmp_path / "b.txt", "w").close()  # what a plain open() gives
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (
        tmp_path / "b.txt"
    ).stat().st_mode & 0o777
