"""Importable conformance checks for spikesim's extension points (engines, rules, learners)."""
