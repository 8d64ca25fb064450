"""Decoupled Mixup (Liu et al., "Harnessing Hard Mixed Samples with Decoupled Regularizer", NeurIPS 2023)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..batch import MixedBatch, _reduce
from ..checks import is_class_ids
from .loss_checks import class_ids, float_logits

__all__ = ["decoupled_mixup_loss", "decoupled_regularizer"]


def _decoupled_terms(z: Tensor, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """``(-log φ(z)_a^{¬b}, -log φ(z)_b^{¬a})`` per row, ``[B]`` each (float32 logits ``z`` ``[B, K]``)."""
    neg_inf = torch.finfo(z.dtype).min
    lse_without_b = torch.logsumexp(z.scatter(1, b.view(-1, 1), neg_inf), dim=1)
    lse_without_a = torch.logsumexp(z.scatter(1, a.view(-1, 1), neg_inf), dim=1)
    z_a = z.gather(1, a.view(-1, 1)).squeeze(1)
    z_b = z.gather(1, b.view(-1, 1)).squeeze(1)
    return lse_without_b - z_a, lse_without_a - z_b


def decoupled_regularizer(logits: Tensor, y_a: Tensor, y_b: Tensor, reduction: str = "mean") -> Tensor:
    """Decoupled regularizer of Decoupled Mixup: ``-log φ(z)_a^{¬b} - log φ(z)_b^{¬a}`` per row.

    ``φ(z)_a^{¬b} = exp(z_a) / Σ_{k ≠ b} exp(z_k)`` is the softmax of class ``a`` with the other mixed class
    removed, so each mixed class is predicted without competing with its partner: a mixed sample in which
    both objects are visible is pushed to be confident about both (the paper's "hard mixed samples").
    Rows where ``y_a == y_b`` get 0 (the mixed cross-entropy already covers them).

    This is the ``eta_mode="both"`` term of :func:`decoupled_mixup_loss` with ``eta = 1``.
    ``logits``: ``[B, K]`` floating (computed in float32 for half precision); ``y_a``,
    ``y_b``: class ids ``[B]``. Returns a scalar (``mean``/``sum``) or ``[B]`` (``none``).
    """
    z = float_logits(logits)
    n, k = z.shape
    a, b = class_ids(y_a, n, k, "y_a"), class_ids(y_b, n, k, "y_b")
    term_a, term_b = _decoupled_terms(z, a, b)
    per_row = term_a + term_b
    per_row = torch.where(a == b, torch.zeros_like(per_row), per_row)
    return _reduce(per_row, reduction)


ETA_MODES = ("less", "more", "both")


def decoupled_mixup_loss(logits: Tensor, mixed: MixedBatch, y: Tensor | None = None, eta: float = 0.1,
                         eta_mode: str = "less", eta_thr: float = 0.5, label_smoothing: float = 0.0,
                         reduction: str = "mean") -> Tensor:
    """Decoupled Mixup loss: the mixed cross-entropy plus ``eta`` times the decoupled term of one or both
    mixed classes.

    Per row ``i`` with classes ``a = y_i``, ``b = y[index_i]`` and weight ``lam_i`` of ``a``::

        loss_i = mixed CE_i + w_a * (-log φ(z)_a^{¬b}) + w_b * (-log φ(z)_b^{¬a})

    where ``φ(z)_a^{¬b}`` is the softmax of ``a`` with ``b`` removed (:func:`decoupled_regularizer`) and
    ``(w_a, w_b)`` follow ``eta_mode``: ``"less"`` (default) puts ``eta`` on ``a`` when ``lam_i < eta_thr``
    and on ``b`` otherwise (with ``eta_thr = 0.5``: on the class with the smaller share), ``"more"`` the
    opposite, ``"both"`` puts ``eta`` on both. Rows whose two classes coincide get the mixed CE only.

    Matches Westlake-AI/openmixup, ``openmixup/models/losses/cross_entropy_loss.py``
    (``soft_mix_cross_entropy``) with the ``eta_weight`` rule of ``openmixup/models/heads/cls_mixup_head.py``
    as configured in ``configs/classification/cifar100/mixups/decouple/`` (``eta_weight=dict(mode="less",
    thr=0.5)``, ``lam_scale_mode="pow"`` with ``lam_idx=0``, i.e. a constant ``eta``).
    Defaults from the release: ``eta_mode="less"``, ``eta_thr=0.5``; ``eta=0.1`` (the release's configs use
    0.01 to 1 per dataset).
    Deviations:
    - the side that gets ``eta`` is chosen per row from that row's ``lam`` (the release chooses it from the
      batch's one ``lam`` and orders the two terms by the class ids of the batch's first row).

    ``logits``: ``[B, K]``; ``y``: class ids ``[B]`` (default ``mixed.y``); ``eta >= 0``;
    ``label_smoothing`` smooths each label before mixing (not in the release).
    """
    if not isinstance(mixed, MixedBatch):
        raise TypeError(f"mixed must be the MixedBatch a mixer returned, got {type(mixed).__name__}")
    for name, value in (("eta", eta), ("eta_thr", eta_thr)):
        if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
    eta = float(eta)
    if not eta >= 0 or eta == float("inf"):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    if eta_mode not in ETA_MODES:
        raise ValueError(f"eta_mode must be one of {ETA_MODES}, got {eta_mode!r}")
    thr = float(eta_thr)
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"eta_thr must be in [0, 1], got {eta_thr!r}")
    y = mixed._labels(y)
    if not is_class_ids(y):
        raise ValueError("y: decoupled_mixup_loss needs integer class ids [B]")
    base = mixed.loss(logits, y, label_smoothing=label_smoothing, reduction="none")
    idx = mixed.index.to(y.device)
    y_b = y[idx]
    z = float_logits(logits)
    n, k = z.shape
    a, b = class_ids(y, n, k, "y"), class_ids(y_b, n, k, "y[index]")
    term_a, term_b = _decoupled_terms(z, a, b)
    lam = mixed.lam.to(z.device, torch.float32)
    if eta_mode == "both":
        w_a = torch.full_like(lam, eta)
        w_b = w_a
    else:
        below = lam < thr
        on_a = below if eta_mode == "less" else ~below
        w_a = on_a.to(lam.dtype) * eta
        w_b = (~on_a).to(lam.dtype) * eta
    reg = w_a * term_a + w_b * term_b
    reg = torch.where(a == b, torch.zeros_like(reg), reg)
    return _reduce(base + reg.to(base.dtype), reduction)
