"""Per-cell values of a coarse grid upsampled to pixels (GridMix, SaliencyMix's cell maps)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cell_index", "cells_to_pixels"]


def cell_index(size: int, cells: int, device: torch.device | None = None) -> Tensor:
    """``[size]`` int64: which of ``cells`` equal-as-possible cells each of ``size`` pixels falls in."""
    for name, value in (("size", size), ("cells", cells)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return (torch.arange(size, device=device) * cells) // size


def cells_to_pixels(cells: Tensor, height: int, width: int) -> Tensor:
    """Upsample per-cell values ``[B, n, m]`` to pixels ``[B, height, width]``: pixel ``(r, c)`` takes cell
    ``(floor(r n / height), floor(c m / width))``. Two ``index_select`` calls (no interpolation kernel)."""
    _, n, m = cells.shape
    rows = cells.index_select(1, cell_index(height, n, cells.device))
    return rows.index_select(2, cell_index(width, m, cells.device))
