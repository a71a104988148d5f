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


class Counter:
    """A minimal stepper outside the registry: x_{k+1} = x_k + k, evaluated as test_loss."""

    @staticmethod
    def make(total):
        from spikesim.training import Stepper, StepReport

        class _Counter(Stepper):
            def __init__(self):
                self.k, self.x = 0, 0.0

            position = property(lambda self: self.k)
            total = property(lambda self: total)
            samples_seen = property(lambda self: 2 * self.k)

            def init(self):
                self.k, self.x = 0, 0.0

            def step(self):
                self.x += self.k
                self.k += 1
                return StepReport(samples=2, stats={"train_loss": self.x / 2})

            def evaluate(self):
                return {"test_loss": self.x}

            def state_dict(self):
                import numpy as np

                return {"x": np.float64(self.x)}

            def load_state_dict(self, state):
                self.k, self.x = int(state["step"]), float(state["x"])

            def finalize(self, curve, out_dir):
                return {"final": {"test_loss": self.x}}

        return _Counter()


def test_the_driver_with_a_stepper_of_ones_own(tmp_path):
    from spikesim.errors import ValidationError
    from spikesim.training import Schedule, read_checkpoint, train

    kw = {"kind": "counter", "config_hash": "h", "name": "counter"}
    sched = Schedule(eval_every=6, checkpoint_every=4)  # in samples: every 3 and 2 steps
    full = train(Counter.make(10), sched, out_dir=tmp_path / "full", **kw)
    assert [p["step"] for p in full["curve"]] == [0, 3, 6, 9, 10]
    assert [p["test_loss"] for p in full["curve"]] == [0.0, 3.0, 15.0, 36.0, 45.0]
    assert full["curve"][1]["train_loss"] == (0 + 1 + 3) / 2 / 3  # sample-weighted mean
    assert read_checkpoint(tmp_path / "full" / "checkpoint.npz").step == 10
    part = tmp_path / "part"
    train(Counter.make(4), sched, out_dir=part, **kw)
    res = train(Counter.make(10), sched, out_dir=part, resume=True, **kw)
    # the shorter run's last evaluation (step 4) stays in the curve; the test figures at
    # the other steps are those of the uninterrupted run
    assert [p["step"] for p in res["curve"]] == [0, 3, 4, 6, 9, 10]
    want = {p["step"]: p["test_loss"] for p in full["curve"]}
    assert all(p["test_loss"] == want[p["step"]] for p in res["curve"] if p["step"] != 4)
    assert res["final"]["test_loss"] == full["final"]["test_loss"] and res["resumed_from_step"] == 4
    with pytest.raises(ValidationError, match="kind 'counter', not 'other'"):
        train(Counter.make(10), sched, out_dir=part, resume=True, **{**kw, "kind": "other"})
    with pytest.raises(ValidationError, match="different configuration"):
        train(Counter.make(10), sched, out_dir=part, resume=True, **{**kw, "config_hash": "g"})
