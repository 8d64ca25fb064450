"""RegMix proxy run on the reference workload as a plain, picklable function ``mixture -> metric``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from mixkit.bench.text.text_sources import DEFAULT_SOURCES, load_sources
from mixkit.bench.text.workload import RunConfig, train_mixture


@dataclass(frozen=True)
class TextProxy:
    """Train a small byte GPT on ``mixture`` and return the target validation loss (lower is better).

    Calling it returns ``float``; :meth:`run` returns the per-domain losses too. Each process loads the data
    once (cached) and uses ``threads`` torch threads, so a pool of ``workers`` processes
    fits ``workers`` cores.
    """

    sources: tuple[str, ...] = DEFAULT_SOURCES
    config: RunConfig = field(default_factory=lambda: RunConfig(steps=150))
    target: str = "average"
    max_bytes: int | None = 1_000_000
    threads: int = 1

    def data(self):
        """The domains (loaded once per process)."""
        return load_sources(self.sources, self.config.seq_len, self.max_bytes)

    def run(self, mixture: Mapping[str, float]) -> dict:
        """Train on ``mixture``; returns target loss, per-domain validation loss and wall time."""
        torch.set_num_threads(self.threads)
        result = train_mixture(self.data(), weights=dict(mixture), config=self.config, target=self.target)
        return {"target": result.target_loss, "val_loss": result.val_loss, "wall_s": result.wall_s}

    def __call__(self, mixture: Mapping[str, float]) -> float:
        return self.run(mixture)["target"]
