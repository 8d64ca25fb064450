"""Decoupled Mixup (Liu et al., "Harnessing Hard Mixed Samples with Decoupled Regularizer", NeurIPS 2023)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..batch import MixedBatch, _reduce
from ..checks import is_class_ids
from .loss_checks import class_ids, float_logits

__all__ = ["decoupled_mixup_loss", "decoupled_regularizer"]


def decoupled_regularizer(logits: Tensor, y_a: Tensor, y_b: Tensor, reduction: str = "mean") -> Tensor:
    """Decoupled regularizer of Decoupled Mixup: ``-log φ(z)_a^{¬b} - log φ(z)_b^{¬a}`` per row.

    ``φ(z)_a^{¬b} = exp(z_a) / Σ_{k ≠ b} exp(z_k)`` is the softmax of class ``a`` with the other mixed class
    removed, so each mixed class is predicted without competing with its partner: a mixed sample in which
    both objects are visible is pushed to be confident about both (the paper's "hard mixed samples").
    Rows where ``y_a == y_b`` get 0 (the mixed cross-entropy already covers them).

    Simplified relative to the paper: the two-hot form (each mixed class weighted 1, no lambda weighting and
    no temperature). ``logits``: ``[B, K]`` floating (computed in float32 for half precision); ``y_a``,
    ``y_b``: class ids ``[B]``. Returns a scalar (``mean``/``sum``) or ``[B]`` (``none``).
    """
    z = float_logits(logits)
    n, k = z.shape
    a, b = class_ids(y_a, n, k, "y_a"), class_ids(y_b, n, k, "y_b")
    neg_inf = torch.finfo(z.dtype).min
    lse_without_b = torch.logsumexp(z.scatter(1, b.view(-1, 1), neg_inf), dim=1)
    lse_without_a = torch.logsumexp(z.scatter(1, a.view(-1, 1), neg_inf), dim=1)
    z_a = z.gather(1, a.view(-1, 1)).squeeze(1)
    z_b = z.gather(1, b.view(-1, 1)).squeeze(1)
    per_row = (lse_without_b - z_a) + (lse_without_a - z_b)
    per_row = torch.where(a == b, torch.zeros_like(per_row), per_row)
    return _reduce(per_row, reduction)


def decoupled_mixup_loss(logits: Tensor, mixed: MixedBatch, y: Tensor | None = None, eta: float = 0.1,
                         label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Decoupled Mixup loss: ``mixed.loss(logits, y) + eta * decoupled_regularizer(logits, y, y[index])``.

    Works with any mixer's :class:`MixedBatch` (it is a loss, so it makes static mixers such as MixUp and
    CutMix mine hard mixed samples at no extra forward pass). ``logits``: ``[B, K]``; ``y``: class ids
    ``[B]`` (default ``mixed.y``); ``eta >= 0``; ``label_smoothing`` smooths each label before mixing.
    """
    eta = float(eta)
    if not eta >= 0 or eta == float("inf"):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    y = mixed._labels(y)
    if not is_class_ids(y):
        raise ValueError("y: decoupled_mixup_loss needs integer class ids [B]")
    base = mixed.loss(logits, y, label_smoothing=label_smoothing, reduction="none")
    idx = mixed.index.to(y.device)
    reg = decoupled_regularizer(logits, y, y[idx], reduction="none")
    return _reduce(base + eta * reg, reduction)
