"""``spikesim theory CHECK [--json] [--out DIR] [--quick]``: checks of the zero-order theory.

* ``sh-theorem1``: Monte Carlo mean of one zero-order update vs Schmidt-Hieber eq. (4.6);
* ``ck-rate``: Christensen-Kallsen dynamics vs the gradient flow, error against ``n``;
* ``variance``: variance of the 1-point and two-point estimators against ``d``;
* ``digits``: the abstract dynamics on scikit-learn digits (signed-weight MLP).

Each writes ``DIR/<check>.json`` and ``DIR/<check>.png`` atomically; ``--json`` also
prints the JSON on stdout, otherwise a short summary. The defaults reach the targets in
``docs/theory.md``; ``--quick`` runs a small version in seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from spikesim.cli._output import print_result
from spikesim.errors import ValidationError


def _ints(text: str) -> list[int]:
    try:
        values = [int(float(v)) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    return values


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _say(text: str) -> None:
    if os.environ.get("SPIKESIM_NO_PROGRESS", "") != "1":
        print(text, file=sys.stderr, flush=True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "theory",
        help="numerical checks of the zero-order learning theory",
        description="Numerical checks of the zero-order learning theory; see the sub-commands.",
    )
    tsub = p.add_subparsers(dest="check", metavar="CHECK")
    tsub.required = True

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--json", action="store_true", help="print the result as JSON")
        q.add_argument("--out", default="theory-out", help="output directory (theory-out)")
        q.add_argument("--seed", type=int, default=0, help="random seed (0)")
        q.add_argument("--quick", action="store_true", help="small fast version")

    q = tsub.add_parser("sh-theorem1", help="Monte Carlo check of SH Theorem 1, eq. (4.6)")
    common(q)
    q.add_argument("--samples", type=float, default=None, help="Monte Carlo samples (1e6)")
    q.add_argument("--dims", type=_ints, default=None, help="dimensions (2,4,8,16)")
    q.add_argument("--A", type=float, default=0.3, help="amplitude A (0.3)")
    q.set_defaults(func=_sh_theorem1)

    q = tsub.add_parser("ck-rate", help="CK Theorem 1: error vs gradient flow against n")
    common(q)
    q.add_argument("--ns", type=_ints, default=None, help="updates per sample (1e2..1e5)")
    q.add_argument("--dims", type=_ints, default=None, help="dimensions (2,8,32)")
    q.add_argument("--replicates", type=int, default=None, help="paths per point (200)")
    q.add_argument("--A", type=float, default=1.0, help="amplitude A (1.0)")
    q.add_argument(
        "--learning-rate", type=float, default=1.5, help="learning rate, alpha of SH eq. 4.5 (1.5)"
    )
    q.set_defaults(func=_ck_rate)

    q = tsub.add_parser("variance", help="estimator variance against the dimension d")
    common(q)
    q.add_argument("--samples", type=float, default=None, help="samples per d (1e5)")
    q.add_argument("--dims", type=_ints, default=None, help="dimensions (4..1024)")
    q.add_argument("--A", type=float, default=0.3, help="amplitude A (0.3)")
    q.set_defaults(func=_variance)

    q = tsub.add_parser("digits", help="abstract zero-order dynamics on scikit-learn digits")
    common(q)
    q.add_argument("--steps", type=float, default=None, help="updates per run (4e5)")
    q.add_argument(
        "--rules",
        default=None,
        help="comma-separated runs among previous,ema,ck4,sgd (default all four)",
    )
    q.add_argument("--A", type=float, default=0.3, help="amplitude A (0.3)")
    q.add_argument(
        "--learning-rate",
        type=float,
        default=0.02,
        help="learning rate, alpha of SH eq. 4.5 (0.02)",
    )
    q.add_argument("--eval-every", type=float, default=None, help="test every (2e4 steps)")
    q.set_defaults(func=_digits)


def _finish(args, name: str, result: dict, figure, summary: list[str]) -> int:
    from spikesim.io import save_figure, write_json

    out = Path(args.out)
    result = _plain(result)
    write_json(out / f"{name}.json", result)
    save_figure(figure(result), out / f"{name}.png")
    wrote = f"wrote {out / (name + '.json')} and {out / (name + '.png')}"
    return print_result(result, as_json=args.json, lines=[*summary, wrote])


def _sh_theorem1(args) -> int:
    from spikesim.zeroorder.check_theorem import sh_theorem1
    from spikesim.zeroorder.figures import sh_theorem1_figure

    samples = int(args.samples or (20_000 if args.quick else 1_000_000))
    dims = args.dims or ([2, 4] if args.quick else [2, 4, 8, 16])
    res = sh_theorem1(samples=samples, dims=dims, A=args.A, seed=args.seed, progress=_say)
    summary = [
        f"relative_error (max over cases)  {res['relative_error']:.4g}",
        f"noise level (expected from n)    {res['noise_level']:.4g}",
        f"slope of error vs samples        {res['slope']:.3f}  (1/sqrt(n): -0.5)",
        f"smallest chi2 p-value            {res['min_p_value']:.3g}",
    ]
    return _finish(args, "sh-theorem1", res, sh_theorem1_figure, summary)


def _ck_rate(args) -> int:
    from spikesim.zeroorder.check_rate import ck_rate
    from spikesim.zeroorder.figures import ck_rate_figure

    ns = args.ns or ([100, 316, 1000, 3162] if args.quick else None)
    kw = {} if ns is None else {"ns": ns}
    dims = args.dims or ([2, 8] if args.quick else [2, 8, 32])
    replicates = args.replicates or (50 if args.quick else 200)
    if replicates < 2:
        raise ValidationError(f"--replicates must be >= 2, got {replicates}")
    res = ck_rate(
        dims=dims,
        A=args.A,
        learning_rate=args.learning_rate,
        replicates=replicates,
        seed=args.seed,
        progress=_say,
        **kw,
    )
    summary = [
        f"slope (mean over cases)   {res['slope']:.3f}  (theory -0.5)",
        "slopes per case           " + ", ".join(f"{s:.3f}" for s in res["slopes"]),
    ]
    if res["d_exponent"] is not None:
        summary.append(f"d exponent (quadratic)    {res['d_exponent']:.3f}  (bound: 0.5)")
    return _finish(args, "ck-rate", res, ck_rate_figure, summary)


def _variance(args) -> int:
    from spikesim.zeroorder.check_variance import variance_scaling
    from spikesim.zeroorder.figures import variance_figure

    samples = int(args.samples or (5_000 if args.quick else 100_000))
    dims = args.dims or ([8, 16, 32, 64, 128] if args.quick else None)
    kw = {} if dims is None else {"dims": dims}
    res = variance_scaling(samples=samples, A=args.A, seed=args.seed, progress=_say, **kw)
    summary = [
        f"exponent (1-point)        {res['exponent']:.3f}  (SH: 2)",
        f"exponent (two-point)      {res['two_point_exponent']:.3f}",
        f"max |MC / quadrature - 1| {res['max_relative_deviation_from_exact']:.3g}",
    ]
    return _finish(args, "variance", res, variance_figure, summary)


def _digits(args) -> int:
    from spikesim.experiments.digits import RULES, digits_experiment, digits_figure

    rules = args.rules.split(",") if args.rules else list(RULES)
    steps = int(args.steps or (4_000 if args.quick else 400_000))
    every = int(args.eval_every or (1_000 if args.quick else 20_000))
    res = digits_experiment(
        rules=rules,
        steps=steps,
        A=args.A,
        learning_rate=args.learning_rate,
        eval_every=every,
        seed=args.seed,
    )
    summary = [
        f"{r['rule']:<10s} test accuracy {r['test_accuracy'][-1]:.3f} after {r['steps'][-1]} "
        f"steps" + (f" (diverged at {r['diverged_at']})" if r.get("diverged_at") else "")
        for r in res["runs"]
    ]
    return _finish(args, "digits", res, digits_figure, summary)
