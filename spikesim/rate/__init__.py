"""Rate-based learners behind one interface (see :mod:`spikesim.rate.base`)."""

from spikesim.rate.base import REGISTRY, RateLearner, available, make, register

__all__ = ["REGISTRY", "RateLearner", "available", "make", "register"]
