"""ODM, Online Data Mixing (Albalak et al. 2023, "Efficient Online Data Mixing For Language Model
Pre-Training", https://arxiv.org/abs/2312.02406), as released in
https://github.com/alon-albalak/online-data-mixing (``megatron/data/data_sampling_utils.py``:
``SmoothedMeanWeightUpdater.group_update`` and ``Exp3WeightUpdater.group_update``; ``megatron/training.py``
for the mixed-minibatch loop; ``scripts/train_1B_ema.sh`` / ``train_1B_exp3_mixed_minibatches.sh`` for the
settings). Domains are bandit arms whose reward is their training loss on the step's mixed batch.

With ``K`` domains, update ``t = step + 1`` (the release's iteration counter) and
``eps_t = min(1/K, sqrt(ln K / (K t)))``, for every domain ``i`` present in the batch with mean loss ``L_i``:

* ``rule="smoothed_mean"`` (default, the paper's method): ``R_i = a R_i + (1 - a) exp(L_i)`` (``R`` starts at
  0), then the *linear* normalisation ``pi = (1 - K eps_t) R / sum(R) + eps_t``;
* ``rule="exp3"``: ``R_i += reward_scale * L_i / pi_i`` (``pi`` before the update), then
  ``pi = (1 - K eps_t) softmax(eps_{t-1} R) + eps_t`` (``eps_0 = 1/K``).

No update happens while ``t <= warmup_steps``: the sampler keeps the initial weights (the release's
``data_sampling_warmup_steps``, 2000 of 100k steps in its runs) and the losses of those steps are not
observed. Defaults from the release: ``smoothing=0.9``, ``reward_scale=0.1``, update every step.
Deviations: ``R`` of the smoothed mean is kept in log space (``log R``; same weights, no overflow of
``exp(L)`` for large losses); before any domain has been observed the weights stay unchanged (the release
divides by zero there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.online_method import (
    OnlineMixer,
    check_fraction,
    check_positive,
    check_step,
    log_list,
    stable_softmax,
    state_float,
    state_vector,
)

_BIG = torch.finfo(torch.float64).max / 4  # EXP3's rewards saturate here: eps * R stays finite


class ODM(OnlineMixer):
    """Bandit over domains with the training loss as reward (see the module docstring for both rules).

    Args:
        domains: domain names.
        rule: ``"smoothed_mean"`` (release default) or ``"exp3"``.
        smoothing: the smoothed mean's ``a`` (release 0.9).
        warmup_steps: steps before the first update (release runs: 2 % of training).
        reward_scale: EXP3's reward scaling (release 0.1).
        initial_weights: the mixture during warm-up (uniform if None).
    """

    needs = "losses"
    _repr_fields = ("rule", "smoothing", "warmup_steps")

    def __init__(
        self,
        domains: Sequence[str],
        rule: str = "smoothed_mean",
        smoothing: float = 0.9,
        warmup_steps: int = 0,
        reward_scale: float = 0.1,
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, initial_weights)
        if rule not in ("smoothed_mean", "exp3"):
            raise ValueError(f"rule must be 'smoothed_mean' or 'exp3', got {rule!r}")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
        self.rule = rule
        self.smoothing = check_fraction(smoothing, "smoothing")
        self.warmup_steps = warmup_steps
        self.reward_scale = check_positive(reward_scale, "reward_scale")
        k = len(self.domains)
        # smoothed mean: log R (-inf = never observed); exp3: the cumulative estimated reward R
        self._reward = torch.full((k,), -math.inf if rule == "smoothed_mean" else 0.0, dtype=torch.float64)
        self._eps = 1.0 / k

    def exploration(self, t: int) -> float:
        """``eps_t = min(1/K, sqrt(ln K / (K t)))`` for iteration ``t >= 1``."""
        k = len(self.domains)
        return min(1.0 / k, math.sqrt(math.log(k) / (k * max(t, 1))))

    def wants_signal(self, step: int) -> bool:
        """True once the warm-up is over (iteration ``step + 1 > warmup_steps``)."""
        return step + 1 > self.warmup_steps

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """One group update from the per-domain mean losses of the step's batch; returns the new weights."""
        check_step(step)
        losses, seen = self._loss_vector(losses_by_domain)
        if not self.wants_signal(step):
            return self.weights
        k = len(self.domains)
        eps_prev, self._eps = self._eps, self.exploration(step + 1)
        if self.rule == "smoothed_mean":
            a = self.smoothing
            log_a = math.log(a) if a > 0 else -math.inf
            new = torch.logaddexp(self._reward + log_a, losses + math.log1p(-a))
            self._reward = torch.where(seen, new, self._reward)
            if bool(torch.isfinite(self._reward).any()):
                self._p = (1 - k * self._eps) * stable_softmax(self._reward, "reward") + self._eps
        else:
            gain = (self.reward_scale * losses / self._p).clamp(-_BIG, _BIG)
            # the cumulative reward saturates at +-_BIG instead of overflowing to inf (then inf - inf = NaN)
            self._reward = torch.where(seen, (self._reward + gain).clamp(-_BIG, _BIG), self._reward)
            self._p = (1 - k * self._eps) * stable_softmax(eps_prev * self._reward, "reward") + self._eps
        self.steps_seen += 1
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        """Weights, rewards (``log R`` with ``None`` for unobserved domains, or EXP3's ``R``) and ``eps``."""
        return {**self._base_state(), "reward": log_list(self._reward), "eps": self._eps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (validated; ``ValueError`` names a bad field)."""
        super().load_state_dict(state)
        self._reward = state_vector(
            state, "reward", len(self.domains), allow_none=self.rule == "smoothed_mean"
        )
        eps = state_float(state, "eps")
        if not 0.0 <= eps <= 1.0 / len(self.domains):
            raise ValueError(f"state field 'eps' must be in [0, 1/K] = [0, {1.0 / len(self.domains):.4g}], "
                             f"got {eps!r}")
        self._eps = eps
