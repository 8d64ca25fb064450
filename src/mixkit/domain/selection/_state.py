"""Shared helpers of the per-example selection samplers: seeds drawn from an explicit generator, the
per-pass generators derived from them, and validated JSON-safe state fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mixkit.domain.online.online_method import state_int as state_int  # shared state-field check

_SEED_MOD = 2**62


def seed_from(seed: int | None, generator: torch.Generator | None, name: str = "seed") -> int:
    """An int seed: ``seed`` itself, or one int drawn from ``generator`` (exactly one must be given)."""
    if (seed is None) == (generator is None):
        raise ValueError(f"give exactly one of {name} (an int) or generator (a torch.Generator)")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return int(torch.randint(_SEED_MOD, (1,), generator=generator))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{name} must be an int >= 0, got {seed!r}")
    return seed


def pass_generator(seed: int, index: int) -> torch.Generator:
    """The generator of pass ``index``: seeded from ``(seed, index)`` so any pass can be rebuilt alone."""
    return torch.Generator().manual_seed((seed * 1_000_003 + index * 7_919 + 1) % _SEED_MOD)


def check_kind(state: Mapping[str, Any], kind: str) -> None:
    """Raise ``ValueError`` unless ``state["kind"] == kind``."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping, got {type(state).__name__}")
    if state.get("kind") != kind:
        raise ValueError(f"state is for {state.get('kind')!r}, not {kind!r}")
