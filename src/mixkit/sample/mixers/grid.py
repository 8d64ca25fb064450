"""Structured-mask mixers: GridMix (a random grid of cells) and SmoothMix (a soft-edged region)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..pairing import Pairs, blend_with_partner
from ..registry import register
from .base import Mixer


def _parse_range(value: int | tuple[int, int], name: str, low: int = 1) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, int) else tuple(value)
    if not (isinstance(lo, int) and isinstance(hi, int)) or lo < low or hi < lo:
        raise ValueError(f"{name} must be an int >= {low} or a (low, high) pair of ints with "
                         f"{low} <= low <= high, "
                         f"got {value!r}")
    return lo, hi


def cell_index(size: int, cells: int, device: torch.device | None = None) -> Tensor:
    """``[size]`` int64: which of ``cells`` equal-as-possible cells each of ``size`` pixels falls in."""
    return (torch.arange(size, device=device) * cells) // size


def cells_to_pixels(cells: Tensor, height: int, width: int) -> Tensor:
    """Upsample per-cell values ``[B, n, m]`` to pixels ``[B, height, width]``: pixel ``(r, c)`` takes cell
    ``(floor(r n / height), floor(c m / width))``. Two ``index_select`` calls (no interpolation kernel)."""
    _, n, m = cells.shape
    rows = cells.index_select(1, cell_index(height, n, cells.device))
    return rows.index_select(2, cell_index(width, m, cells.device))


@register("gridmix")
class GridMix(Mixer):
    """GridMix (Baek, Bang & Shim, Pattern Recognition 2021): split the image into an ``n x n`` grid and fill
    each cell from the partner with probability ``1 - lam`` (``lam ~ Beta(alpha, alpha)``).

    ``x``: ``[B, C, H, W]``; ``grid``: cells per side, an int or an inclusive ``(low, high)`` range drawn once
    per call. Cells follow ``floor(i * n / H)`` so every pixel belongs to one cell even when ``n`` does not
    divide ``H``. ``lam`` is the exact fraction of pixels kept from the row itself (computed from the cell
    choices and cell areas on the host, O(B n^2)), not the requested one. The cell choices (``[B, n, n]``
    bits) are drawn from the CPU generator and copied once; the paste is one ``lerp`` with 0/1 weights (an
    exact copy, and faster than ``where`` on CPU).

    Simplification: the paper adds a local-context loss (a per-cell classification head); that head belongs to
    the model, so mixkit implements only the mixing and the global label rule.
    """

    name = "gridmix"
    paper = ("GridMix: Strong regularization through local context mapping "
             "(Baek et al., Pattern Recognition 2021)")
    paper_url = "https://doi.org/10.1016/j.patcog.2020.107594"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, grid: int | tuple[int, int] = (2, 6), **kwargs) -> None:
        super().__init__(alpha, **kwargs)
        self.grid = _parse_range(grid, "grid")

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None
            ) -> tuple[Tensor, Tensor]:
        b, _, h, w = x.shape
        lo, hi = self.grid
        n = lo if lo == hi else int(torch.randint(lo, hi + 1, (1,), generator=generator))
        take = torch.rand(b, n, n, generator=generator) < (1.0 - lam).view(-1, 1, 1)
        take &= (lam < 1.0).view(-1, 1, 1)  # inactive / self-paired rows stay untouched
        rows = torch.bincount(cell_index(h, n), minlength=n).float()
        cols = torch.bincount(cell_index(w, n), minlength=n).float()
        area = rows.view(n, 1) * cols.view(1, n)
        lam_true = 1.0 - (take.float() * area).sum((1, 2)) / (h * w)
        take_dev = take.to(x.device, non_blocking=True).to(x.dtype)
        weight = cells_to_pixels(take_dev, h, w).unsqueeze(1)  # [B, 1, H, W], 0/1: lerp is an exact copy
        return blend_with_partner(x, pairs, weight), lam_true


@register("smoothmix")
class SmoothMix(Mixer):
    """SmoothMix (Lee et al., CVPR Workshops 2020): paste the partner through a soft-edged mask ``m`` in
    [0, 1],
    ``x = (1 - m) * x_i + m * x_j``, so no sharp edge is created.

    ``shape="square"``: a box whose area is ``1 - lam`` of the image, with edges that ramp linearly from 1 to
    0
    over ``smooth`` times the box side on each side (a separable trapezoid). ``shape="circle"``: the paper's
    Gaussian mask ``exp(-d^2 / (2 sigma^2))`` with ``2 pi sigma^2 = (1 - lam) H W`` (unclipped mass ``1 -
    lam``).
    The centre is uniform over the image; the mask is clipped at the border. ``lam`` is the exact mean of
    ``1 - m`` as applied (computed on the device from the separable profiles, no host sync).
    ``x``: ``[B, C, H, W]``, any floating dtype; the mask is built in float32 and applied in ``x``'s dtype.
    """

    name = "smoothmix"
    paper = ("SmoothMix: a Simple Yet Effective Data Augmentation to Train Robust Classifiers "
             "(Lee et al., CVPRW 2020)")
    paper_url = "https://paperswithcode.com/paper/smoothmix-a-simple-yet-effective-data"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, shape: str = "square", smooth: float = 0.25, **kwargs) -> None:
        super().__init__(alpha, **kwargs)
        if shape not in ("square", "circle"):
            raise ValueError(f"shape must be 'square' or 'circle', got {shape!r}")
        if not 0.0 < float(smooth) <= 1.0:
            raise ValueError(f"smooth must be in (0, 1] (ramp width as a fraction of the box side), "
                             f"got {smooth!r}")
        self.shape = shape
        self.smooth = float(smooth)

    def profiles(self, lam: Tensor, height: int, width: int, generator: torch.Generator | None,
                 device: torch.device) -> tuple[Tensor, Tensor]:
        """Row and column profiles ``[B, H]``, ``[B, W]`` (float32): the mask is their outer product."""
        b = lam.numel()
        cy = torch.rand(b, generator=generator) * height
        cx = torch.rand(b, generator=generator) * width
        part = (1.0 - lam).clamp(0.0, 1.0)
        params = torch.stack([cy, cx, part], 1).to(device, non_blocking=True)
        cy, cx, part = params.unbind(1)
        ys = torch.arange(height, device=device, dtype=torch.float32) + 0.5
        xs = torch.arange(width, device=device, dtype=torch.float32) + 0.5
        dy, dx = (ys - cy.view(-1, 1)).abs(), (xs - cx.view(-1, 1)).abs()
        if self.shape == "circle":
            sigma = (part * height * width / (2 * math.pi)).sqrt().clamp_min(1e-6).view(-1, 1)
            py, px = torch.exp(-0.5 * (dy / sigma) ** 2), torch.exp(-0.5 * (dx / sigma) ** 2)
        else:
            side = part.sqrt().view(-1, 1)
            half_h, half_w = side * height / 2, side * width / 2
            ramp_h = (self.smooth * 2 * half_h).clamp_min(1e-6)
            ramp_w = (self.smooth * 2 * half_w).clamp_min(1e-6)
            # trapezoid: 1 inside the box shrunk by half a ramp, 0 beyond it grown by half a ramp;
            # its integral equals the box side, so the unclipped mask area is 1 - lam.
            py = ((half_h + ramp_h / 2 - dy) / ramp_h).clamp(0.0, 1.0)
            px = ((half_w + ramp_w / 2 - dx) / ramp_w).clamp(0.0, 1.0)
        off = (part <= 0).view(-1, 1)
        return py.masked_fill(off, 0.0), px.masked_fill(off, 0.0)

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None
            ) -> tuple[Tensor, Tensor]:
        _, _, h, w = x.shape
        py, px = self.profiles(lam, h, w, generator, x.device)
        mask = (py.unsqueeze(2) * px.unsqueeze(1)).to(x.dtype).unsqueeze(1)  # [B, 1, H, W]
        lam_true = 1.0 - mask.float().mean((1, 2, 3))
        return blend_with_partner(x, pairs, mask), lam_true

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, shape={self.shape!r}, smooth={self.smooth}"
