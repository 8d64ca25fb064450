"""Former home of the static strategies and schedules: re-exports :mod:`.strategies` and :mod:`.schedules`
under their former names for callers not yet moved to ``mixkit.domain``."""

from __future__ import annotations

from collections.abc import Mapping

from . import strategies as _strategies
from .schedules import (
    Constant,
    Cooldown,
    EndUpsample,
    LinearSchedule,
    ScheduleDriver,
    StepSchedule,
    average_weights,
)
from .schedules import WeightSchedule as Schedule
from .strategies import STRATEGIES, cap_repetition, epochs, proportional, temperature, uniform, unimax
from .weights import Weights


def strategy(name: str, sizes: Mapping[str, int], *, temperature_: float | None = None,
             total: int | None = None, max_epochs: float | None = None) -> Weights:
    """:func:`mixkit.domain.strategy` with its former keyword ``temperature_``."""
    return _strategies.strategy(name, sizes, temperature=temperature_, total=total, max_epochs=max_epochs)


__all__ = [
    "STRATEGIES",
    "Constant",
    "Cooldown",
    "EndUpsample",
    "LinearSchedule",
    "Schedule",
    "ScheduleDriver",
    "StepSchedule",
    "average_weights",
    "cap_repetition",
    "epochs",
    "proportional",
    "strategy",
    "temperature",
    "uniform",
    "unimax",
]
