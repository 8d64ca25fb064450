"""RankMixup's ranking losses (Noh et al., "RankMixup: Ranking-Based Mixup Training for Network
Calibration", ICCV 2023): MRL (:func:`mixup_ranking_loss`) and M-NDCG (:func:`mndcg_loss`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..batch import _reduce
from .loss_checks import float_logits

__all__ = ["mixup_ranking_loss", "mndcg_loss", "softmax_confidence"]


def softmax_confidence(logits: Tensor) -> Tensor:
    """Confidence ``max_k softmax(logits)_k`` per row: ``[B, K] -> [B]`` (float32 for half inputs)."""
    z = float_logits(logits)
    return torch.softmax(z, dim=-1).amax(dim=-1)


def mixup_ranking_loss(logits_raw: Tensor, logits_mixed: Tensor, margin: float = 0.0,
                       reduction: str = "mean") -> Tensor:
    """MRL: a mixed sample must be less confident than the raw one.

    ``max(0, conf(mixed) - conf(raw) + margin)`` per row, with ``conf`` the max softmax probability.
    ``logits_raw``, ``logits_mixed``: ``[B, K]`` for the raw samples and their mixups (same row order).
    Zero when every mixed confidence is already at least ``margin`` below its raw confidence.
    """
    if logits_raw.shape != logits_mixed.shape:
        raise ValueError(f"logits_raw {tuple(logits_raw.shape)} and logits_mixed {tuple(logits_mixed.shape)} "
                         "must have the same shape [B, K]")
    margin = float(margin)
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    per_row = F.relu(softmax_confidence(logits_mixed) - softmax_confidence(logits_raw) + margin)
    return _reduce(per_row, reduction)


def mndcg_loss(confidences: Tensor, lams: Tensor, reduction: str = "mean") -> Tensor:
    """M-NDCG: ``1 - NDCG`` of the confidences ranked by the mixing coefficients.

    ``confidences``: ``[B, M]`` confidence of M versions of each sample (typically the raw sample with
    ``lam = 1`` and M-1 mixups); ``lams``: ``[B, M]`` their mixing coefficients (own-label weights).
    ``DCG = Σ_r conf_(r) / log2(r + 1)`` with positions ``r = 1..M`` in decreasing ``lam`` order, ``IDCG`` the
    same with the confidences sorted decreasingly (the best achievable order), loss ``1 - DCG / IDCG``.
    It is 0 exactly when the confidences are ordered like the coefficients (ties aside) and positive
    otherwise; gradients flow through the confidences. Confidences must be positive (softmax maxima are).
    """
    if confidences.shape != lams.shape or confidences.dim() != 2:
        raise ValueError(f"confidences {tuple(confidences.shape)} and lams {tuple(lams.shape)} must both "
                         "have shape [B, M]")
    c = confidences.float() if confidences.dtype in (torch.float16, torch.bfloat16) else confidences
    m = c.shape[1]
    discount = 1.0 / torch.log2(torch.arange(2, m + 2, device=c.device, dtype=c.dtype))
    order = lams.to(c.device).argsort(dim=1, descending=True, stable=True)
    dcg = (c.gather(1, order) * discount).sum(1)
    idcg = (c.sort(dim=1, descending=True).values * discount).sum(1)
    per_row = 1.0 - dcg / idcg.clamp_min(torch.finfo(c.dtype).tiny)
    return _reduce(per_row, reduction)
