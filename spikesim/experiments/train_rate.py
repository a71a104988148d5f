"""Training loop for rate learners: seeded minibatches, evaluation, checkpoints, resume.

:func:`train_rate` is the one loop every rate-learner run goes through (the ``rate``
experiment kind, ``spikesim compare``, sweeps). It is deterministic given ``seed``: the
order of epoch ``e`` is ``default_rng([seed, e]).permutation(n_train)``, so a checkpoint
only needs the learner's state and the position (step count), and a resumed run ends
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from spikesim.errors import DivergenceError, ValidationError

CHECKPOINT = "checkpoint.npz"
_LEARNER_PREFIX = "learner."
_TRAINER_KEY = "trainer"

__all__ = ["train_rate", "epoch_order", "load_checkpoint", "CHECKPOINT"]


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool) -> np.ndarray:
    """Order of the training examples in epoch ``epoch``, shape ``(n,)``."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def _save_checkpoint(path: Path, learner, position: dict) -> None:
    from spikesim.io import write_npz

    arrays = {_LEARNER_PREFIX + k: v for k, v in learner.state_dict().items()}
    arrays[_TRAINER_KEY] = np.array(json.dumps(position))
    write_npz(path, **arrays)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint: ``(learner state_dict, trainer position)``."""
    with np.load(path, allow_pickle=False) as npz:
        state = {
            k[len(_LEARNER_PREFIX) :]: npz[k] for k in npz.files if k.startswith(_LEARNER_PREFIX)
        }
        position = json.loads(str(npz[_TRAINER_KEY]))
    return state, position


def _accuracy(learner, x: np.ndarray, y: np.ndarray, chunk: int = 10_000) -> float:
    if len(y) == 0:
        return float("nan")
    correct = 0
    for i in range(0, len(y), chunk):
        correct += int(np.sum(learner.predict(x[i : i + chunk]) == y[i : i + chunk]))
    return correct / len(y)


def _crossed(every: int, before: int, now: int, end_of_epoch: bool) -> bool:
    """Whether a periodic event (every ``every`` samples; 0: each epoch end) falls due."""
    if every == 0:
        return end_of_epoch
    return now // every > before // every


def _progress(total: int, initial: int, desc: str):
    if os.environ.get("SPIKESIM_NO_PROGRESS", "") == "1":
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False)


def train_rate(
    learner,
    dataset,
    *,
    epochs: int = 1,
    batch_size: int = 20,
    seed: int = 0,
    shuffle: bool = True,
    max_iterations: int = 0,
    eval_every: int = 0,
    eval_n_test: int = 0,
    checkpoint_every: int = 0,
    train_error_n: int = 0,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``learner`` on ``dataset`` with minibatch steps; evaluate and checkpoint.

    Parameters
    ----------
    learner : RateLearner
        Constructed (not necessarily initialised); its ``sizes`` must match the dataset.
    dataset : spikesim.data.Dataset
    epochs : int
        Passes over the training set (ignored when ``max_iterations > 0``).
    batch_size : int
        Examples per step (the last minibatch of an epoch may be smaller).
    seed : int
        Seed of the example order (the learner has its own ``seed``).
    shuffle : bool
        Shuffle the examples each epoch.
    max_iterations : int
        If positive, train for exactly this many steps (online learning: batch 1, 50,000
        iterations), cycling through epochs as needed.
    eval_every : int
        Evaluate on held-out data every this many training samples (0: at the end of every
        epoch). The curve also has a point before training.
    eval_n_test : int
        Test examples used by the intermediate evaluations (0: all); the final evaluation
        always uses the whole test set.
    checkpoint_every : int
        Write ``checkpoint.npz`` every this many samples (0: every epoch end); needs
        ``out_dir``.
    train_error_n : int
        Training examples used for the final training error (0: all).
    out_dir : path, optional
        Where checkpoints go (none without it).
    resume : bool
        Continue from ``out_dir/checkpoint.npz`` if it exists.

    Returns
    -------
    dict
        ``final`` (``test_accuracy``, ``train_error``, ``train_loss``, ``samples_seen``,
        ``steps``, ``epochs``, ``wall_s`` = training time without evaluations,
        ``n_parameters``) and ``curve`` (one dict per evaluation: ``samples_seen``,
        ``step``, ``epoch``, ``wall_s``, ``test_accuracy``, ``train_loss`` = mean minibatch
        loss since the previous evaluation).

    Raises
    ------
    ValidationError
        Bad settings, or the learner's sizes do not fit the dataset.
    DivergenceError
        Training diverged; the message names the step, ``.step`` carries it, and the last
        checkpoint is kept.
    """
    for key, value, low in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 1),
        ("max_iterations", max_iterations, 0),
        ("eval_every", eval_every, 0),
        ("eval_n_test", eval_n_test, 0),
        ("checkpoint_every", checkpoint_every, 0),
        ("train_error_n", train_error_n, 0),
    ):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ValidationError(f"{key} must be an integer >= {low}, got {value!r}")
    sizes = tuple(learner.sizes)
    if sizes[0] != dataset.n_features or sizes[-1] != dataset.n_classes:
        raise ValidationError(
            f"learner sizes {list(sizes)} do not fit dataset {dataset.name!r}: it needs "
            f"{dataset.n_features} inputs and {dataset.n_classes} outputs"
        )
    dt = np.dtype(getattr(learner, "dtype", "float64"))
    x_train = np.ascontiguousarray(dataset.x_train, dtype=dt)
    y_train = np.asarray(dataset.y_train, dtype=np.int64)
    x_test = np.ascontiguousarray(dataset.x_test, dtype=dt)
    y_test = np.asarray(dataset.y_test, dtype=np.int64)
    n = len(y_train)
    if n == 0:
        raise ValidationError(f"dataset {dataset.name!r} has no training examples")
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = max_iterations if max_iterations > 0 else epochs * steps_per_epoch
    n_eval = len(y_test) if eval_n_test == 0 else min(eval_n_test, len(y_test))
    ckpt = Path(out_dir) / CHECKPOINT if out_dir is not None else None

    pos = {
        "step": 0,
        "samples_seen": 0,
        "wall_s": 0.0,
        "curve": [],
        "loss_sum": 0.0,
        "loss_count": 0,
        "epoch_loss_sum": 0.0,
        "epoch_loss_count": 0,
        "last_epoch_loss": None,
    }
    if resume and ckpt is not None and ckpt.is_file():
        state, pos = load_checkpoint(ckpt)
        learner.load_state_dict(state)
    else:
        learner.initialize()

    def evaluate() -> None:
        acc = _accuracy(learner, x_test[:n_eval], y_test[:n_eval])
        mean_loss = pos["loss_sum"] / pos["loss_count"] if pos["loss_count"] else None
        pos["curve"].append(
            {
                "samples_seen": pos["samples_seen"],
                "step": pos["step"],
                "epoch": pos["samples_seen"] / n,
                "wall_s": pos["wall_s"],
                "test_accuracy": acc,
                "train_loss": mean_loss,
            }
        )
        pos["loss_sum"], pos["loss_count"] = 0.0, 0

    if not pos["curve"]:
        evaluate()
    bar = _progress(total_steps, pos["step"], learner.name) if progress else None
    order_epoch, order = -1, None
    try:
        while pos["step"] < total_steps:
            step = pos["step"]
            epoch, within = divmod(step, steps_per_epoch)
            if epoch != order_epoch:
                order, order_epoch = epoch_order(n, epoch, seed, shuffle), epoch
            idx = order[within * batch_size : (within + 1) * batch_size]
            t0 = time.perf_counter()
            try:
                loss = learner.fit_batch(x_train[idx], y_train[idx], idx)
            except DivergenceError as exc:
                kept = f"; last checkpoint kept at {ckpt}" if ckpt and ckpt.is_file() else ""
                raise DivergenceError(
                    f"{exc} [at step {step + 1}, epoch {epoch + 1}, after "
                    f"{pos['samples_seen']} samples{kept}]",
                    step=step + 1,
                ) from None
            pos["wall_s"] += time.perf_counter() - t0
            before = pos["samples_seen"]
            pos["samples_seen"] += len(idx)
            pos["step"] = step + 1
            pos["loss_sum"] += loss * len(idx)
            pos["loss_count"] += len(idx)
            pos["epoch_loss_sum"] += loss * len(idx)
            pos["epoch_loss_count"] += len(idx)
            end_of_epoch = within == steps_per_epoch - 1
            if end_of_epoch:
                pos["last_epoch_loss"] = pos["epoch_loss_sum"] / pos["epoch_loss_count"]
                pos["epoch_loss_sum"], pos["epoch_loss_count"] = 0.0, 0
            last = pos["step"] == total_steps

            now = pos["samples_seen"]
            if _crossed(eval_every, before, now, end_of_epoch) or last:
                evaluate()
            if ckpt is not None and (_crossed(checkpoint_every, before, now, end_of_epoch) or last):
                _save_checkpoint(ckpt, learner, pos)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
    finally:
        if bar is not None:
            bar.close()

    test_acc = _accuracy(learner, x_test, y_test)
    n_tr = n if train_error_n == 0 else min(train_error_n, n)
    train_acc = _accuracy(learner, x_train[:n_tr], y_train[:n_tr])
    if pos["last_epoch_loss"] is not None and pos["epoch_loss_count"] == 0:
        train_loss = pos["last_epoch_loss"]
    elif pos["epoch_loss_count"]:
        train_loss = pos["epoch_loss_sum"] / pos["epoch_loss_count"]
    else:
        train_loss = pos["last_epoch_loss"]
    final = {
        "test_accuracy": test_acc,
        "train_error": 1.0 - train_acc,
        "train_loss": train_loss,
        "samples_seen": pos["samples_seen"],
        "steps": pos["step"],
        "epochs": pos["samples_seen"] / n,
        "wall_s": pos["wall_s"],
        "samples_per_s": pos["samples_seen"] / pos["wall_s"] if pos["wall_s"] > 0 else None,
        "n_parameters": learner.n_parameters(),
    }
    return {"final": final, "curve": pos["curve"]}
