"""``spikesim diagnose EXPERIMENT.toml``: what limits reward-modulated STDP on a spiking run.

The numbers come from :mod:`spikesim.experiments.diagnose`; this module only parses the
command line and prints them.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diagnose",
        help="diagnostics of reward-modulated STDP on a spiking experiment",
        description=(
            "Print, for a spiking experiment file at its initial weights: the single-trial "
            "accuracy ceiling of the target rates and, for a single-layer network, the "
            "cosine of the rule's expected update with the delta rule, its signal-to-noise "
            "and the mean eligibilities (--capacity: also the accuracy a noise-free rate "
            "model with the network's signs reaches). --checkpoint: single-trial against "
            "mean-count test accuracy at the checkpoint's weights."
        ),
    )
    p.add_argument("experiment", help='experiment file (TOML, kind = "spiking")')
    p.add_argument("--samples", type=int, default=4, help="training samples (default 4)")
    p.add_argument("--trials", type=int, default=2000, help="trials per sample (default 2000)")
    p.add_argument("--capacity", action="store_true", help="also the sign-pattern capacity")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override one key (VALUE parsed as TOML), as in `spikesim train`",
    )
    p.add_argument("--checkpoint", default="", help="a checkpoint.npz of a spiking run")
    p.add_argument(
        "--repeats", type=int, default=20, help="trials per test example with --checkpoint"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikesim.errors import ConfigError
    from spikesim.experiments.config import load
    from spikesim.experiments.diagnose import (
        accuracy_ceiling,
        readout_noise,
        sign_capacity,
        single_layer,
        update_alignment,
    )

    for name in ("samples", "trials", "repeats"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1, got {getattr(args, name)}")
    cfg = load(args.experiment, overrides=args.set)
    if cfg["experiment"]["kind"] != "spiking":
        raise ConfigError(
            f"{args.experiment} has kind {cfg['experiment']['kind']!r}; "
            '`spikesim diagnose` needs kind = "spiking"'
        )
    lossc, enc = cfg["loss"], cfg["encoding"]
    n_cls = cfg["network"]["sizes"][-1]
    ceil = accuracy_ceiling(lossc["rate_on"], lossc["rate_off"], enc["duration"], n_cls)
    print(f"single-trial Poisson accuracy ceiling of the targets: {ceil:.3f}")
    if args.checkpoint:
        r = readout_noise(cfg, args.checkpoint, repeats=args.repeats)
        print(
            f"step {r['step']}: single-trial accuracy {r['single_trial']:.3f}, accuracy of the "
            f"mean counts over {args.repeats} trials {r['mean_count']:.3f}; mean spikes per "
            f"trial: true class {r['true_count']:.2f}, largest other {r['max_other_count']:.2f}"
        )
    if not single_layer(cfg):
        print("hidden layer: no single-layer diagnostics")
        return 0
    if args.capacity:
        tr_acc, te_acc = sign_capacity(cfg)
        print(f"rate model with the network's signs: train {tr_acc:.3f} test {te_acc:.3f}")
    rows = update_alignment(
        cfg, samples=args.samples, trials=args.trials, checkpoint=args.checkpoint or None
    )
    for s, r in enumerate(rows):
        print(
            f"sample {s}: cos(expected update, delta rule) whole loss {r['cos']:.3f}, "
            f"class split {r['cos_split']:.3f}; median |g|/se over {args.trials} trials "
            f"whole {r['snr']:.2f}, split {r['snr_split']:.2f}; mean E exc {r['e_exc']:.3f} "
            f"inh {r['e_inh']:.3f}"
        )
    return 0
