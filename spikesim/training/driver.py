"""The training driver: the loop, evaluations, progress, checkpoints, Ctrl-C, results."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spikesim.errors import DivergenceError, ValidationError
from spikesim.training.checkpoint import (
    CHECKPOINT,
    TIMING,
    read_checkpoint,
    write_checkpoint,
)
from spikesim.training.stepper import Schedule, Stepper

__all__ = ["RESULTS", "RESULTS_FORMAT", "Interrupted", "train"]

RESULTS = "results.json"
RESULTS_FORMAT = "spikesim.results"
RESULTS_VERSION = 1


class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT (Ctrl-C) after writing a checkpoint.

    Attributes
    ----------
    step : int
        The position saved in the checkpoint.
    checkpoint : Path or None
    """

    def __init__(self, message: str, *, step: int, checkpoint: Path | None):
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return str(self.args[0])


def _crossed(every: int | None, before: int, now: int, epoch_end: bool) -> bool:
    if every is None:
        return False
    if every == 0:
        return epoch_end
    return now // every > before // every


class _SigintFlag:
    """While active (main thread only), SIGINT sets a flag instead of raising."""

    def __init__(self):
        self.hit = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.hit = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _progress(total: int, initial: int, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        leave=False,
        disable=os.environ.get("SPIKESIM_NO_PROGRESS", "") == "1",
    )


def train(
    stepper: Stepper,
    schedule: Schedule,
    *,
    out_dir: str | os.PathLike | None,
    kind: str,
    config_hash: str,
    name: str,
    resume: bool = False,
    header: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``stepper`` to its :attr:`~Stepper.total`; evaluate, checkpoint, report.

    Parameters
    ----------
    stepper : Stepper
    schedule : Schedule
    out_dir : path or None
        Where ``checkpoint.npz``, ``timing.json`` and ``results.json`` go (None: nowhere).
    kind : str
        The kind's name, recorded in the checkpoint; a checkpoint of another kind is
        refused.
    config_hash : str
        Hash of the configuration (:func:`~spikesim.training.config_hash`); a checkpoint
        with another hash is refused.
    name : str
        The run's name: the progress bar's label.
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` when it exists.
    header : mapping, optional
        Extra top-level entries of the results (``experiment``, ...).

    Returns
    -------
    dict
        The results (also written to ``out_dir/results.json`` as strict JSON):
        ``format``, ``version``, ``kind``, ``final``, ``initial`` (the metrics before
        training), ``curve`` (list of points: ``step``, ``samples_seen``, ``wall_s`` and
        the kind's metrics), ``details``, ``resumed_from_step`` and the ``header``.

    Raises
    ------
    DivergenceError
        Training diverged; the last checkpoint is kept and named.
    Interrupted
        SIGINT arrived: a checkpoint of the last finished step was written first.
    ValidationError
        The checkpoint was written by another kind, another configuration, or holds more
        steps than this run has.
    """
    out = Path(out_dir) if out_dir is not None else None
    ckpt = out / CHECKPOINT if out is not None else None
    curve: list[dict] = []
    walls: list[float | None] = []
    running: dict[str, list[float]] = {}
    wall = 0.0
    resumed_from = 0
    if resume and ckpt is not None and ckpt.is_file():
        cp = read_checkpoint(ckpt)
        if cp.meta.get("kind") != kind:
            raise ValidationError(
                f"{ckpt} was written by a run of kind {cp.meta.get('kind')!r}, not {kind!r}"
            )
        if cp.meta.get("config_hash") != config_hash:
            raise ValidationError(f"{ckpt} was written by a different configuration")
        if cp.step > stepper.total:
            raise ValidationError(
                f"{ckpt} holds {cp.step} steps, more than this run's {stepper.total}; "
                "resume with at least as many, or start again without --resume"
            )
        stepper.load_state_dict(cp.arrays)
        curve = [dict(p) for p in cp.meta["curve"]]
        running = {k: list(v) for k, v in cp.meta.get("running", {}).items()}
        walls, wall = _read_timing(out / TIMING, cp.step, len(curve))
        resumed_from = stepper.position
    else:
        stepper.init()
    with stepper.session():
        return _loop(
            stepper,
            schedule,
            out,
            ckpt,
            kind,
            config_hash,
            name,
            header,
            curve,
            walls,
            running,
            wall,
            resumed_from,
        )


def _loop(
    stepper,
    schedule,
    out,
    ckpt,
    kind,
    config_hash,
    name,
    header,
    curve,
    walls,
    running,
    wall,
    resumed_from,
):

    def point() -> None:
        rec = {"step": int(stepper.position), "samples_seen": int(stepper.samples_seen)}
        rec.update(stepper.evaluate())
        for k, (s, n) in running.items():
            rec[k] = s / n if n else None
        running.clear()
        curve.append(rec)
        walls.append(wall)

    def checkpoint() -> None:
        if ckpt is None:
            return
        meta = {
            "kind": kind,
            "config_hash": config_hash,
            "step": int(stepper.position),
            "samples_seen": int(stepper.samples_seen),
            "curve": curve,
            "running": running,
        }
        write_checkpoint(ckpt, stepper.state_dict(), meta)
        from spikesim.io import write_json

        write_json(out / TIMING, {"step": int(stepper.position), "wall_s": wall, "curve": walls})

    if not curve:
        point()
    stopped = False
    bar = _progress(stepper.total, stepper.position, name, stepper.unit)
    try:
        with _SigintFlag() as sigint:
            while stepper.position < stepper.total:
                before, pos0 = stepper.samples_seen, stepper.position
                t0 = time.perf_counter()
                try:
                    rep = stepper.step()
                except DivergenceError as exc:
                    kept = (
                        f"; the last checkpoint ({ckpt}) is kept"
                        if ckpt is not None and ckpt.is_file()
                        else ""
                    )
                    raise DivergenceError(f"{exc}{kept}", step=exc.step) from None
                wall += time.perf_counter() - t0
                bar.update(stepper.position - pos0)
                if rep.stop:
                    stopped = True
                    break
                for k, v in rep.stats.items():
                    acc = running.setdefault(k, [0.0, 0])
                    acc[0] += float(v) * rep.samples
                    acc[1] += rep.samples
                now = stepper.samples_seen
                last = stepper.position >= stepper.total
                evaluated = _crossed(schedule.eval_every, before, now, rep.epoch_end) or last
                if evaluated:
                    point()
                    shown = {
                        k: f"{curve[-1][k]:.4g}"
                        for k in ("test_loss", "test_accuracy")
                        if isinstance(curve[-1].get(k), float)
                    }
                    bar.set_postfix(shown, refresh=False)
                every = schedule.checkpoint_every
                if (
                    last
                    or (every is None and evaluated)
                    or _crossed(every, before, now, rep.epoch_end)
                ):
                    checkpoint()
                if sigint.hit and not last:
                    checkpoint()
                    where = f" to {ckpt}" if ckpt is not None else ""
                    raise Interrupted(
                        f"interrupted at step {stepper.position} of {stepper.total}; "
                        f"checkpoint written{where}",
                        step=stepper.position,
                        checkpoint=ckpt,
                    )
    finally:
        bar.close()
    fin = stepper.finalize(curve, out)
    final = {
        "steps": int(stepper.position),
        "samples_seen": int(stepper.samples_seen),
        "wall_s": wall,
        "samples_per_s": stepper.samples_seen / wall if wall > 0 else None,
        **fin["final"],
    }
    full_curve = [{**p, "wall_s": w} for p, w in zip(curve, walls, strict=True)]
    initial = {k: v for k, v in curve[0].items() if k.startswith("test_")}
    results = {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "kind": kind,
        **(header or {}),
        "final": final,
        "initial": initial,
        "curve": full_curve,
        "details": fin.get("details", {}),
        "resumed_from_step": int(resumed_from),
        "stopped_early": stopped,
    }
    from spikesim.io import strict_json, write_json

    results = strict_json(results)
    if out is not None:
        write_json(out / RESULTS, results)
    return results


def _read_timing(path: Path, step: int, n_points: int) -> tuple[list, float]:
    """Wall times of the first ``n_points`` curve points and the training time so far,
    from ``timing.json`` if it belongs to the checkpoint at ``step`` (else unknown)."""
    with contextlib.suppress(OSError, ValueError):
        t = json.loads(path.read_text())
        if t.get("step") == step and len(t.get("curve", [])) == n_points:
            return list(t["curve"]), float(t["wall_s"])
    return [None] * n_points, 0.0
