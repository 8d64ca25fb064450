"""Online domain-mixing methods: each observes per-domain losses or gradients during training and returns
new sampling weights for ``MixtureSampler.set_weights``."""

from mixkit.domain.online.aioli import Aioli
from mixkit.domain.online.dga import DGA
from mixkit.domain.online.doremi import DoReMi
from mixkit.domain.online.flad import EXP3FLAD, UCB1FLAD
from mixkit.domain.online.odm import ODM
from mixkit.domain.online.online_method import OnlineMixer
from mixkit.domain.online.rnb import RnB, choose_groups, regroup

ONLINE_METHODS = {"doremi": DoReMi, "odm": ODM, "aioli": Aioli, "dga": DGA, "rnb": RnB,
                  "exp3-flad": EXP3FLAD, "ucb1-flad": UCB1FLAD}

__all__ = [
    "DGA",
    "EXP3FLAD",
    "ODM",
    "ONLINE_METHODS",
    "Aioli",
    "DoReMi",
    "OnlineMixer",
    "RnB",
    "UCB1FLAD",
    "choose_groups",
    "regroup",
]
