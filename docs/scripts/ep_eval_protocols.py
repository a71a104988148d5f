"""EP on Fashion-MNIST: test accuracy under three evaluation protocols, per epoch.

Trains ``ep`` exactly as ``spikesim train experiments/ep-fmnist.toml --set
experiment.seed=SEED`` does (same learner settings, seed and example order) and after
every epoch measures the test accuracy

- ``predict``: ``n_free`` free steps from zero (``EquilibriumPropagation.predict``, what
  ``results.json`` reports);
- ``persistent``: ``n_free`` free steps from a persistent particle per *test* example,
  carried across epochs (the authors' ``train_model.py`` does this for its validation
  set);
- ``settled``: the free phase from zero run to its fixed point
  (``EquilibriumPropagation.settle``, last step < 1e-6, at most 5,000 steps);

and the training error as the authors' code reports it (``train_error_inloop``: the
free-phase prediction of each minibatch before its update, averaged over the epoch).

    python docs/scripts/ep_eval_protocols.py --seed 0 --out runs/ep-eval-protocols-s0.json
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

import numpy as np

from spikesim import data
from spikesim.experiments.train_rate import epoch_order
from spikesim.io import write_json
from spikesim.rate import make
from spikesim.rate.ep import relax

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "ep-fmnist.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cfg = tomllib.loads(EXPERIMENT.read_text())
    params = {k: v for k, v in cfg["learner"].items() if k != "name"}
    epochs, batch = cfg["train"]["epochs"], cfg["train"]["batch_size"]
    ds = data.load(cfg["task"]["dataset"], seed=args.seed)
    x_tr = np.ascontiguousarray(ds.x_train, dtype=np.float32)
    y_tr = np.asarray(ds.y_train, dtype=np.int64)
    x_te = np.ascontiguousarray(ds.x_test, dtype=np.float32)
    y_te = np.asarray(ds.y_test, dtype=np.int64)
    m = make("ep", seed=args.seed, **params)
    m.initialize()
    test_particles = [np.zeros((len(y_te), n), dtype=np.float32) for n in m.sizes[1:]]
    n = len(y_tr)
    log = []
    for epoch in range(epochs):
        order = epoch_order(n, epoch, args.seed, cfg["train"].get("shuffle", True))
        wrong = 0
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            m.fit_batch(x_tr[idx], y_tr[idx], idx)
            # the particles now hold this minibatch's free-phase end (pre-update weights)
            wrong += int(np.sum(np.argmax(m.particles[-1][idx], axis=1) != y_tr[idx]))
        train_s = time.perf_counter() - t0
        acc_predict = m.score(x_te, y_te)
        drive = np.clip(x_te, 0.0, 1.0) @ m.W[0]
        test_particles = relax(drive, test_particles, m.W, m.b, n_steps=m.n_free, eps=m.eps)
        acc_persistent = float(np.mean(np.argmax(test_particles[-1], axis=1) == y_te))
        settled, n_settle, change = m.settle(x_te, tol=1e-6, max_steps=5000)
        acc_settled = float(np.mean(np.argmax(settled[-1], axis=1) == y_te))
        rec = {
            "epoch": epoch + 1,
            "train_error_inloop": wrong / n,
            "test_accuracy_predict": acc_predict,
            "test_accuracy_persistent": acc_persistent,
            "test_accuracy_settled": acc_settled,
            "settle_steps": n_settle,
            "settle_last_change": change,
            "train_s": train_s,
        }
        log.append(rec)
        print(rec, flush=True)
    write_json(args.out, {"seed": args.seed, "epochs": log})


if __name__ == "__main__":
    main()
