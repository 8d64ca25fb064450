"""Input checks shared by the losses: floating ``[B, K]`` logits and integer class ids ``[B]``."""

from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_class_ids, is_class_ids


def float_logits(logits: Tensor, what: str = "logits") -> Tensor:
    """``logits`` ``[B, K]`` (floating), upcast to float32 when half precision."""
    if not isinstance(logits, Tensor) or not logits.dtype.is_floating_point:
        raise TypeError(f"{what} must be a floating torch.Tensor")
    if logits.dim() != 2:
        raise ValueError(f"{what} must have shape [B, K], got {tuple(logits.shape)}")
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def class_ids(y: Tensor, n: int, k: int, what: str = "y") -> Tensor:
    """``y`` as int64 class ids ``[n]`` in ``[0, k)`` (value check asynchronous off the CPU)."""
    if not isinstance(y, Tensor) or not is_class_ids(y) or y.shape != (n,):
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"{what} must be integer class ids of shape [{n}], got {got}")
    check_class_ids(y, k, what)
    return y.long()
