"""DGA, Dynamic Gradient Alignment (Fan, Grangier, Ablin et al. 2024, "Dynamic Gradient Alignment for Online
Data Mixing", https://arxiv.org/abs/2410.02498): upweight the domains whose gradient points where the
gradient of a small *target* set points.

Every ``every`` steps, with domain gradients ``g_i`` and the target gradient ``g_T``:
``s_i = <g_i, g_T>`` (or the cosine when ``similarity="cosine"``, which makes ``step_size`` scale-free),
``a' = softmax(log a + step_size * s)``, then the EMA ``a = beta * a + (1 - beta) * a'`` and a floor
``a = (1 - floor) * a + floor / K``.

Simplified relative to the paper: the inner product uses whatever gradient slice the caller passes
(the reference loop passes all parameters); the paper's distribution-reweighting variant is not built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.online_method import GradientSignalMixer, small_to_host


def similarity_scores(grads: torch.Tensor, target: torch.Tensor, similarity: str) -> torch.Tensor:
    """``[K]`` dot products (or cosines) of the rows of ``grads [K, D]`` with ``target [D]``, float64 on the
    host (computed on the gradients' device; only the K numbers move)."""
    dots = small_to_host(grads @ target, "grads_by_domain")
    if similarity == "dot":
        return dots
    norms = small_to_host(grads.norm(dim=1) * target.norm(), "grads_by_domain")
    return torch.where(norms > 0, dots / norms.clamp_min(1e-30), torch.zeros_like(dots))


class DGA(GradientSignalMixer):
    """Gradient alignment with a target domain. ``grads_by_domain`` must hold every training domain and
    ``target`` (which may be a training domain or a separate held-out set)."""

    _repr_fields = ("target", "similarity", "step_size", "ema", "floor", "every")

    def __init__(
        self,
        domains: Sequence[str],
        target: str,
        step_size: float = 1.0,
        ema: float = 0.5,
        floor: float = 0.02,
        every: int = 10,
        similarity: str = "cosine",
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, step_size, ema, floor, every, initial_weights)
        if not isinstance(target, str) or not target:
            raise ValueError(f"target must be a non-empty domain name, got {target!r}")
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        self.target = target
        self.similarity = similarity

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """One DGA step from ``grads_by_domain`` (every domain plus ``target``); returns the new weights."""
        keys = list(self.domains) + ([self.target] if self.target not in self.domains else [])
        mat = self._grad_matrix(grads_by_domain, keys)
        target = mat[keys.index(self.target)]
        return self._smoothed_step(similarity_scores(mat[: len(self.domains)], target, self.similarity))

    def state_dict(self) -> dict[str, Any]:
        """Weights and step count (DGA keeps no other state)."""
        return self._base_state()
