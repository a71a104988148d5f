"""Importable conformance checks for extensions of spikesim, and the slow reference.

Someone writing a new engine, plasticity rule, rate learner or kind of run, inside or
outside this repository, runs the matching check (scikit-learn's ``check_estimator`` is
the model); each raises :class:`AssertionError` naming the first failed property:

- :func:`check_engine` (:mod:`spikesim.testing.engine`): an engine against the slow
  reference simulator (:mod:`spikesim.testing.reference`), input validation, the record
  contract, determinism, batches, voltages.
- :func:`check_rule` (:mod:`spikesim.testing.rule`): a plasticity rule's parameters,
  state, trace kernel against its slow reference, update bounds and determinism.
- :func:`check_rate_learner` (:mod:`spikesim.testing.rate`): a rate learner's
  constructor, fit/predict, seeding, validation, state round trip, divergence.
- :func:`check_kind` (:mod:`spikesim.testing.kind`): a kind of run through the run
  contract (strict-JSON results, resume, refused changes, ``load_run``).

Nothing in the package imports this module; it may import every layer.
"""

from spikesim.testing.engine import check_engine
from spikesim.testing.kind import check_kind
from spikesim.testing.rate import check_rate_learner
from spikesim.testing.rule import check_rule

__all__ = ["check_engine", "check_kind", "check_rate_learner", "check_rule"]
