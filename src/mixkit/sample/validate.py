"""Input checks shared by every mixer and loss. Each error names the argument and what was expected."""

from __future__ import annotations

import torch
from torch import Tensor

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_inputs(x: Tensor, min_rank: int = 2, max_rank: int | None = None, what: str = "x") -> None:
    """``x`` must be a floating tensor ``[B, ...]``, ``min_rank <= x.dim() <= max_rank``, ``B >= 1``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what} must be a floating tensor (float16, bfloat16, float32, float64), "
                        f"got {x.dtype}")
    if x.dim() < min_rank or (max_rank is not None and x.dim() > max_rank):
        expect = f"rank {min_rank}" if max_rank == min_rank else (
            f"rank {min_rank}..{max_rank}" if max_rank is not None else f"rank >= {min_rank}")
        raise ValueError(f"{what} must have {expect} ([B, ...]), got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{what} must hold at least one row, got shape {tuple(x.shape)}")


def check_labels(y: Tensor | None, batch_size: int, what: str = "y") -> None:
    """``y``: ``None``, class ids ``[B]`` (integer), soft labels ``[B, K]`` or targets ``[B, ...]``."""
    if y is None:
        return
    if not isinstance(y, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor or None, got {type(y).__name__}")
    if y.dim() == 0 or y.shape[0] != batch_size:
        raise ValueError(
            f"{what} must have the batch size {batch_size} as its first dimension "
            f"(class ids [B], soft labels [B, K] or targets [B, ...]), got shape {tuple(y.shape)}"
        )
    if y.dtype == torch.bool:
        raise TypeError(f"{what} must be integer class ids or floating targets, got dtype bool")
    if not y.dtype.is_floating_point and y.dim() != 1:
        raise ValueError(f"{what}: integer class ids must have shape [B], got {tuple(y.shape)}")


def is_class_ids(y: Tensor) -> bool:
    return not y.dtype.is_floating_point and not y.dtype.is_complex and y.dtype != torch.bool


def check_soft_labels(y: Tensor, num_classes: int, what: str = "y", tol: float = 1e-3) -> None:
    """Soft labels must be ``[B, num_classes]``, non-negative, rows summing to 1 (within ``tol``).

    The value check runs on ``y``'s device; on CUDA it is an asynchronous assertion, so it adds no host
    synchronisation (a violation is reported at the next synchronising call).
    """
    if y.dim() != 2 or y.shape[1] != num_classes:
        raise ValueError(f"{what}: soft labels must have shape [B, {num_classes}], got {tuple(y.shape)}")
    yf = y.float()
    ok = (yf >= 0).all() & ((yf.sum(-1) - 1).abs() <= tol).all()
    msg = f"{what}: soft labels must be probability distributions (non-negative rows summing to 1)"
    if y.device.type == "cpu":
        if not bool(ok):
            raise ValueError(msg)
    else:
        torch._assert_async(ok, msg)


def check_class_ids(y: Tensor, num_classes: int, what: str = "y") -> None:
    """Class ids must lie in ``[0, num_classes)`` (asynchronous assertion off the CPU)."""
    ok = ((y >= 0) & (y < num_classes)).all()
    msg = f"{what}: class ids must lie in [0, {num_classes})"
    if y.device.type == "cpu":
        if y.numel() and not bool(ok):
            raise ValueError(msg)
    else:
        torch._assert_async(ok, msg)
