"""Losses and label rules that go beyond the mixed cross-entropy of :meth:`MixedBatch.loss`.

* :func:`decoupled_mixup_loss` - Decoupled Mixup (Liu et al., NeurIPS 2023).
* :func:`mixup_ranking_loss` (MRL) and :func:`mndcg_loss` (M-NDCG) - RankMixup (Noh et al., ICCV 2023).
* :func:`mixoe_targets` / :func:`mixoe_loss` - MixOE (Zhang et al., WACV 2023).

Every loss works from class ids (no one-hot for many classes), computes in float32 for half-precision
logits, and takes ``reduction`` in ``{"mean", "sum", "none"}``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import MixedBatch, _reduce
from .validate import check_class_ids, is_class_ids

__all__ = ["decoupled_mixup_loss", "decoupled_regularizer", "mixoe_loss", "mixoe_targets",
           "mixup_ranking_loss", "mndcg_loss", "softmax_confidence"]


def _float_logits(logits: Tensor, what: str = "logits") -> Tensor:
    if not isinstance(logits, Tensor) or not logits.dtype.is_floating_point:
        raise TypeError(f"{what} must be a floating torch.Tensor")
    if logits.dim() != 2:
        raise ValueError(f"{what} must have shape [B, K], got {tuple(logits.shape)}")
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def _class_ids(y: Tensor, n: int, k: int, what: str = "y") -> Tensor:
    if not isinstance(y, Tensor) or not is_class_ids(y) or y.shape != (n,):
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"{what} must be integer class ids of shape [{n}], got {got}")
    check_class_ids(y, k, what)
    return y.long()


# ------------------------------------------------------------------------------------- Decoupled Mixup
def decoupled_regularizer(logits: Tensor, y_a: Tensor, y_b: Tensor, reduction: str = "mean") -> Tensor:
    """Decoupled regularizer of Decoupled Mixup: ``-log φ(z)_a^{¬b} - log φ(z)_b^{¬a}`` per row.

    ``φ(z)_a^{¬b} = exp(z_a) / Σ_{k ≠ b} exp(z_k)`` is the softmax of class ``a`` with the other mixed class
    removed, so each mixed class is predicted without competing with its partner: a mixed sample in which
    both objects are visible is pushed to be confident about both (the paper's "hard mixed samples").
    Rows where ``y_a == y_b`` get 0 (the mixed cross-entropy already covers them).

    Simplified relative to the paper: the two-hot form (each mixed class weighted 1, no lambda weighting and
    no temperature). ``logits``: ``[B, K]``; ``y_a``, ``y_b``: class ids ``[B]``.
    """
    z = _float_logits(logits)
    n, k = z.shape
    a, b = _class_ids(y_a, n, k, "y_a"), _class_ids(y_b, n, k, "y_b")
    neg_inf = torch.finfo(z.dtype).min
    lse_without_b = torch.logsumexp(z.scatter(1, b.view(-1, 1), neg_inf), dim=1)
    lse_without_a = torch.logsumexp(z.scatter(1, a.view(-1, 1), neg_inf), dim=1)
    z_a = z.gather(1, a.view(-1, 1)).squeeze(1)
    z_b = z.gather(1, b.view(-1, 1)).squeeze(1)
    per_row = (lse_without_b - z_a) + (lse_without_a - z_b)
    per_row = torch.where(a == b, torch.zeros_like(per_row), per_row)
    return _reduce(per_row, reduction)


def decoupled_mixup_loss(logits: Tensor, mixed: MixedBatch, y: Tensor | None = None, eta: float = 0.1,
                         smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Decoupled Mixup (Liu et al., "Harnessing Hard Mixed Samples with Decoupled Regularizer", NeurIPS 2023).

    ``mixed.loss(logits, y) + eta * decoupled_regularizer(logits, y, y[mixed.index])`` for any mixer's
    :class:`MixedBatch` (it is a loss, so it makes static mixers such as MixUp/CutMix mine hard mixed
    samples at no extra forward pass). ``logits``: ``[B, K]``; ``y``: class ids ``[B]`` (default
    ``mixed.y``); ``eta >= 0``.
    """
    eta = float(eta)
    if not eta >= 0 or eta == float("inf"):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    y = mixed._labels(y)
    if not is_class_ids(y):
        raise ValueError("y: decoupled_mixup_loss needs integer class ids [B]")
    base = mixed.loss(logits, y, smoothing=smoothing, reduction="none")
    idx = mixed.index.to(y.device)
    reg = decoupled_regularizer(logits, y, y[idx], reduction="none")
    return _reduce(base + eta * reg, reduction)


# ------------------------------------------------------------------------------------- RankMixup
def softmax_confidence(logits: Tensor) -> Tensor:
    """Confidence ``max_k softmax(logits)_k`` per row: ``[B, K] -> [B]`` (float32 for half inputs)."""
    z = _float_logits(logits)
    return torch.softmax(z, dim=-1).amax(dim=-1)


def mixup_ranking_loss(logits_raw: Tensor, logits_mixed: Tensor, margin: float = 0.0,
                       reduction: str = "mean") -> Tensor:
    """MRL of RankMixup (Noh et al., ICCV 2023): a mixed sample must be less confident than the raw one.

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
    """M-NDCG of RankMixup: ``1 - NDCG`` of the confidences ranked by the mixing coefficients.

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


# ------------------------------------------------------------------------------------- MixOE
def _check_lam(lam: Tensor, n: int) -> None:
    if not isinstance(lam, Tensor) or lam.shape != (n,):
        got = tuple(lam.shape) if isinstance(lam, Tensor) else type(lam).__name__
        raise ValueError(f"lam must be a [{n}] tensor of weights in [0, 1], got {got}")


def mixoe_targets(y: Tensor, lam: Tensor, num_classes: int) -> Tensor:
    """MixOE target ``lam * onehot(y) + (1 - lam) * uniform`` as ``[B, num_classes]`` float32.

    ``lam`` is the in-distribution share of a sample mixed with an outlier: the target confidence decays
    linearly from the one-hot (``lam = 1``) to the uniform distribution (``lam = 0``).
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not isinstance(y, Tensor) or y.dim() != 1:
        raise ValueError("y must be integer class ids of shape [B]")
    y = _class_ids(y, y.shape[0], num_classes)
    _check_lam(lam, y.shape[0])
    lam = lam.to(y.device, torch.float32).view(-1, 1)
    t = torch.full((y.shape[0], num_classes), 1.0 / num_classes, device=y.device) * (1 - lam)
    return t.scatter_add_(1, y.view(-1, 1), lam)


def mixoe_loss(logits: Tensor, y: Tensor, lam: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy against :func:`mixoe_targets` (not built): ``lam·NLL(y) + (1-lam)·mean_k(-log p_k)``.

    ``logits``: ``[B, K]`` of the ID/outlier mixtures; ``y``: class ids ``[B]`` of the ID part;
    ``lam``: ``[B]``.
    The MixOE objective is ``CE(logits_id, y_id) + beta * mixoe_loss(logits_mix, y, lam)``.
    """
    z = _float_logits(logits)
    n, k = z.shape
    y = _class_ids(y, n, k)
    _check_lam(lam, n)
    logp = F.log_softmax(z, dim=-1)
    lam = lam.to(logp.device, logp.dtype)
    nll = -logp.gather(1, y.view(-1, 1)).squeeze(1)
    uniform_ce = -logp.mean(dim=-1)
    return _reduce(torch.lerp(uniform_ce, nll, lam), reduction)
