"""Reward-modulated STDP (Schmidt-Hieber 2023; Christensen & Kallsen 2024).

- :func:`eligibility`: the STDP eligibility of every edge after one trial (eq. 2.4).
- :mod:`spikesim.plasticity.rule`: the update ``w += alpha (L - L_bar) C w E`` (eq. 4.1),
  baselines and learning-rate schedules (pure functions).
- :mod:`spikesim.plasticity.loss`: decoding output spikes and the trial losses.
- :class:`Trainer`: the thin stateful shell that trains a network trial by trial.
"""

from spikesim.plasticity.eligibility import eligibility, eligibility_csr, eligibility_reference

__all__ = ["eligibility", "eligibility_csr", "eligibility_reference"]
