"""Domain mixing: sources -> stream of (domain, index). Depends on nothing else in mixkit."""

__all__: list[str] = []

from .sampler import DrawBatch, MixtureSampler

__all__ += ["MixtureSampler", "DrawBatch"]
