"""EP on Fashion-MNIST with the authors' protocol, in plain numpy, independent of ``ep``.

Follows ``train_model.py`` / ``model.py`` of bscellier/Towards-a-Biologically-Plausible-
Backprop (config ``net1``) written from scratch: 784-500-10, the first 50,000 training
images train and the last 10,000 validate, a fixed example order (no shuffling), batch 20,
20 free / 4 nudged steps of eq. 54 (eps 0.5) written from the gradient of the energy
(eq. 34) with rho = clip(., 0, 1) and rho' = 1 on [0, 1], cost |y - s_out|^2, beta 0.5
with a random sign per minibatch, update eq. 50 with rates 0.1 / 0.05, Glorot-uniform
weights, zero biases, persistent particles for every training, validation *and* test
example. Each epoch: training error = free-phase prediction of each minibatch before its
update, averaged over the epoch; validation and test error = 20 free steps from the
examples' persistent particles (as the authors' code measures its validation error).

    python docs/scripts/ep_reference_protocol.py --seed 0 --out runs/ep-reference-s0.json

About 40 s per epoch on one core (the input drive is recomputed every step, as in the
authors' code).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spikesim import data
from spikesim.io import write_json

SIZES = (784, 500, 10)
N_TRAIN = 50_000
BATCH, N_FREE, N_NUDGED, EPS, BETA, ALPHAS, EPOCHS = 20, 20, 4, 0.5, 0.5, (0.1, 0.05), 25


def rho(s):
    return np.clip(s, 0, 1)


def rho_prime(s):
    return ((s >= 0) & (s <= 1)).astype(np.float32)


def step(x, h, o, beta, t, W, B):
    """One step of eq. 54 on the total energy E + beta |o - t|^2."""
    eps = np.float32(EPS)
    dh = rho(h) * rho_prime(h) - rho_prime(h) * (rho(x) @ W[0] + rho(o) @ W[1].T + B[0])
    do = rho(o) * rho_prime(o) - rho_prime(o) * (rho(h) @ W[1] + B[1]) + beta * 2 * (o - t)
    return np.clip(h - eps * dh, 0, 1), np.clip(o - eps * do, 0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ds = data.load("fashion-mnist", seed=args.seed)
    X = np.concatenate([ds.x_train, ds.x_test]).astype(np.float32)
    Y = np.concatenate([ds.y_train, ds.y_test]).astype(np.int64)
    T = np.eye(10, dtype=np.float32)[Y]
    n_all_train = len(ds.y_train)
    rs = np.random.RandomState(args.seed)
    W = [
        rs.uniform(-np.sqrt(6 / (a + b)), np.sqrt(6 / (a + b)), (a, b)).astype(np.float32)
        for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    B = [np.zeros(n, np.float32) for n in SIZES[1:]]
    P = [np.zeros((len(Y), n), np.float32) for n in SIZES[1:]]

    def free(idx):
        x = X[idx]
        h, o = P[0][idx], P[1][idx]
        for _ in range(N_FREE):
            h, o = step(x, h, o, 0.0, T[idx], W, B)
        P[0][idx], P[1][idx] = h, o
        return h, o

    def error(lo, hi):
        wrong = 0
        for i in range(lo, hi, BATCH):
            idx = np.arange(i, min(i + BATCH, hi))
            _, o = free(idx)
            wrong += int(np.sum(o.argmax(1) != Y[idx]))
        return wrong / (hi - lo)

    log = []
    for epoch in range(EPOCHS):
        t0 = time.perf_counter()
        wrong = 0
        for i in range(0, N_TRAIN, BATCH):
            idx = np.arange(i, i + BATCH)
            x = X[idx]
            h0, o0 = free(idx)
            wrong += int(np.sum(o0.argmax(1) != Y[idx]))
            beta = np.float32((2 * rs.randint(0, 2) - 1) * BETA)
            h, o = h0, o0
            for _ in range(N_NUDGED):
                h, o = step(x, h, o, beta, T[idx], W, B)
            c = 1.0 / (beta * BATCH)
            W[0] += np.float32(ALPHAS[0] * c) * (rho(x).T @ (rho(h) - rho(h0)))
            W[1] += np.float32(ALPHAS[1] * c) * (rho(h).T @ rho(o) - rho(h0).T @ rho(o0))
            B[0] += np.float32(ALPHAS[0] * c) * (rho(h) - rho(h0)).sum(0)
            B[1] += np.float32(ALPHAS[1] * c) * (rho(o) - rho(o0)).sum(0)
        rec = {
            "epoch": epoch + 1,
            "train_error_inloop": wrong / N_TRAIN,
            "valid_error": error(N_TRAIN, n_all_train),
            "test_accuracy_persistent": 1 - error(n_all_train, len(Y)),
            "s": time.perf_counter() - t0,
        }
        log.append(rec)
        print(rec, flush=True)
    write_json(args.out, {"seed": args.seed, "epochs": log})


if __name__ == "__main__":
    main()
