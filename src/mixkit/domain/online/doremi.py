"""DoReMi (Xie et al. 2023, "DoReMi: Optimizing Data Mixtures Speeds Up Language Model Pretraining",
https://arxiv.org/abs/2305.10429): Group DRO over domains on the *excess loss* of the trained (proxy) model
over a reference model, with an exponentiated-gradient update and smoothing toward uniform.

Per step, with per-domain losses ``L_i`` and reference losses ``R_i``:
``lam_i = max(L_i - R_i, 0)`` (0 for domains absent from the batch),
``a = softmax(log a + step_size * lam)``, ``a = (1 - smoothing) * a + smoothing / K``.
The paper's output mixture is the *average* of ``a`` over steps (``average_weights``); ``weights`` is the
current one, which is what an online run samples with.

Simplified relative to the paper: the excess is taken on per-domain mean losses, not per-token maxima;
the reference is either fixed per-domain numbers (e.g. a uniform-mixture model's validation losses) or
set each step with ``set_reference_losses`` from a reference model run on the same batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mixkit.domain.online.online_method import (
    OnlineMixer,
    as_float,
    check_fraction,
    check_positive,
    exp_update,
    mix_floor,
)


class DoReMi(OnlineMixer):
    """Group-DRO domain reweighting on excess loss. See module docstring for the rule."""

    needs = "losses"
    _repr_fields = ("step_size", "smoothing")

    def __init__(
        self,
        domains: Sequence[str],
        reference_losses: Mapping[str, float] | None = None,
        step_size: float = 1.0,
        smoothing: float = 1e-3,
        initial_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(domains, initial_weights)
        self.step_size = check_positive(step_size, "step_size")
        self.smoothing = check_fraction(smoothing, "smoothing")
        self._ref = torch.zeros(len(self.domains), dtype=torch.float64)
        if reference_losses is not None:
            self.set_reference_losses(reference_losses)
        self._sum_p = torch.zeros_like(self._p)

    def set_reference_losses(self, reference_losses: Mapping[str, Any]) -> None:
        """Set ``R_i`` for the domains named (others keep their previous value)."""
        unknown = set(reference_losses) - set(self.domains)
        if unknown:
            raise ValueError(f"reference_losses names unknown domains {sorted(unknown)}")
        for i, d in enumerate(self.domains):
            if d in reference_losses:
                self._ref[i] = as_float(reference_losses[d], f"reference_losses[{d!r}]")

    @property
    def average_weights(self) -> dict[str, float]:
        """Average of the weights over all updates (DoReMi's final mixture)."""
        if self.steps_seen == 0:
            return self.weights
        return self._to_dict(self._sum_p / self.steps_seen)

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """One Group-DRO step from the per-domain losses (and the current reference losses)."""
        losses, seen = self._loss_vector(losses_by_domain)
        excess = torch.where(seen, (losses - self._ref).clamp_min(0.0), torch.zeros_like(losses))
        self._p = mix_floor(exp_update(self._p, excess, self.step_size), self.smoothing)
        self._sum_p += self._p
        self.steps_seen += 1
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        """Weights, reference losses and the running sum behind ``average_weights``."""
        return {**self._base_state(), "ref": self._ref.clone(), "sum_p": self._sum_p.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        super().load_state_dict(state)
        self._ref = state["ref"].clone()
        self._sum_p = state["sum_p"].clone()
