"""Every registered kind that trains honours the run contract (spikesim.testing.kind)."""

import pytest

from spikesim.experiments import available_kinds
from spikesim.testing.kind import check_kind

TINY = {
    "toy": {"toy": {"n": 5, "steps": 3}},
    "rate": {
        "task": {"dataset": "blobs", "n_train": 60, "n_test": 30},
        "learner": {"name": "bp", "sizes": [20, 8, 4]},
        "train": {"epochs": 2, "batch_size": 10, "eval_every": 30},
    },
    "zeroorder": {
        "task": {"dataset": "digits", "n_train": 60, "n_test": 30},
        "model": {"sizes": [64, 4, 10]},
        "train": {"steps": 200, "eval_every": 100},
    },
    "spiking": {
        "task": {"dataset": "spike-pattern", "n_train": 20, "n_test": 10},
        "network": {"sizes": [10, 2]},
        "encoding": {"duration": 0.05},
        "train": {"trials": 200, "chunk": 100, "eval_every": 100, "plots": False},
    },
}


def test_every_training_kind_has_a_tiny_config():
    from spikesim.experiments.config import _KINDS
    from spikesim.experiments.runs import TrainingKind

    trained = {k for k in available_kinds() if isinstance(_KINDS[k], TrainingKind)}
    assert trained == set(TINY)


@pytest.mark.parametrize("kind", sorted(TINY))
def test_kind_honours_the_run_contract(kind, tmp_path):
    if kind not in available_kinds():
        pytest.skip(f"kind {kind!r} is not registered")
    res = check_kind(kind, TINY[kind], tmp_path)
    assert res["resumed_from_step"] == 0
