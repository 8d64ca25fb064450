"""ODM, Online Data Mixing (Albalak et al. 2023, "Efficient Online Data Mixing For Language Model
Pre-Training", https://arxiv.org/abs/2312.02406): domains are arms of an EXP3 bandit whose reward is the
training loss (a high loss means there is more to learn there).

With ``K`` domains, at update ``t``:
``eps_t = min(1/K, sqrt(ln K / (K t)))``;
for each domain ``i`` observed in the batch, the importance-weighted reward is smoothed,
``R_i = alpha * R_i + (1 - alpha) * L_i / pi_i``;
``pi = (1 - K eps_t) * softmax(eps_{t-1} * R) + eps_t``.

Adaptation: ODM draws one domain per batch; a mixed batch (from :class:`MixtureSampler`) observes several
domains per step, and every observed domain gets the paper's importance-weighted reward update.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.online_method import OnlineMixer, check_fraction


class ODM(OnlineMixer):
    """EXP3 bandit over domains with loss as reward. See module docstring for the rule."""

    needs = "losses"
    _repr_fields = ("smoothing",)

    def __init__(
        self,
        domains: Sequence[str],
        smoothing: float = 0.9,
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, initial_weights)
        self.smoothing = check_fraction(smoothing, "smoothing")
        self._reward = torch.zeros(len(self.domains), dtype=torch.float64)
        self._eps_prev = 1.0 / len(self.domains)

    def exploration(self, t: int) -> float:
        """``eps_t = min(1/K, sqrt(ln K / (K t)))`` for update count ``t >= 1``."""
        k = len(self.domains)
        return min(1.0 / k, math.sqrt(math.log(k) / (k * max(t, 1))))

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """One EXP3 step from the observed per-domain losses; returns the new weights."""
        losses, seen = self._loss_vector(losses_by_domain)
        a = self.smoothing
        estimate = losses / self._p
        self._reward = torch.where(seen, a * self._reward + (1 - a) * estimate, self._reward)
        self.steps_seen += 1
        eps = self.exploration(self.steps_seen + 1)
        k = len(self.domains)
        self._p = (1 - k * eps) * torch.softmax(self._eps_prev * self._reward, dim=0) + eps
        self._eps_prev = eps
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        """Weights, smoothed rewards and the previous exploration rate."""
        return {**self._base_state(), "reward": self._reward.clone(), "eps_prev": self._eps_prev}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        super().load_state_dict(state)
        self._reward = state["reward"].clone()
        self._eps_prev = float(state["eps_prev"])
