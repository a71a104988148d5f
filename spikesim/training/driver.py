"""The training driver: the loop, evaluations, progress, checkpoints, Ctrl-C, results."""

from __future__ import annotations

import contextlib
import json
import math
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

#: A loss (any training statistic or metric whose name ends in ``loss``) above this many
#: times ``max(1, |initial loss|)``, or not finite, stops the run with DivergenceError.
LOSS_EXPLOSION = 1e6


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


def _progress(total: int, initial: int, desc: str, unit: str, *, stream=None):
    """A tqdm bar on ``stream`` (stderr): carriage-return frames on a terminal; elsewhere
    (a log file, a pipe) a full line about every 5 % of ``total``."""
    import sys

    from tqdm import tqdm

    stream = sys.stderr if stream is None else stream
    tty = bool(getattr(stream, "isatty", lambda: False)())
    lines = {} if tty else {"mininterval": 0.0, "miniters": max(1, total // 20), "ncols": 100}
    bar = tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        leave=not tty,
        file=stream if tty else _Lines(stream),
        disable=os.environ.get("SPIKESIM_NO_PROGRESS", "") == "1",
        **lines,
    )
    return bar


class _Lines:
    """A file wrapper turning tqdm's carriage-return frames into newline-ended lines."""

    def __init__(self, fp):
        self.fp = fp

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        if text:
            self.fp.write(text + "\n")

    def flush(self) -> None:
        self.fp.flush()


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
    run = _Training(stepper, schedule, out_dir, kind=kind, config_hash=config_hash)
    if resume and run.ckpt is not None and run.ckpt.is_file():
        run.restore()
    else:
        stepper.init()
    with stepper.session():
        run.loop(name)
        return run.results(header)


class _Training:
    """The driver's state for one run: the curve so far (without wall times), the wall
    time of each point, the running sums of training statistics since the last point."""

    def __init__(self, stepper: Stepper, schedule: Schedule, out_dir, *, kind, config_hash):
        self.stepper, self.schedule = stepper, schedule
        self.out = Path(out_dir) if out_dir is not None else None
        self.ckpt = self.out / CHECKPOINT if self.out is not None else None
        self.kind, self.config_hash = kind, config_hash
        self.curve: list[dict] = []
        self.walls: list[float | None] = []
        self.running: dict[str, list[float]] = {}
        self.wall = 0.0
        self.resumed_from = 0
        self.stopped = False

    def restore(self) -> None:
        cp = read_checkpoint(self.ckpt)
        stepper = self.stepper
        if cp.meta.get("kind") != self.kind:
            raise ValidationError(
                f"{self.ckpt} was written by a run of kind {cp.meta.get('kind')!r}, "
                f"not {self.kind!r}"
            )
        if cp.meta.get("config_hash") != self.config_hash:
            raise ValidationError(f"{self.ckpt} was written by a different configuration")
        if cp.step > stepper.total:
            raise ValidationError(
                f"{self.ckpt} holds {cp.step} steps, more than this run's {stepper.total}; "
                "resume with at least as many, or start again without --resume"
            )
        stepper.load_state_dict(cp.arrays)
        self.curve = [dict(p) for p in cp.meta["curve"]]
        self.running = {k: list(v) for k, v in cp.meta.get("running", {}).items()}
        self.walls, self.wall = _read_timing(self.out / TIMING, cp.step, len(self.curve))
        self.resumed_from = stepper.position

    def point(self) -> None:
        """Evaluate: one curve record, with the training statistics' averages."""
        st = self.stepper
        rec = {"step": int(st.position), "samples_seen": int(st.samples_seen)}
        rec.update(st.evaluate())
        for k, (total, n) in self.running.items():
            rec[k] = total / n if n else None
        self.running.clear()
        self.curve.append(rec)
        self.walls.append(self.wall)

    def checkpoint(self) -> None:
        if self.ckpt is None:
            return
        from spikesim.io import write_json

        st = self.stepper
        meta = {
            "kind": self.kind,
            "config_hash": self.config_hash,
            "step": int(st.position),
            "samples_seen": int(st.samples_seen),
            "curve": self.curve,
            "running": self.running,
        }
        write_checkpoint(self.ckpt, st.state_dict(), meta)
        timing = {"step": int(st.position), "wall_s": self.wall, "curve": self.walls}
        write_json(self.out / TIMING, timing)

    def _loss_reference(self) -> float:
        first = self.curve[0] if self.curve else {}
        values = [v for k, v in first.items() if k.endswith("loss") and v is not None]
        finite = [abs(float(v)) for v in values if math.isfinite(float(v))]
        return max([1.0, *finite])

    def check_losses(self, values: Mapping[str, Any]) -> None:
        """Raise DivergenceError if a loss in ``values`` is not finite or exploded
        (above :data:`LOSS_EXPLOSION` x the initial loss, at least 1)."""
        limit = LOSS_EXPLOSION * self._loss_reference()
        for key, value in values.items():
            if not key.endswith("loss") or value is None:
                continue
            v = float(value)
            if not math.isfinite(v) or abs(v) > limit:
                step = int(self.stepper.position)
                kept = self.ckpt is not None and self.ckpt.is_file()
                note = f"; the last checkpoint ({self.ckpt}) is kept" if kept else ""
                raise DivergenceError(
                    f"training diverged at step {step}: {key} = {v:.3g} (limit {limit:.3g} = "
                    f"{LOSS_EXPLOSION:g} x max(1, initial loss)); try a smaller learning rate"
                    f"{note}",
                    step=step,
                )

    def _step(self):
        t0 = time.perf_counter()
        try:
            rep = self.stepper.step()
        except DivergenceError as exc:
            kept = self.ckpt is not None and self.ckpt.is_file()
            note = f"; the last checkpoint ({self.ckpt}) is kept" if kept else ""
            raise DivergenceError(f"{exc}{note}", step=exc.step) from None
        self.wall += time.perf_counter() - t0
        return rep

    def loop(self, name: str) -> None:
        st, sched = self.stepper, self.schedule
        if not self.curve:
            self.point()
        bar = _progress(st.total, st.position, name, st.unit)
        try:
            with _SigintFlag() as sigint:
                while st.position < st.total:
                    before, pos0 = st.samples_seen, st.position
                    rep = self._step()
                    bar.update(st.position - pos0)
                    if rep.stop:
                        self.stopped = True
                        break
                    self.check_losses(rep.stats)
                    for k, v in rep.stats.items():
                        acc = self.running.setdefault(k, [0.0, 0])
                        acc[0] += float(v) * rep.samples
                        acc[1] += rep.samples
                    now, last = st.samples_seen, st.position >= st.total
                    evaluated = _crossed(sched.eval_every, before, now, rep.epoch_end) or last
                    if evaluated:
                        self.point()
                        self.check_losses(self.curve[-1])
                        bar.set_postfix(_shown(self.curve[-1]), refresh=False)
                    every = sched.checkpoint_every
                    due = (every is None and evaluated) or _crossed(
                        every, before, now, rep.epoch_end
                    )
                    if last or due:
                        self.checkpoint()
                    if sigint.hit and not last:
                        if not due:
                            self.checkpoint()
                        where = f" to {self.ckpt}" if self.ckpt is not None else ""
                        raise Interrupted(
                            f"interrupted at step {st.position} of {st.total}; "
                            f"checkpoint written{where}",
                            step=st.position,
                            checkpoint=self.ckpt,
                        )
        finally:
            bar.close()

    def results(self, header: Mapping[str, Any] | None) -> dict[str, Any]:
        from spikesim.io import strict_json, write_json

        st, curve = self.stepper, self.curve
        fin = st.finalize(curve, self.out)
        final = {
            "steps": int(st.position),
            "samples_seen": int(st.samples_seen),
            "wall_s": self.wall,
            "samples_per_s": st.samples_seen / self.wall if self.wall > 0 else None,
            **fin["final"],
        }
        results = {
            "format": RESULTS_FORMAT,
            "version": RESULTS_VERSION,
            "kind": self.kind,
            **(header or {}),
            "final": final,
            "initial": {k: v for k, v in curve[0].items() if k.startswith("test_")},
            "curve": [{**p, "wall_s": w} for p, w in zip(curve, self.walls, strict=True)],
            "details": fin.get("details", {}),
            "resumed_from_step": int(self.resumed_from),
            "stopped_early": self.stopped,
        }
        results = strict_json(results)
        if self.out is not None:
            write_json(self.out / RESULTS, results)
        return results


def _shown(point: Mapping[str, Any]) -> dict[str, str]:
    return {
        k: f"{point[k]:.4g}"
        for k in ("test_loss", "test_accuracy")
        if isinstance(point.get(k), float)
    }


def _read_timing(path: Path, step: int, n_points: int) -> tuple[list, float]:
    """Wall times of the first ``n_points`` curve points and the training time so far,
    from ``timing.json`` if it belongs to the checkpoint at ``step`` (else unknown)."""
    with contextlib.suppress(OSError, ValueError):
        t = json.loads(path.read_text())
        if t.get("step") == step and len(t.get("curve", [])) == n_points:
            return list(t["curve"]), float(t["wall_s"])
    return [None] * n_points, 0.0
