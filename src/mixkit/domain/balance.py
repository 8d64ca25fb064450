"""Upsample or upweight: one target mixture realised by sampling or by loss weights (Li, Xu, Tan, Murray,
Khashabi 2025, "Upsample or Upweight? Balanced Training on Heavily Imbalanced Datasets", NAACL 2025,
https://arxiv.org/abs/2410.04579; no public release found).

The target mixture is temperature sampling over the domain sizes, ``w_k ∝ n_k^(1/T)``; the objective is
``sum_k w_k L_k`` (``L_k``: mean loss of domain ``k``). Two interchangeable ways to train on it:

* ``"upsample"`` (Temperature Sampling): draw batches from ``w``; every example's loss weight is 1.
* ``"upweight"`` (Scalarization): draw batches in proportion to the sizes ``q_k = n_k / sum n``; an
  example of domain ``k`` gets loss weight ``w_k / q_k``, so ``E[weighted batch loss] = sum_k w_k L_k``.

Both have the same expected gradient (equal under full-batch gradient descent, the paper's equivalence);
under SGD upsampling has the lower gradient variance (faster convergence, but it repeats small domains).
``"cooldown"`` is the paper's recommendation between them: temperature sampling whose temperature starts
high (heavy upsampling) and is lowered later in training (:class:`~mixkit.domain.Cooldown` gives
``T(progress)``); loss weights stay 1. ``"cooldown_upweight"`` is mixkit's own variant that keeps the
objective fixed while the sampling cools: loss weights ``w_k / q_k(progress)`` against the sampling
mixture in use.

Deviations: the paper's exact Cooldown shape and temperatures were not checked against its full text;
the default schedule is mixkit's :class:`~mixkit.domain.Cooldown` (``T`` from ``start_temperature`` to
``end_temperature``, linearly between progress ``start`` and ``end``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from mixkit.domain.schedules import Cooldown
from mixkit.domain.strategies import proportional
from mixkit.domain.strategies import temperature as temperature_weights
from mixkit.domain.weights import check_sizes

BALANCE_STRATEGIES = ("upsample", "upweight", "cooldown", "cooldown_upweight")


class BalancedMixture:
    """Sampling weights and per-domain loss weights for one target mixture (see the module docstring).

    Args:
        sizes: ``{domain: size}``.
        temperature: the target mixture's temperature ``T`` (``w ∝ n^(1/T)``).
        strategy: one of :data:`BALANCE_STRATEGIES`.
        start_temperature, end_temperature, start, end: the cooldown schedule (progress in ``[0, 1]``).

    ``sampling_weights(progress)`` feeds ``MixtureSampler.set_weights``; ``loss_weights(progress)`` and
    ``weighted_loss(losses, domain_ids, progress)`` scale the per-example losses.
    """

    def __init__(self, sizes: Mapping[str, int], temperature: float = 5.0, strategy: str = "upsample",
                 start_temperature: float | None = None, end_temperature: float = 1.0,
                 start: float = 0.0, end: float = 1.0) -> None:
        if strategy not in BALANCE_STRATEGIES:
            raise ValueError(f"strategy must be one of {BALANCE_STRATEGIES}, got {strategy!r}")
        self.sizes = check_sizes(sizes)
        self.names = list(self.sizes)
        self.temperature = float(temperature)
        self.target = temperature_weights(self.sizes, self.temperature)
        self.strategy = strategy
        self.proportional = proportional(self.sizes)
        t0 = self.temperature if start_temperature is None else float(start_temperature)
        self.schedule = Cooldown(self.sizes, start_temperature=t0, end_temperature=end_temperature,
                                 start=start, end=end)

    def __repr__(self) -> str:
        extra = f", schedule={self.schedule!r}" if self.strategy.startswith("cooldown") else ""
        return (f"BalancedMixture(domains={self.names}, temperature={self.temperature:.4g}, "
                f"strategy={self.strategy!r}{extra})")

    def sampling_weights(self, progress: float = 0.0) -> dict[str, float]:
        """The mixture to draw from at ``progress`` (fraction of training done)."""
        if self.strategy == "upsample":
            return dict(self.target)
        if self.strategy == "upweight":
            return dict(self.proportional)
        return dict(self.schedule.weights_at(progress))

    def loss_weights(self, progress: float = 0.0) -> dict[str, float]:
        """Per-domain loss multipliers at ``progress`` (1 for the sampling strategies)."""
        if self.strategy in ("upsample", "cooldown"):
            return {n: 1.0 for n in self.names}
        q = self.sampling_weights(progress)
        return {n: self.target[n] / q[n] for n in self.names}

    def loss_weight_vector(self, progress: float = 0.0, device: Any = None) -> Tensor:
        """``float32 [K]`` loss weights in domain order (index with domain ids)."""
        lw = self.loss_weights(progress)
        return torch.tensor([lw[n] for n in self.names], dtype=torch.float32, device=device)

    def weighted_loss(self, losses: Tensor, domain_ids: Tensor, progress: float = 0.0) -> Tensor:
        """Mean of ``losses [B]`` weighted by the loss weight of each example's domain (``domain_ids``:
        int64 ``[B]``, indices into the domain order). An unbiased estimate of ``sum_k w_k L_k``."""
        if losses.dim() != 1 or domain_ids.shape != losses.shape:
            raise ValueError(f"losses and domain_ids must be 1-D of the same length, got "
                             f"{tuple(losses.shape)} and {tuple(domain_ids.shape)}")
        w = self.loss_weight_vector(progress, losses.device).to(losses.dtype)
        return (w[domain_ids] * losses).mean()
