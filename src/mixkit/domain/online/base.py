"""Former name of :mod:`.online_method`, re-exported for callers not yet moved to ``mixkit.domain.online``."""

from mixkit.domain.online.online_method import (
    GradientSignalMixer,
    OnlineMixer,
    as_float,
    check_domains,
    check_fraction,
    check_positive,
    exp_update,
    mix_floor,
    small_to_host,
    weights_vector,
)

__all__ = [
    "GradientSignalMixer",
    "OnlineMixer",
    "as_float",
    "check_domains",
    "check_fraction",
    "check_positive",
    "exp_update",
    "mix_floor",
    "small_to_host",
    "weights_vector",
]
