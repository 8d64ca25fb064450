"""GridMix: fill random cells of a grid from the partner."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_int_range
from ..functional.grid_cells import cell_index, cells_to_pixels
from ..pairing import blend_with_partner
from .mixer import Mixer, MixParams

__all__ = ["GridMix", "GridParams"]


@dataclass(repr=False)
class GridParams(MixParams):
    """GridMix's draw: ``take`` ([B, n, n] bool, CPU), which cells come from the partner."""

    take: Tensor | None = None


class GridMix(Mixer):
    """GridMix (Baek, Bang & Shim, Pattern Recognition 2021): split the image into an ``n x n`` grid and fill
    each cell from the partner with probability ``1 - lam`` (``lam ~ Beta(alpha, alpha)``).

    ``x``: ``[B, C, H, W]``; ``grid``: cells per side, an int or an inclusive ``(low, high)`` range drawn once
    per call. Cells follow ``floor(i * n / H)`` so every pixel belongs to one cell even when ``n`` does not
    divide ``H``. ``lam`` is the exact fraction of pixels kept from the row itself (computed from the cell
    choices and cell areas on the host, O(B n^2)), not the requested one. The cell choices (``[B, n, n]``
    bits) are drawn from the CPU generator and copied once; the paste is one ``lerp`` with 0/1 weights (an
    exact copy, and faster than ``where`` on CPU).

    No authors' release was found: ``Westlake-AI/openmixup: openmixup/models/augments/gridmix.py`` wraps
    ``IlyaDobrynin/GridMixup``, a different rule (a regular lattice of holes inside one crop, after
    GridMask), so this follows the paper's description; ``grid=(2, 6)`` and the Bernoulli cell rule are
    mixkit's reading of it, not a released recipe.

    Simplification: the paper adds a local-context loss (a per-cell classification head); that head belongs to
    the model, so mixkit implements only the mixing and the global label rule.
    """

    name = "gridmix"
    paper = ("GridMix: Strong regularization through local context mapping "
             "(Baek et al., Pattern Recognition 2021)")
    paper_url = "https://doi.org/10.1016/j.patcog.2020.107594"
    release = ""
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, grid: int | tuple[int, int] = (2, 6), *, mode: str = "batch",
                 prob: float = 1.0, pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        self.grid = check_int_range(grid, "grid")

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> GridParams:
        base = super().draw(shape, generator)
        lam = base.lam
        lo, hi = self.grid
        n = lo if lo == hi else int(torch.randint(lo, hi + 1, (1,), generator=generator))
        take = torch.rand(shape[0], n, n, generator=generator) < (1.0 - lam).view(-1, 1, 1)
        take &= (lam < 1.0).view(-1, 1, 1)  # inactive / self-paired rows stay untouched
        return GridParams(base.pairs, lam, take=take)

    def apply(self, x: Tensor, params: GridParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _, _, h, w = x.shape
        take, n = params.take, params.take.shape[1]
        rows = torch.bincount(cell_index(h, n), minlength=n).float()
        cols = torch.bincount(cell_index(w, n), minlength=n).float()
        area = rows.view(n, 1) * cols.view(1, n)
        lam_true = 1.0 - (take.float() * area).sum((1, 2)) / (h * w)
        take_dev = take.to(x.device, non_blocking=True).to(x.dtype)
        weight = cells_to_pixels(take_dev, h, w).unsqueeze(1)  # [B, 1, H, W], 0/1: lerp is an exact copy
        return blend_with_partner(x, params.pairs, weight, out), lam_true

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, grid={self.grid}"
