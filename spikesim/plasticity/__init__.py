"""Local plasticity rules for spiking networks (Schmidt-Hieber 2023; Christensen & Kallsen 2024).

- :mod:`spikesim.plasticity.base`: the rule interface (:class:`Rule`) and its registry,
  :func:`available_rules` and :func:`get_rule`; :mod:`spikesim.plasticity.sh`: the
  reward-modulated STDP rule of SH eq. (4.1) (registered as ``"sh"``);
  :mod:`spikesim.plasticity.mstdpet`: Florian's (2007) MSTDP with eligibility trace
  (registered as ``"mstdpet"``); :mod:`spikesim.plasticity.dopamine`: NEST's
  ``stdp_dopamine_synapse`` (registered as ``"dopamine-stdp"``);
  :mod:`spikesim.plasticity.perturbation`: multiplicative weight perturbation
  (``"weight-perturbation"``, the zero-order method of SH eq. 4.5) and node perturbation
  (``"node-perturbation"``, Williams 1992; Fiete & Seung 2006).
- :func:`eligibility`: the STDP eligibility of every edge after one trial (SH eq. 2.4).
- :mod:`spikesim.plasticity.rule`: the SH update (pure), baselines and learning-rate
  schedules (shared by every rule).
- :mod:`spikesim.plasticity.forward`: the rule-free forward pass of a trial.
- :mod:`spikesim.plasticity.loss`: decoding output spikes and the trial losses.
- :class:`~spikesim.plasticity.trainer.Trainer`: trains a network trial by trial.
"""

from spikesim.plasticity.base import Rule, available_rules, get_rule
from spikesim.plasticity.dopamine import DopamineSTDP
from spikesim.plasticity.eligibility import eligibility, eligibility_csr, eligibility_reference
from spikesim.plasticity.mstdpet import MSTDPET
from spikesim.plasticity.perturbation import NodePerturbation, WeightPerturbation
from spikesim.plasticity.sh import SH

__all__ = [
    "DopamineSTDP",
    "MSTDPET",
    "SH",
    "NodePerturbation",
    "WeightPerturbation",
    "Rule",
    "available_rules",
    "eligibility",
    "eligibility_csr",
    "eligibility_reference",
    "get_rule",
]
