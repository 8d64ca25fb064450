"""DoReMi (Xie et al. 2023, "DoReMi: Optimizing Data Mixtures Speeds Up Language Model Pretraining",
https://arxiv.org/abs/2305.10429), as released in https://github.com/sangmichaelxie/doremi
(``doremi/trainer.py``: ``DoReMiTrainer.update_domain_weights`` and ``training_step``; ``doremi/train.py``
for the initial state; ``scripts/runs/run_pile_doremi120M.sh`` for the step size and smoothing).

Group DRO over domains on the *excess loss* of a small proxy model over a reference model. Per update, with
per-token losses ``l_t`` of the proxy, ``r_t`` of the reference and the domain ``d(t)`` of each token:

* score: ``lam_i = mean_{t in domain i} max(l_t - r_t, 0)`` (clip per token, then average over the
  domain's tokens); a domain absent from the batch keeps its last score (initially ``log(vocab_size)``,
  the loss of a uniform prediction, as the release initialises it);
* weights: ``a = softmax(log a + step_size * lam)``, then ``a = (1 - smoothing) * a + smoothing / K``;
* output: the running average of ``a`` over all updates *including the initial weights*
  (:meth:`average_weights`), which the paper uses to train a fresh, larger model.

``mode="reweight"`` (default, the release): the proxy samples from the fixed reference mixture
(``sampling_weights``) and the domain weights reweight its loss, per token
``c_{d(t)} = (a_d / s_d) / sum_j (a_j / s_j)`` with ``s`` the sampling mixture, loss
``sum_t c_{d(t)} l_t / sum_t c_{d(t)}`` (:meth:`reweighted_loss`); the release updates the weights first and
then computes this loss with the new weights. ``mode="resample"`` (an option of ours): ``sampling_weights``
follow ``a`` and the proxy loss stays the plain mean.

Defaults from the release: ``step_size=1`` (``--reweight_eta 1``), ``smoothing=1e-3``
(``--reweight_eps 1e-3``), initial weights = the reference (sampling) mixture.
Deviations: the per-token path (:meth:`update_tokens`) is the release's; :meth:`update` with per-domain mean
losses clips after the mean (a coarser approximation, kept for loops that only have per-domain numbers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from mixkit.domain.online.online_method import (
    OnlineMixer,
    as_float,
    check_fraction,
    check_positive,
    check_step,
    exp_update,
    mix_floor,
    state_int,
    state_vector,
    weights_vector,
)


def check_token_inputs(token_losses: Tensor, domain_ids: Tensor, k: int, mask: Tensor | None = None,
                       what: str = "token_losses") -> None:
    """Shapes and types of per-token inputs: ``token_losses`` floating ``[B, T]`` (or ``[N]``), ``domain_ids``
    integer ``[B]`` or of the losses' shape with values in ``[0, k)``, ``mask`` of the losses' shape.
    Raises ``TypeError``/``ValueError`` naming the argument (the id range check is asynchronous off the
    CPU)."""
    named = [(what, token_losses), ("domain_ids", domain_ids)] + ([] if mask is None else [("mask", mask)])
    for name, t in named:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not token_losses.dtype.is_floating_point:
        raise TypeError(f"{what} must be a floating tensor, got {token_losses.dtype}")
    if token_losses.dim() == 0:
        raise ValueError(f"{what} must have shape [B, T] or [N], got a 0-d tensor")
    if domain_ids.dtype.is_floating_point or domain_ids.dtype.is_complex or domain_ids.dtype == torch.bool:
        raise TypeError(f"domain_ids must be integer domain indices, got {domain_ids.dtype}")
    ids_shape = tuple(domain_ids.shape)
    if ids_shape != tuple(token_losses.shape) and ids_shape != tuple(token_losses.shape[:1]):
        raise ValueError(f"domain_ids must have shape [B] = {tuple(token_losses.shape[:1])} or the losses' "
                         f"shape {tuple(token_losses.shape)}, got {ids_shape}")
    if mask is not None and tuple(mask.shape) != tuple(token_losses.shape):
        raise ValueError(f"mask must have the losses' shape {tuple(token_losses.shape)}, "
                         f"got {tuple(mask.shape)}")
    ok = ((domain_ids >= 0) & (domain_ids < k)).all()
    msg = f"domain_ids must lie in [0, {k}) (one index per domain)"
    if domain_ids.device.type == "cpu":
        if domain_ids.numel() and not bool(ok):
            raise ValueError(msg)
    else:
        torch._assert_async(ok, msg)


def per_domain_clipped_excess(
    token_losses: Tensor, reference_losses: Tensor, domain_ids: Tensor, k: int, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Per-domain mean of the per-token clipped excess loss (vectorised, on the inputs' device).

    Args:
        token_losses, reference_losses: float ``[B, T]`` (or ``[N]``) per-token losses.
        domain_ids: int64 ``[B]`` (one domain per sequence) or the same shape as the losses.
        k: number of domains.
        mask: optional bool/float of the losses' shape; tokens with mask 0 are left out.
    Returns:
        (scores float64 ``[k]``, token counts float64 ``[k]``), both on the losses' device.
    """
    excess = (token_losses.detach() - reference_losses.detach()).clamp_min(0).to(torch.float64)
    ids = domain_ids
    if ids.dim() < excess.dim():
        ids = ids.reshape(*ids.shape, *([1] * (excess.dim() - ids.dim()))).expand_as(excess)
    weight = torch.ones_like(excess) if mask is None else mask.to(torch.float64)
    flat_ids = ids.reshape(-1).to(device=excess.device, dtype=torch.int64)
    sums = torch.zeros(k, dtype=torch.float64, device=excess.device).index_add_(
        0, flat_ids, (excess * weight).reshape(-1)
    )
    counts = torch.zeros(k, dtype=torch.float64, device=excess.device).index_add_(
        0, flat_ids, weight.reshape(-1)
    )
    return sums / counts.clamp_min(1), counts


class DoReMi(OnlineMixer):
    """Group-DRO domain reweighting on excess loss (see the module docstring for the rule and defaults).

    Args:
        domains: domain names.
        reference_losses: fixed per-domain reference losses for :meth:`update` (optional).
        step_size: exponentiated-gradient step (release 1.0).
        smoothing: mixing with uniform (release 1e-3).
        initial_weights: the reference (sampling) mixture; also the initial domain weights (uniform if None).
        mode: ``"reweight"`` (release: fixed sampling, reweighted proxy loss) or ``"resample"``.
        vocab_size: sets the initial score ``log(vocab_size)`` of every domain (256: bytes).
        initial_score: overrides the initial score.
    """

    needs = "token_losses"
    _repr_fields = ("mode", "step_size", "smoothing")

    def __init__(
        self,
        domains: Sequence[str],
        reference_losses: Mapping[str, float] | None = None,
        step_size: float = 1.0,
        smoothing: float = 1e-3,
        initial_weights: Mapping[str, float] | None = None,
        mode: str = "reweight",
        vocab_size: int = 256,
        initial_score: float | None = None,
    ) -> None:
        super().__init__(domains, initial_weights)
        if mode not in ("reweight", "resample"):
            raise ValueError(f"mode must be 'reweight' or 'resample', got {mode!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
        self.mode = mode
        self.step_size = check_positive(step_size, "step_size")
        self.smoothing = check_fraction(smoothing, "smoothing")
        k = len(self.domains)
        self._sampling = self._p.clone()
        score0 = math.log(vocab_size) if initial_score is None else as_float(initial_score, "initial_score")
        self._scores = torch.full((k,), score0, dtype=torch.float64)
        self._ref = torch.zeros(k, dtype=torch.float64)
        if reference_losses is not None:
            self.set_reference_losses(reference_losses)
        self._avg = self._p.clone()
        self._counter = 1  # the release's update_counter: the average includes the initial weights

    @property
    def sampling_weights(self) -> dict[str, float]:
        """Reweight mode: the fixed reference mixture. Resample mode: the current domain weights."""
        return self._to_dict(self._sampling if self.mode == "reweight" else self._p)

    def set_sampling_weights(self, weights: Mapping[str, float]) -> None:
        """Set the reference (sampling) mixture of the reweighted loss (e.g. the proportional mixture)."""
        self._sampling = weights_vector(self.domains, weights)

    def set_reference_losses(self, reference_losses: Mapping[str, Any]) -> None:
        """Set the per-domain reference losses ``R_i`` used by :meth:`update` (others keep their value)."""
        unknown = set(reference_losses) - set(self.domains)
        if unknown:
            raise ValueError(f"reference_losses names unknown domains {sorted(unknown)}")
        for i, d in enumerate(self.domains):
            if d in reference_losses:
                self._ref[i] = as_float(reference_losses[d], f"reference_losses[{d!r}]")

    @property
    def scores(self) -> dict[str, float]:
        """The last per-domain score (clipped excess loss) of every domain."""
        return {d: float(v) for d, v in zip(self.domains, self._scores.tolist())}

    @property
    def average_weights(self) -> dict[str, float]:
        """DoReMi's output: the average of the domain weights over training (initial weights included)."""
        return self._to_dict(self._avg)

    def _step(self, scores: Tensor, seen: Tensor) -> dict[str, float]:
        self._scores = torch.where(seen, scores, self._scores)
        self._p = mix_floor(exp_update(self._p, self._scores, self.step_size), self.smoothing)
        self._counter += 1
        self._avg = (self._avg * (self._counter - 1) + self._p) / self._counter
        self.steps_seen += 1
        return self.weights

    def update_tokens(
        self,
        step: int,
        token_losses: Tensor,
        reference_token_losses: Tensor,
        domain_ids: Tensor,
        mask: Tensor | None = None,
    ) -> dict[str, float]:
        """The release's update from per-token losses (see :func:`per_domain_clipped_excess` for shapes).

        Raises ``ValueError`` for non-finite losses. Moves ``K`` numbers to the host.
        """
        check_step(step)
        k = len(self.domains)
        check_token_inputs(token_losses, domain_ids, k, mask)
        check_token_inputs(reference_token_losses, domain_ids, k, None, "reference_token_losses")
        if token_losses.shape != reference_token_losses.shape:
            raise ValueError(
                f"token_losses {tuple(token_losses.shape)} and reference_token_losses "
                f"{tuple(reference_token_losses.shape)} must have the same shape"
            )
        scores, counts = per_domain_clipped_excess(
            token_losses, reference_token_losses, domain_ids, len(self.domains), mask
        )
        scores, counts = scores.cpu(), counts.cpu()
        if not bool(torch.isfinite(scores).all()):
            raise ValueError("token_losses and reference_token_losses must be finite")
        return self._step(scores, counts > 0)

    def update(
        self,
        step: int,
        losses_by_domain: Mapping[str, Any] | None = None,
        grads_by_domain: Mapping[str, Tensor] | None = None,
    ) -> dict[str, float]:
        """Update from per-domain mean losses: score ``max(L_i - R_i, 0)`` with the reference losses set by
        ``reference_losses``/:meth:`set_reference_losses` (clip after the mean: an approximation of the
        release's per-token rule, :meth:`update_tokens`). Absent domains keep their last score."""
        check_step(step)
        losses, seen = self._loss_vector(losses_by_domain)
        return self._step((losses - self._ref).clamp_min(0.0), seen)

    def loss_weights(self) -> Tensor:
        """float64 ``[K]`` per-domain loss factors ``(a / s) / sum(a / s)`` of the reweighted proxy loss
        (all ones in resample mode)."""
        if self.mode == "resample":
            return torch.ones(len(self.domains), dtype=torch.float64)
        c = self._p / self._sampling.clamp_min(1e-300)
        return c / c.sum()

    def reweighted_loss(self, token_losses: Tensor, domain_ids: Tensor, mask: Tensor | None = None) -> Tensor:
        """The proxy's training loss ``sum_t c_{d(t)} l_t / sum_t c_{d(t)}`` (differentiable in
        ``token_losses``; shapes as in :func:`per_domain_clipped_excess`)."""
        check_token_inputs(token_losses, domain_ids, len(self.domains), mask)
        c = self.loss_weights().to(device=token_losses.device, dtype=token_losses.dtype)
        ids = domain_ids.to(token_losses.device)
        if ids.dim() < token_losses.dim():
            ids = ids.reshape(*ids.shape, *([1] * (token_losses.dim() - ids.dim()))).expand_as(token_losses)
        w = c[ids]
        if mask is not None:
            w = w * mask.to(w.dtype)
        return (token_losses * w).sum() / w.sum().clamp_min(1e-10)

    def state_dict(self) -> dict[str, Any]:
        """Weights, scores, sampling mixture, reference losses and the running average (plain JSON)."""
        return {
            **self._base_state(),
            "scores": self._scores.tolist(),
            "sampling": self._sampling.tolist(),
            "ref": self._ref.tolist(),
            "avg": self._avg.tolist(),
            "counter": self._counter,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (validated; ``ValueError`` names a bad field)."""
        super().load_state_dict(state)
        k = len(self.domains)
        self._scores = state_vector(state, "scores", k)
        self._sampling = state_vector(state, "sampling", k, positive=True)
        self._ref = state_vector(state, "ref", k)
        self._avg = state_vector(state, "avg", k, positive=True)
        self._counter = state_int(state, "counter", minimum=1)
