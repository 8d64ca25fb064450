"""Online domain-mixing methods: each observes per-domain losses or gradients during training and returns
new sampling weights for ``MixtureSampler.set_weights``."""

from mixkit.domain.online.aioli import Aioli
from mixkit.domain.online.dga import DGA
from mixkit.domain.online.doremi import DoReMi
from mixkit.domain.online.odm import ODM
from mixkit.domain.online.online_method import OnlineMixer
from mixkit.domain.online.rnb import RnB, choose_groups, regroup

ONLINE_METHODS = {"doremi": DoReMi, "odm": ODM, "aioli": Aioli, "dga": DGA, "rnb": RnB}

__all__ = [
    "DGA",
    "ODM",
    "ONLINE_METHODS",
    "Aioli",
    "DoReMi",
    "OnlineMixer",
    "RnB",
    "choose_groups",
    "regroup",
]
