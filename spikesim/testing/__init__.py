"""Importable conformance checks for extensions of spikesim (engines, learners, rules, kinds)."""
