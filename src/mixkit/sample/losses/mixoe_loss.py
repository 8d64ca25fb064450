"""MixOE's target and loss (Zhang et al., "Mixture Outlier Exposure: Towards Out-of-Distribution Detection
in Fine-grained Environments", WACV 2023)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..batch import _reduce
from ..checks import check_unit_weights
from .loss_checks import class_ids, float_logits

__all__ = ["mixoe_loss", "mixoe_targets"]


def _check_lam(lam: Tensor, n: int) -> None:
    check_unit_weights(lam, (n,), "lam")


def mixoe_targets(y: Tensor, lam: Tensor, num_classes: int) -> Tensor:
    """MixOE target ``lam * onehot(y) + (1 - lam) * uniform`` as ``[B, num_classes]`` float32.

    ``lam`` ``[B]`` is the in-distribution share of a sample mixed with an outlier: the target confidence
    decays linearly from the one-hot (``lam = 1``) to the uniform distribution (``lam = 0``).
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not isinstance(y, Tensor) or y.dim() != 1:
        raise ValueError("y must be integer class ids of shape [B]")
    y = class_ids(y, y.shape[0], num_classes)
    _check_lam(lam, y.shape[0])
    lam = lam.to(y.device, torch.float32).view(-1, 1)
    t = torch.full((y.shape[0], num_classes), 1.0 / num_classes, device=y.device) * (1 - lam)
    return t.scatter_add_(1, y.view(-1, 1), lam)


def mixoe_loss(logits: Tensor, y: Tensor, lam: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy against :func:`mixoe_targets` (not built): ``lam·NLL(y) + (1-lam)·mean_k(-log p_k)``.

    ``logits``: ``[B, K]`` of the ID/outlier mixtures; ``y``: class ids ``[B]`` of the ID part; ``lam``:
    ``[B]``. The MixOE objective is ``CE(logits_id, y_id) + beta * mixoe_loss(logits_mix, y, lam)``.
    """
    z = float_logits(logits)
    n, k = z.shape
    y = class_ids(y, n, k)
    _check_lam(lam, n)
    logp = F.log_softmax(z, dim=-1)
    lam = lam.to(logp.device, logp.dtype)
    nll = -logp.gather(1, y.view(-1, 1)).squeeze(1)
    uniform_ce = -logp.mean(dim=-1)
    return _reduce(torch.lerp(uniform_ce, nll, lam), reduction)
