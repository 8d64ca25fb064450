"""R&B, Regroup and Balance (Ge et al. 2025, "R&B: Domain Regrouping and Data Mixture Balancing for Efficient
Foundation Model Training", https://arxiv.org/abs/2505.00358), the *Balance* step: reweight domains from the
Gram matrix of domain gradients that training computes anyway (no extra evaluation data).

Every ``every`` steps, with domain gradients stacked as ``G [K, D]``:
the Gram matrix ``S = G G^T`` scaled by its largest magnitude (``gram="dot"``, the default; a domain with a
larger gradient, i.e. more left to learn, counts more) or the cosine Gram (``gram="cosine"``), the alignment
of each domain with the current mixture's update direction ``s = S a``, and
``a' = softmax(log a + step_size * s)`` followed by the EMA ``a = beta * a + (1 - beta) * a'`` and a floor.

Simplified: this is our reading of the Balance rule (a domain whose gradient agrees with the mixture's
gradient is learned jointly with the rest and gets more weight; one that conflicts gets less); the Regroup
step (re-clustering data into finer semantic domains) is left to the user's domain definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.online_method import GradientSignalMixer, small_to_host


def scaled_gram(grads: torch.Tensor) -> torch.Tensor:
    """``[K, K]`` Gram matrix ``G G^T`` of ``grads [K, D]`` divided by its largest magnitude (zero stays
    zero), float64 on the host."""
    gram = small_to_host(grads @ grads.T, "grads_by_domain")
    m = gram.abs().max()
    return gram / m if m > 0 else gram


def cosine_gram(grads: torch.Tensor) -> torch.Tensor:
    """``[K, K]`` cosine-similarity Gram matrix of ``grads [K, D]`` (zero rows give zero similarity),
    float64 on the host."""
    gram = small_to_host(grads @ grads.T, "grads_by_domain")
    norms = gram.diagonal().clamp_min(0).sqrt()
    denom = norms[:, None] * norms[None, :]
    return torch.where(denom > 0, gram / denom.clamp_min(1e-300), torch.zeros_like(gram))


class RnB(GradientSignalMixer):
    """Gram-matrix balancing of domain gradients. ``grads_by_domain`` must hold every domain."""

    _repr_fields = ("gram", "step_size", "ema", "floor", "every")

    def __init__(
        self,
        domains: Sequence[str],
        step_size: float = 1.0,
        ema: float = 0.5,
        floor: float = 0.02,
        every: int = 10,
        gram: str = "dot",
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, step_size, ema, floor, every, initial_weights)
        if gram not in ("dot", "cosine"):
            raise ValueError(f"gram must be 'dot' or 'cosine', got {gram!r}")
        self.gram = gram
        self.last_gram: torch.Tensor | None = None

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """One Balance step from ``grads_by_domain`` (every domain); returns the new weights."""
        mat = self._grad_matrix(grads_by_domain, self.domains)
        gram = scaled_gram(mat) if self.gram == "dot" else cosine_gram(mat)
        self.last_gram = gram
        return self._smoothed_step(gram @ self._p)

    def state_dict(self) -> dict[str, Any]:
        """Weights and step count (the Gram matrix is recomputed each update)."""
        return self._base_state()
