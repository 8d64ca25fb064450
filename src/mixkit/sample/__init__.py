"""Sample mixing: batch -> mixed batch + label rule. Depends on nothing else in mixkit."""

from . import registry
from .batch import MixedBatch
from .lam import sample_beta, sample_lam
from .mixers import *  # noqa: F403  (registers every mixer)
from .mixers import __all__ as _mixers_all
from .pairing import Pairs, make_pairs
from .step import ModelAwareMixer, StepOutput
from .registry import available, build

__all__ = ["MixedBatch", "ModelAwareMixer", "Pairs", "StepOutput", "available", "build", "make_pairs", "registry", "sample_beta",
           "sample_lam", *_mixers_all]
from . import losses
from .losses import decoupled_mixup_loss, mixoe_loss, mixoe_targets, mixup_ranking_loss, mndcg_loss

__all__ += ["decoupled_mixup_loss", "losses", "mixoe_loss", "mixoe_targets", "mixup_ranking_loss", "mndcg_loss"]
