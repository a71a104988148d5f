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

Convolutional learners (``conv``): ``--conv-learners`` (default ``bp-hinge,urfb,frfb``)
with each of ``--architectures`` (default ``simpnet,deepnet``; Amit 2019, sec. 4; any
architecture string; empty: none) on random ``--conv-input`` images (default 28,28,1) at
``--conv-batch`` (default 100, the Fashion-MNIST experiment files' batch): step time,
samples/s, flops per sample, achieved GFLOP/s, and the parameter count and bytes of the
weights. Where PyTorch is importable, the same network's training step in PyTorch on the
CPU (``Conv2d`` with the same padding, ``Hardtanh`` of ``h / 2``, ``MaxPool2d``,
``Dropout``, the hinge loss, SGD; tied convolutions only): ``step_time_over_torch``.

Threads: every measurement runs with the BLAS libraries numpy is linked against (OpenBLAS,
MKL, BLIS) limited to ``--blas-threads`` threads (default 1; 0 leaves the library's
default), through ``threadpoolctl``, whatever ``OPENBLAS_NUM_THREADS`` says; the PyTorch
comparisons use as many intra-op threads (``torch.set_num_threads``). Minibatch-sized
products are fastest on one thread (issue 18: ``ep`` at 0.05 of GEMM peak on the machine's
default two threads, 0.49 pinned). The JSON's ``threads`` entry reports the requested
``blas_threads`` and ``thread_pools``: every thread pool loaded in the process while the
learners were measured (``threadpoolctl.threadpool_info()``: ``user_api``,
``internal_api``, ``num_threads``).
"""

from __future__ import annotations

import argparse
import contextlib
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
    parser.add_argument(
        "--architectures",
        default="simpnet,deepnet",
        help="comma-separated architectures of the conv learners (default simpnet,deepnet; "
        "empty: no conv benchmark)",
    )
    parser.add_argument(
        "--conv-learners",
        default="bp-hinge,urfb,frfb",
        help="learners measured with each architecture (default bp-hinge,urfb,frfb)",
    )
    parser.add_argument(
        "--conv-input", default="28,28,1", help="height,width,channels (default 28,28,1)"
    )
    parser.add_argument("--conv-batch", type=int, default=100, help="conv batch (default 100)")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads during the measurements (default 1; 0: the library's default)",
    )


@contextlib.contextmanager
def limit_threads(n: int):
    """Limit the BLAS libraries numpy is linked against to ``n`` threads inside the block
    (``threadpoolctl``, whatever the environment variables say); ``n = 0`` leaves the
    library's default."""
    if n <= 0:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def thread_pools() -> list[dict]:
    """The thread pools loaded in this process now: one ``{"user_api", "internal_api",
    "num_threads"}`` per library (``threadpoolctl.threadpool_info()``)."""
    from threadpoolctl import threadpool_info

    return [
        {k: info.get(k) for k in ("user_api", "internal_api", "num_threads")}
        for info in threadpool_info()
    ]


def _torch_threads(n: int) -> None:
    """Give PyTorch ``n`` intra-op threads from now on (``n = 0``: leave its default), as
    the BLAS libraries get under ``--blas-threads``."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


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


def bench_conv_learner(
    name: str, architecture: str, input_shape, n_out: int, batch: int, min_time: float, seed: int
) -> dict:
    """Training speed of a feedforward learner with convolutional ``architecture``."""
    import spikesim.rate as rate

    n_in = int(np.prod(input_shape))
    learner = rate.make(
        name,
        sizes=(n_in, n_out),
        input_shape=tuple(input_shape),
        architecture=architecture,
        seed=seed,
    )
    learner.initialize()
    rng = np.random.default_rng(seed)
    n = batch * 4
    dtype = np.dtype(learner.dtype)
    x = rng.random((n, n_in)).astype(dtype)
    y = rng.integers(0, n_out, size=n)
    pos = [0]

    def step():
        i = pos[0]
        learner.fit_batch(x[i : i + batch], y[i : i + batch])
        pos[0] = (i + batch) % n

    reps, wall = _time_loop(step, min_time)
    fps = float(learner.flops_per_sample(batch))
    sps = reps * batch / wall
    return {
        "architecture": architecture,
        "batch_size": batch,
        "dtype": str(dtype),
        "samples_per_s": sps,
        "step_time_s": wall / reps,
        "flops_per_sample": fps,
        "achieved_gflops": fps * sps / 1e9,
        "n_parameters": learner.n_parameters(),
        "weight_bytes": int(sum(w.nbytes for w in learner.W)),
        # an untied layer as CSR instead (values + int32 column indices + int64 row pointers)
        "untied_layers_as_csr_bytes": _untied_csr_bytes(learner),
    }


def _untied_csr_bytes(learner) -> int:
    from spikesim.rate import _conv

    total = 0
    for layer, w in zip(_conv.weighted(learner._plan), learner.W, strict=True):
        if isinstance(layer, _conv.Conv) and layer.untied:
            rows = layer.geometry.n_locations * layer.geometry.c_out
            total += _conv.n_connections(layer) * (w.itemsize + 4) + (rows + 1) * 8
    return total


def bench_torch_conv(
    architecture: str,
    input_shape,
    n_out: int,
    batch: int,
    min_time: float,
    seed: int,
    threads: int = 0,
) -> dict:
    """PyTorch CPU training step of the same tied network (BP, hinge loss, SGD 0.1), or
    ``{"skipped": reason}`` if torch is not importable or the architecture has an untied
    layer (``torch.nn`` has no locally connected layer)."""
    try:
        import torch
    except ImportError:
        return {"skipped": "torch is not importable (pip install spikesim[torch])"}
    from spikesim.rate import _conv

    _torch_threads(threads)
    plan = _conv.build_plan(architecture, tuple(input_shape), n_out)
    torch.manual_seed(seed)
    mods: list = []
    for layer in plan:
        if isinstance(layer, _conv.Conv):
            if layer.untied:
                return {
                    "skipped": f"{architecture} has untied layers "
                    "(PyTorch has no locally connected layer)"
                }
            g = layer.geometry
            pad = (g.pad_left, g.kw - 1 - g.pad_left, g.pad_top, g.kh - 1 - g.pad_top)
            mods += [
                torch.nn.ZeroPad2d(pad),
                torch.nn.Conv2d(g.c_in, g.c_out, (g.kh, g.kw), bias=False),
                torch.nn.Hardtanh(-2.0, 2.0),  # 2 clip(h/2, -1, 1): same cost
            ]
        elif isinstance(layer, _conv.Pool):
            g = layer.geometry
            hp = (g.h_out - 1) * g.stride + g.k - g.h
            wp = (g.w_out - 1) * g.stride + g.k - g.w
            pad = (g.pad_left, max(wp - g.pad_left, 0), g.pad_top, max(hp - g.pad_top, 0))
            mods += [torch.nn.ConstantPad2d(pad, -1e9), torch.nn.MaxPool2d(g.k, g.stride)]
        elif isinstance(layer, _conv.Drop):
            mods.append(torch.nn.Dropout(layer.p))
        else:
            if not any(isinstance(m, torch.nn.Flatten) for m in mods):
                mods.append(torch.nn.Flatten())
            mods.append(torch.nn.Linear(layer.n_in, layer.n_out, bias=False))
            if layer is not plan[-1]:
                mods.append(torch.nn.Hardtanh(-2.0, 2.0))
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h, w, c = input_shape
    rng = np.random.default_rng(seed)
    n = batch * 4
    x = torch.from_numpy(rng.random((n, c, h, w)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, n_out, size=n))
    pos = [0]

    def step():
        i = pos[0]
        xb, yb = x[i : i + batch], y[i : i + batch]
        opt.zero_grad(set_to_none=True)
        f = model(xb)
        sign = torch.ones_like(f)
        sign[torch.arange(len(yb)), yb] = -1
        loss = torch.relu(1 + sign * f).sum() / len(yb)  # Amit's hinge loss, mu = 1
        loss.backward()
        opt.step()
        pos[0] = (i + batch) % n

    reps, wall = _time_loop(step, min_time)
    return {
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "step_time_s": wall / reps,
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }


def bench_torch_bp(
    sizes, batch: int, lr: float, min_time: float, seed: int, threads: int = 0
) -> dict | None:
    """PyTorch CPU training step of the ``bp`` MLP (ReLU, cross-entropy, SGD) with
    ``threads`` intra-op threads (0: torch's default); None if torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    _torch_threads(threads)
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
    if args.blas_threads < 0:
        raise ValidationError(
            f"--blas-threads must be >= 0 (0: the BLAS library's default), got {args.blas_threads}"
        )
    with limit_threads(args.blas_threads):
        return _run(args, rate, sizes, names)


def _run(args, rate, sizes, names) -> dict:
    from spikesim.errors import ValidationError

    learners = {}
    for name in names:
        batch = args.batch or rate.REGISTRY[name].paper_batch_size
        learners[name] = bench_learner(name, sizes, batch, args.min_time, args.seed)
    out = {
        "sizes": sizes,
        "threads": {
            "blas_threads": args.blas_threads,
            "thread_pools": thread_pools(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
            "cpu_count": os.cpu_count(),
        },
        "learners": learners,
    }
    archs = [a.strip() for a in args.architectures.split(",") if a.strip()]
    conv_names = [s for s in args.conv_learners.split(",") if s]
    for name in conv_names:
        if name not in rate.available():
            raise ValidationError(f"unknown learner {name!r}; available: {rate.available()}")
    try:
        conv_input = tuple(int(v) for v in args.conv_input.split(","))
    except ValueError:
        conv_input = ()
    if len(conv_input) != 3 or min(conv_input) < 1 or args.conv_batch < 1:
        raise ValidationError(
            f"--conv-input must be height,width,channels and --conv-batch >= 1, got "
            f"{args.conv_input!r} and {args.conv_batch}"
        )
    if archs:
        conv: dict = {}
        for arch in archs:
            for name in conv_names:
                conv[f"{name}/{arch}"] = bench_conv_learner(
                    name, arch, conv_input, sizes[-1], args.conv_batch, args.min_time, args.seed
                )
            if args.no_torch:
                continue
            res = bench_torch_conv(
                arch,
                conv_input,
                sizes[-1],
                args.conv_batch,
                args.min_time,
                args.seed,
                args.blas_threads,
            )
            ours = conv.get(f"bp-hinge/{arch}")
            if "skipped" not in res and ours is not None:
                res["step_time_over_torch"] = ours["step_time_s"] / res["step_time_s"]
            conv[f"torch/{arch}"] = res
        out["conv"] = conv
    if "bp" in learners and not args.no_torch:
        bp = learners["bp"]
        torch_res = bench_torch_bp(
            sizes, bp["batch_size"], 0.1, args.min_time, args.seed, args.blas_threads
        )
        if torch_res is None:
            out["torch"] = {"skipped": "torch is not importable (pip install spikesim[torch])"}
        else:
            torch_res["bp_step_time_over_torch"] = bp["step_time_s"] / torch_res["step_time_s"]
            out["torch"] = torch_res
    return out
