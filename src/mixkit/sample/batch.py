"""``MixedBatch``: the one result type of every mixer, with its label rule and losses."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_class_ids, check_labels, check_soft_labels, check_unit_weights, is_class_ids


@dataclass
class MixedBatch:
    """A mixed batch and the rule that mixes its labels.

    Attributes:
        x: mixed inputs, same shape, dtype, device and memory format as the mixer's input ``[B, ...]``.
        index: ``[B]`` int64 on ``x.device``; ``index[i]`` is the partner of row ``i``. A permutation for the
            default pairings; label-aware pairings (C-Mixup, RegMix-kNN, AdpMix) draw partners with
            replacement, so it need not be one. Every label rule here only gathers ``y[index]``.
        lam: ``[B]`` float32 on ``x.device``; the weight of each row's own label. For mixers that copy
            pixels it equals the exact fraction of the row that still comes from the row itself (box
            clipped at the border, resized patch, binary mask): ``1 - lam`` comes from the partner.
        y: the labels passed to the mixer (class ids ``[B]``, soft labels ``[B, K]``, regression targets
            ``[B, ...]``) or ``None``. Used when ``loss``/``soft_targets``/``mix_targets`` get no labels.
        extras: method-specific data (per-token label weights, masks, attention regions ...).
    """

    x: Tensor
    index: Tensor
    lam: Tensor
    y: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ helpers
    def _labels(self, y: Tensor | None) -> Tensor:
        y = self.y if y is None else y
        if y is None:
            raise ValueError("y: no labels given to the mixer or to this call")
        check_labels(y, self.index.shape[0])
        return y

    def _lam_like(self, ref: Tensor) -> Tensor:
        lam = self.lam.to(device=ref.device, dtype=torch.float32 if ref.dtype != torch.float64 else ref.dtype)
        return lam.view(-1, *([1] * (ref.dim() - 1)))

    def with_lam(self, lam: Tensor) -> MixedBatch:
        """A copy whose label weights are ``lam`` ([B] floating, every entry in ``[0, 1]``); used by
        attention-aware label rules (TransMix). Raises ``TypeError``/``ValueError`` naming ``lam`` otherwise
        (the range check is asynchronous off the CPU)."""
        check_unit_weights(lam, tuple(self.lam.shape), "lam")
        return replace(self, lam=lam.to(self.lam.dtype))

    # ------------------------------------------------------------------ label rules
    def mix_targets(self, y: Tensor | None = None) -> Tensor:
        """``lam * y + (1 - lam) * y[index]`` for soft labels or regression targets ``[B, ...]``."""
        y = self._labels(y)
        if is_class_ids(y):
            raise ValueError("y: mix_targets needs floating targets; "
                             "use soft_targets(num_classes) for class ids")
        lam = self._lam_like(y).to(y.dtype)
        return torch.lerp(y[self.index.to(y.device)], y, lam)

    def soft_targets(self, num_classes: int, label_smoothing: float = 0.0, y: Tensor | None = None) -> Tensor:
        """Mixed target distribution ``[B, num_classes]`` (float32): each label is smoothed, then mixed.

        Rows sum to 1. Prefer :meth:`loss`, which never builds this tensor.
        """
        _check_label_smoothing(label_smoothing)
        _check_num_classes(num_classes)
        y = self._labels(y)
        idx = self.index.to(y.device)
        if is_class_ids(y):
            check_class_ids(y, num_classes)
            lam = self.lam.to(y.device, torch.float32)
            t = torch.zeros(y.shape[0], num_classes, device=y.device, dtype=torch.float32)
            t.scatter_add_(1, y.view(-1, 1).long(), lam.view(-1, 1))
            t.scatter_add_(1, y[idx].view(-1, 1).long(), (1 - lam).view(-1, 1))
        else:
            check_soft_labels(y, num_classes)
            t = torch.lerp(y[idx].float(), y.float(), self._lam_like(y))
        if label_smoothing:
            t = t * (1 - label_smoothing) + label_smoothing / num_classes
        return t

    def loss(self, logits: Tensor, y: Tensor | None = None, label_smoothing: float = 0.0,
             reduction: str = "mean") -> Tensor:
        """Mixed cross-entropy ``lam * CE(logits, y) + (1 - lam) * CE(logits, y[index])``.

        ``logits``: ``[B, K]``; ``y``: class ids ``[B]`` (no one-hot is built: one ``log_softmax`` and two
        gathers) or soft labels ``[B, K]`` (mixed as distributions). ``label_smoothing`` smooths each label
        before mixing. Computed in float32 for half-precision logits. ``reduction``: ``mean``, ``sum`` or
        ``none``.
        """
        _check_label_smoothing(label_smoothing)
        _check_logits(logits, self.index.shape[0])
        y = self._labels(y)
        num_classes = logits.shape[1]
        low = logits.dtype in (torch.float16, torch.bfloat16)
        logp = F.log_softmax(logits.float() if low else logits, -1)
        lam = self.lam.to(logp.device, logp.dtype)
        idx = self.index.to(logp.device)
        if is_class_ids(y):
            check_class_ids(y, num_classes)
            y = y.long()
            nll_own = -logp.gather(1, y.view(-1, 1)).squeeze(1)
            nll_other = -logp.gather(1, y[idx].view(-1, 1)).squeeze(1)
            per_row = torch.lerp(nll_other, nll_own, lam)
            if label_smoothing:
                per_row = (1 - label_smoothing) * per_row - label_smoothing * logp.mean(-1)
        else:
            check_soft_labels(y, num_classes)
            target = torch.lerp(y[idx].to(logp.dtype), y.to(logp.dtype), lam.view(-1, 1))
            if label_smoothing:
                target = target * (1 - label_smoothing) + label_smoothing / num_classes
            per_row = -(target * logp).sum(-1)
        return _reduce(per_row, reduction)

    # ------------------------------------------------------------------ devices
    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> MixedBatch:
        """A copy with every tensor (``x``, ``index``, ``lam``, ``y`` and those in ``extras``, nested in
        dicts, lists and tuples) on ``device``. ``non_blocking=True`` overlaps the copy from pinned memory."""
        def move(v: Any) -> Any:
            return _map_tensors(v, lambda t: t.to(device, non_blocking=non_blocking))
        return MixedBatch(x=move(self.x), index=move(self.index), lam=move(self.lam), y=move(self.y),
                          extras=move(self.extras))

    def pin_memory(self) -> MixedBatch:
        """A copy with every tensor in page-locked memory; a DataLoader with ``pin_memory=True`` calls it on
        batches its ``collate_fn`` returns as :class:`MixedBatch`."""
        def pin(v: Any) -> Any:
            return _map_tensors(v, lambda t: t.pin_memory() if t.device.type == "cpu" else t)
        return MixedBatch(x=pin(self.x), index=pin(self.index), lam=pin(self.lam), y=pin(self.y),
                          extras=pin(self.extras))


def _map_tensors(value: Any, fn: Any) -> Any:
    """``value`` with ``fn`` applied to every tensor inside it (dicts, lists and tuples are rebuilt)."""
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_tensors(v, fn) for v in value]
    if isinstance(value, tuple):
        items = (_map_tensors(v, fn) for v in value)
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


def _check_label_smoothing(label_smoothing: float) -> None:
    if isinstance(label_smoothing, (bool, str, bytes)) or not isinstance(label_smoothing, (int, float)):
        raise TypeError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
    if not 0.0 <= float(label_smoothing) < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int >= 1, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")


def _check_logits(logits: Tensor, batch_size: int) -> None:
    """``logits`` must be a floating ``[B, K]`` tensor with ``K >= 1``."""
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a torch.Tensor [B, K], got {type(logits).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"logits must be a floating tensor (the model's raw scores), got {logits.dtype}")
    if logits.dim() != 2 or logits.shape[0] != batch_size or logits.shape[1] < 1:
        raise ValueError(
            f"logits must have shape [B, K] with B = {batch_size} and K >= 1, got {tuple(logits.shape)}")


def _reduce(per_row: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_row.mean()
    if reduction == "sum":
        return per_row.sum()
    if reduction == "none":
        return per_row
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
