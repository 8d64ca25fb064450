"""RankMixup's ranking losses (Noh et al., "RankMixup: Ranking-Based Mixup Training for Network
Calibration", ICCV 2023): MRL (:func:`mixup_ranking_loss`) and M-NDCG (:func:`mndcg_loss`), as released in
``cvlab-yonsei/RankMixup: calibrate/losses/rankmixup.py``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..batch import _reduce
from .loss_checks import float_logits

__all__ = ["mixup_ranking_loss", "mixup_relevance", "mndcg_loss", "softmax_confidence"]

_MRL_MASKS = ("batch", "row")


def softmax_confidence(logits: Tensor) -> Tensor:
    """Confidence ``max_k softmax(logits)_k`` per row: ``[B, K] -> [B]`` (float32 for half inputs)."""
    z = float_logits(logits)
    return torch.softmax(z, dim=-1).amax(dim=-1)


def mixup_relevance(lam: Tensor, same_class: Tensor) -> Tensor:
    """Relevance of a mixup in M-NDCG: the largest entry of its mixed one-hot label.

    ``lam`` (own-label weight) and ``same_class`` (``y == y[partner]``, bool) broadcast together; returns
    ``max(lam, 1 - lam)``, or 1 where both labels are the same class (the label stays one-hot).
    """
    if not isinstance(lam, Tensor) or not isinstance(same_class, Tensor):
        raise TypeError("lam and same_class must be torch.Tensors (weights in [0, 1] and a bool mask)")
    lam = lam.float() if not lam.dtype.is_floating_point else lam
    try:
        torch.broadcast_shapes(lam.shape, same_class.shape)
    except RuntimeError:
        raise ValueError(f"lam {tuple(lam.shape)} and same_class {tuple(same_class.shape)} must broadcast "
                         "together") from None
    return torch.where(same_class.to(lam.device), torch.ones_like(lam), torch.maximum(lam, 1 - lam))


def mixup_ranking_loss(logits_raw: Tensor, logits_mixed: Tensor, margin: float = 2.0,
                       valid: Tensor | None = None, *, score: str = "logit", mask: str = "batch",
                       reduction: str = "mean") -> Tensor:
    """MRL: a mixed sample must score below its raw sample by ``margin``.

    Per row ``max(0, s(mixed) - s(raw) + margin)`` with ``s`` the largest logit (``score="logit"``, the
    release) or the largest softmax probability (``score="confidence"``, the release's commented-out
    alternative). ``logits_raw``, ``logits_mixed``: ``[B, K]`` (same row order). ``valid``: ``[B]`` bool,
    False for mixups of two samples of the same class (no ranking between them); None = all valid.

    ``mask="batch"`` (release): every row's hinge is scaled by the fraction of valid rows in the batch (the
    release multiplies a ``[B]`` mask with the ``[B, 1]`` hinges and averages the ``[B, B]`` product).
    ``mask="row"`` (mixkit's own): invalid rows contribute 0. ``reduction``: ``"mean"`` over all ``B`` rows
    (as the release), ``"sum"`` or ``"none"`` (``[B]``).
    """
    float_logits(logits_raw, "logits_raw")
    float_logits(logits_mixed, "logits_mixed")
    if logits_raw.shape != logits_mixed.shape:
        raise ValueError(f"logits_raw {tuple(logits_raw.shape)} and logits_mixed {tuple(logits_mixed.shape)} "
                         "must have the same shape [B, K]")
    margin = float(margin)
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    if score == "logit":
        s_raw, s_mix = float_logits(logits_raw).amax(-1), float_logits(logits_mixed).amax(-1)
    elif score == "confidence":
        s_raw, s_mix = softmax_confidence(logits_raw), softmax_confidence(logits_mixed)
    else:
        raise ValueError(f"score must be 'logit' or 'confidence', got {score!r}")
    if mask not in _MRL_MASKS:
        raise ValueError(f"mask must be one of {_MRL_MASKS}, got {mask!r}")
    per_row = F.relu(s_mix - s_raw + margin)
    if valid is not None:
        if valid.shape != per_row.shape:
            raise ValueError(f"valid must have shape [B] = {tuple(per_row.shape)}, got {tuple(valid.shape)}")
        w = valid.to(per_row.device, per_row.dtype)
        per_row = per_row * (w.mean() if mask == "batch" else w)
    return _reduce(per_row, reduction)


def mndcg_loss(confidences: Tensor, relevance: Tensor, reduction: str = "mean") -> Tensor:
    """M-NDCG: ``1 - NDCG`` of the confidences of a sample and its mixups, ranked by their label values.

    ``confidences``: ``[B, M]`` (max softmax probability of the raw sample and of ``M - 1`` mixups);
    ``relevance``: ``[B, M]`` the largest entry of each version's label (1 for the raw sample,
    :func:`mixup_relevance` for a mixup). Positions ``r = 1..M`` follow decreasing relevance (stable: ties
    keep column order). ``DCG = Σ_r conf_(r) / log2(r + 1)``, ``IDCG = Σ_r rel_(r) / log2(r + 1)`` (the label
    values are the ideal confidences) and ``NDCG = min(DCG / IDCG, IDCG / DCG)``, the symmetric ratio of the
    release: both over- and under-confident outputs are penalised. 0 exactly when ``DCG == IDCG``, e.g. when
    every confidence equals its label value. Confidences must be positive (softmax maxima are).
    """
    for name, t in (("confidences", confidences), ("relevance", relevance)):
        if not isinstance(t, Tensor) or not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating torch.Tensor [B, M], got "
                            f"{t.dtype if isinstance(t, Tensor) else type(t).__name__}")
    if confidences.shape != relevance.shape or confidences.dim() != 2:
        raise ValueError(f"confidences {tuple(confidences.shape)} and relevance {tuple(relevance.shape)} "
                         "must both have shape [B, M]")
    c = confidences.float() if confidences.dtype in (torch.float16, torch.bfloat16) else confidences
    rel = relevance.to(c.device, c.dtype)
    m = c.shape[1]
    discount = 1.0 / torch.log2(torch.arange(2, m + 2, device=c.device, dtype=c.dtype))
    order = rel.argsort(dim=1, descending=True, stable=True)
    dcg = (c.gather(1, order) * discount).sum(1)
    idcg = (rel.gather(1, order) * discount).sum(1)
    tiny = torch.finfo(c.dtype).tiny
    ndcg = torch.where(idcg > dcg, dcg / idcg.clamp_min(tiny), idcg / dcg.clamp_min(tiny))
    return _reduce(1.0 - ndcg, reduction)
