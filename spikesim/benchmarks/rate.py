"""Rate learners' training speed on 784-500-10 as a fraction of numpy's GEMM peak.

Every registered learner (``spikesim.rate.available()``) trains on random 784-dimensional
inputs at its paper's minibatch size (class attribute ``paper_batch_size``, default 20).
Reported per learner: ``samples_per_s``, ``flops_per_sample`` (the learner's
``flops_per_sample(batch)``: matrix products of every phase, 2 flops per multiply-add),
``achieved_gflops`` and ``fraction_of_gemm_peak`` = achieved FLOP/s divided by the FLOP/s of
numpy's matrix multiply measured in the same run on the matching shapes (every layer's
forward ``(b, n_in) @ (n_in, n_out)``, weight-gradient ``(n_in, b) @ (b, n_out)`` and
error ``(b, n_out) @ (n_out, n_in)`` products, in the learner's dtype). Where PyTorch is
importable, ``bp`` is also compared with a PyTorch CPU training step of the same MLP
(ReLU, softmax cross-entropy, SGD, same batch): ``bp_step_time_over_torch``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--learners", default="", help="comma-separated learners (default: every registered)"
    )
    parser.add_argument("--sizes", default="784,500,10", help="layer sizes (default 784,500,10)")
    parser.add_argument(
        "--batch", type=int, default=0, help="override every learner's batch size (0: paper's)"
    )
    parser.add_argument(
        "--min-time", type=float, default=2.0, help="seconds of timed training per learner"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of network, inputs and learner (default 0)"
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")


def _time_loop(step, min_time: float, min_reps: int = 3) -> tuple[int, float]:
    step()  # warm-up (allocations, Numba compilation)
    reps, t0 = 0, time.perf_counter()
    while True:
        step()
        reps += 1
        wall = time.perf_counter() - t0
        if reps >= min_reps and wall >= min_time:
            return reps, wall


def gemm_flops_per_s(sizes, batch: int, dtype, min_time: float, seed: int = 0) -> float:
    """numpy matrix-multiply FLOP/s on the shapes of one training step of an MLP."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    shapes = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        shapes += [(batch, n_in, n_out), (n_in, batch, n_out), (batch, n_out, n_in)]
    mats = [
        (rng.random((m, k)).astype(dt), rng.random((k, n)).astype(dt), np.empty((m, n), dt))
        for m, k, n in shapes
    ]
    flops = sum(2 * m * k * n for m, k, n in shapes)

    def step():
        for a, b, c in mats:
            np.matmul(a, b, out=c)

    reps, wall = _time_loop(step, min_time)
    return flops * reps / wall


def bench_learner(name: str, sizes, batch: int, min_time: float, seed: int) -> dict:
    import spikesim.rate as rate

    learner = rate.make(name, sizes=tuple(sizes), seed=seed)
    learner.initialize()
    rng = np.random.default_rng(seed)
    n = batch * 16
    dtype = np.dtype(learner.dtype)
    x = rng.random((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=n)
    pos = [0]

    def step():
        i = pos[0]
        idx = np.arange(i, i + batch) % n
        learner.fit_batch(x[idx], y[idx], idx)
        pos[0] = (i + batch) % n

    reps, wall = _time_loop(step, min_time)
    samples_per_s = reps * batch / wall
    fps = float(learner.flops_per_sample(batch)) if learner.counts_flops else None
    gemm = gemm_flops_per_s(sizes, batch, dtype, min_time / 2, seed)
    achieved = fps * samples_per_s if fps is not None else None
    return {
        "batch_size": batch,
        "dtype": str(dtype),
        "samples_per_s": samples_per_s,
        "step_time_s": wall / reps,
        "flops_per_sample": fps,
        "achieved_gflops": achieved / 1e9 if achieved is not None else None,
        "gemm_gflops": gemm / 1e9,
        "fraction_of_gemm_peak": achieved / gemm if achieved is not None else None,
    }


def bench_torch_bp(sizes, batch: int, lr: float, min_time: float, seed: int) -> dict | None:
    """PyTorch CPU training step of the ``bp`` MLP (ReLU, cross-entropy, SGD); None if
    torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    n = batch * 16
    x = torch.from_numpy(rng.random((n, sizes[0])).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, sizes[-1], size=n))
    pos = [0]

    def step():
        i = pos[0]
        xb, yb = x[i : i + batch], y[i : i + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        pos[0] = (i + batch) % n

    reps, wall = _time_loop(step, min_time)
    return {
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "samples_per_s": reps * batch / wall,
        "step_time_s": wall / reps,
    }


def run(args: argparse.Namespace) -> dict:
    import spikesim.rate as rate
    from spikesim.errors import ValidationError

    sizes = [int(s) for s in args.sizes.split(",")]
    names = [s for s in args.learners.split(",") if s] or rate.available()
    for name in names:
        if name not in rate.available():
            raise ValidationError(f"unknown learner {name!r}; available: {rate.available()}")
    if args.batch < 0 or args.min_time <= 0:
        raise ValidationError("--batch must be >= 0 and --min-time > 0")
    learners = {}
    for name in names:
        batch = args.batch or rate.REGISTRY[name].paper_batch_size
        learners[name] = bench_learner(name, sizes, batch, args.min_time, args.seed)
    out = {
        "sizes": sizes,
        "threads": {
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
            "cpu_count": os.cpu_count(),
        },
        "learners": learners,
    }
    if "bp" in learners and not args.no_torch:
        bp = learners["bp"]
        torch_res = bench_torch_bp(sizes, bp["batch_size"], 0.1, args.min_time, args.seed)
        if torch_res is None:
            out["torch"] = {"skipped": "torch is not importable (pip install spikesim[torch])"}
        else:
            torch_res["bp_step_time_over_torch"] = bp["step_time_s"] / torch_res["step_time_s"]
            out["torch"] = torch_res
    return out
