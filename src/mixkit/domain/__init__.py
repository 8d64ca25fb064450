"""Domain mixing: per-domain sources -> a stream of ``(domain, index)`` draws following mixture weights.

* The stream: :class:`MixtureSampler` (a ``torch.utils.data.Sampler``), :class:`DrawBatch`, the exact
  integer weights (:func:`quantize_weights`) and the quota interleaving behind it
  (:func:`quota_interleave_reference`).
* PyTorch loading: :class:`MixtureDataset`, :class:`MixtureEpochSampler`, :class:`MixtureIterableDataset`;
  sources with random access: :class:`JsonlSource`, :func:`jsonl_sources`, :func:`hf_sources`.
* Static mixtures (:func:`proportional`, :func:`uniform`, :func:`temperature`, :func:`unimax`,
  :func:`cap_repetition`, :func:`strategy`) and mixtures over training progress (:class:`WeightSchedule`
  and its implementations, driven by :class:`ScheduleDriver`).
* Online methods (:mod:`mixkit.domain.online`) and RegMix-style search (:mod:`mixkit.domain.search`).

Depends on nothing else in mixkit.
"""

from .balance import BALANCE_STRATEGIES, BalancedMixture
from .interleave import quota_interleave_reference
from .loaders import MixtureDataset, MixtureEpochSampler, MixtureIterableDataset
from .online import DGA, EXP3FLAD, ODM, UCB1FLAD, Aioli, DoReMi, OnlineMixer, RnB
from .sampler import DrawBatch, MixtureSampler
from .schedules import (
    Constant,
    Cooldown,
    EndUpsample,
    LinearSchedule,
    ScheduleDriver,
    StepSchedule,
    WeightSchedule,
    average_weights,
)
from .search import RegMixSearch, run_proxies
from .search.merging import MergingEstimator, merge_parameters
from .selection import PrunedSampler, RS2Sampler, average_scores, el2n_scores, grand_scores, prune_indices
from .sources import JsonlSource, hf_sources, jsonl_sources
from .strategies import (
    STRATEGIES,
    cap_repetition,
    epochs,
    proportional,
    strategy,
    temperature,
    uniform,
    unimax,
)
from .weights import WEIGHT_DENOMINATOR, check_sizes, check_weights, quantize_weights

__all__ = [
    "BALANCE_STRATEGIES",
    "DGA",
    "EXP3FLAD",
    "ODM",
    "STRATEGIES",
    "WEIGHT_DENOMINATOR",
    "Aioli",
    "BalancedMixture",
    "Constant",
    "Cooldown",
    "DoReMi",
    "DrawBatch",
    "EndUpsample",
    "JsonlSource",
    "LinearSchedule",
    "MergingEstimator",
    "MixtureDataset",
    "MixtureEpochSampler",
    "MixtureIterableDataset",
    "MixtureSampler",
    "OnlineMixer",
    "PrunedSampler",
    "RS2Sampler",
    "RegMixSearch",
    "RnB",
    "ScheduleDriver",
    "StepSchedule",
    "UCB1FLAD",
    "WeightSchedule",
    "average_scores",
    "average_weights",
    "cap_repetition",
    "check_sizes",
    "check_weights",
    "el2n_scores",
    "epochs",
    "grand_scores",
    "hf_sources",
    "jsonl_sources",
    "merge_parameters",
    "proportional",
    "prune_indices",
    "quantize_weights",
    "quota_interleave_reference",
    "run_proxies",
    "strategy",
    "temperature",
    "uniform",
    "unimax",
]
