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


def check_unit_weights(w: Tensor, shape: tuple[int, ...], what: str = "lam") -> None:
    """``w`` must be a floating tensor of ``shape`` with every entry in ``[0, 1]`` (NaN refused).

    The value check runs on ``w``'s device: on the CPU it raises ``ValueError``, elsewhere it is an
    asynchronous assertion (no host synchronisation).
    """
    if not isinstance(w, Tensor):
        raise TypeError(f"{what} must be a floating torch.Tensor of shape {list(shape)}, "
                        f"got {type(w).__name__}")
    if not w.dtype.is_floating_point:
        raise TypeError(f"{what} must be a floating tensor of weights in [0, 1], got {w.dtype}")
    if tuple(w.shape) != tuple(shape):
        raise ValueError(f"{what} must have shape {list(shape)}, got {tuple(w.shape)}")
    ok = ((w >= 0) & (w <= 1)).all()  # False for NaN
    msg = f"{what} must hold weights in [0, 1] (no NaN)"
    if w.device.type == "cpu":
        if w.numel() and not bool(ok):
            raise ValueError(msg)
    else:
        torch._assert_async(ok, msg)


def check_shape_args(batch: int, size: tuple[int, ...]) -> tuple[int, ...]:
    """``batch`` an int >= 0 and ``size`` a non-empty tuple of ints >= 1 (the spatial size); returns
    ``size`` as a tuple."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise ValueError(f"batch must be an int >= 0, got {batch!r}")
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or len(size) == 0 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size):
        raise ValueError(f"size must be a non-empty tuple of ints >= 1, got {size!r}")
    return tuple(size)


def check_nonnegative(value: float, name: str) -> float:
    """A finite number >= 0."""
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a finite number >= 0, got {value!r}")
    if not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_int_range(value: int | tuple[int, int], name: str, low: int = 1) -> tuple[int, int]:
    """An int or an inclusive ``(low, high)`` pair of ints with ``low <= high`` as a ``(low, high)`` pair."""
    lo, hi = (value, value) if isinstance(value, int) else tuple(value)
    if not (isinstance(lo, int) and isinstance(hi, int)) or lo < low or hi < lo:
        raise ValueError(f"{name} must be an int >= {low} or a (low, high) pair of ints with "
                         f"{low} <= low <= high, got {value!r}")
    return lo, hi


def check_out(out: Tensor, x: Tensor) -> None:
    """``out`` must be like ``x`` (shape, dtype, device), without self-overlap, and not overlap ``x``.

    Raises ``TypeError``/``ValueError`` naming ``out``. Overlap is checked on the byte ranges the two
    tensors span in memory (cheap, no data read), so a disjoint slice of the same buffer is accepted.
    """
    if not isinstance(out, Tensor):
        raise TypeError(f"out must be a torch.Tensor or None, got {type(out).__name__}")
    if out.shape != x.shape or out.dtype != x.dtype or out.device != x.device:
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(x.shape)}, {x.dtype}, "
                         f"{x.device}; got {tuple(out.shape)}, {out.dtype}, {out.device}")
    if any(st == 0 and sz > 1 for sz, st in zip(out.shape, out.stride())):
        raise ValueError("out must not be an expanded view (several elements share one memory location)")
    (o_lo, o_hi), (x_lo, x_hi) = _byte_span(out), _byte_span(x)
    if out.numel() and x.numel() and o_lo < x_hi and x_lo < o_hi:
        raise ValueError("out must not share memory with x (the mix reads x while writing out); "
                         "pass a separate buffer, e.g. torch.empty_like(x)")


def _byte_span(t: Tensor) -> tuple[int, int]:
    """Half-open range of addresses a (non-empty) tensor may touch."""
    low = sum(min(st, 0) * (sz - 1) for sz, st in zip(t.shape, t.stride()))
    start = t.data_ptr() + t.element_size() * low
    extent = sum(max(st, 0) * (sz - 1) for sz, st in zip(t.shape, t.stride()))
    return start, t.data_ptr() + t.element_size() * (extent + 1)
