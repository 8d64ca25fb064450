"""Domain mixing: sources -> stream of (domain, index). Depends on nothing else in mixkit."""

__all__: list[str] = []

# MixtureSampler, static strategies and schedules, DataLoader adapters, sources (branch domain-sampler)
from .adapters import MixtureDataset, MixtureIterableDataset, MixtureTorchSampler  # noqa: E402
from .sampler import DrawBatch, MixtureSampler  # noqa: E402
from .sources import JsonlSource, hf_sources, jsonl_sources  # noqa: E402
from .static import (  # noqa: E402
    STRATEGIES,
    Constant,
    Cooldown,
    EndUpsample,
    LinearSchedule,
    Schedule,
    ScheduleDriver,
    StepSchedule,
    average_weights,
    cap_repetition,
    proportional,
    strategy,
    temperature,
    uniform,
    unimax,
)

__all__ += [
    "MixtureSampler",
    "DrawBatch",
    "MixtureDataset",
    "MixtureIterableDataset",
    "MixtureTorchSampler",
    "JsonlSource",
    "jsonl_sources",
    "hf_sources",
    "Constant",
    "Cooldown",
    "EndUpsample",
    "LinearSchedule",
    "StepSchedule",
    "Schedule",
    "ScheduleDriver",
    "STRATEGIES",
    "average_weights",
    "cap_repetition",
    "proportional",
    "strategy",
    "temperature",
    "uniform",
    "unimax",
]

# online methods and RegMix-style search (branch domain-online)
from .online import DGA, ODM, Aioli, DoReMi, OnlineMixer, RnB  # noqa: E402
from .search import RegMixSearch, run_proxies  # noqa: E402

__all__ += ["DGA", "ODM", "Aioli", "DoReMi", "OnlineMixer", "RnB"]
__all__ += ["RegMixSearch", "run_proxies"]
