"""Colorful Cutout: Cutout whose square is filled with random colours, in more cells every epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..functional.boxes import Boxes, box_weight
from ..lam import check_prob, sample_active
from ..pairing import Pairs
from .mixer import Mixer, MixParams

__all__ = ["ColorfulCutout", "ColorfulCutoutParams", "colorful_cells"]


@dataclass(repr=False)
class ColorfulCutoutParams(MixParams):
    """Colorful Cutout's draw: identity ``pairs``, ``lam = 1``, the clipped ``boxes``, the unclipped
    top-left ``origin`` ([B, 2] int64) and ``side`` (the span ``2 * (L // 2)``) of the squares, the cell
    ``grid`` (rows, columns) and the ``colors`` ([B, rows, columns, C] float32, CPU) of the cells."""

    boxes: Boxes | None = None
    origin: Tensor | None = None
    side: int = 0
    grid: tuple[int, int] = (1, 1)
    colors: Tensor | None = None


def colorful_cells(level: int, side: int) -> tuple[int, int]:
    """The ``(rows, columns)`` grid of ``2 ** level`` cells of a square of ``side`` pixels: the columns
    double on odd levels and the rows on even ones (1 x 1, 1 x 2, 2 x 2, 2 x 4, ...), and neither
    exceeds ``side`` (cells stay at least one pixel wide)."""
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ValueError(f"level must be an int >= 0, got {level!r}")
    rows, cols = 2 ** (level // 2), 2 ** ((level + 1) // 2)
    return min(rows, max(side, 1)), min(cols, max(side, 1))


class ColorfulCutout(Mixer):
    """Colorful Cutout (Choi & Kim, ICLR 2024 Tiny Papers): Cutout's square filled with random colours,
    split into ``2 ** N_epoch`` cells of independent colours, ``N_epoch`` the 0-based epoch, so the patch
    grows noisier as training goes on (a curriculum from easy to hard augmentations).

    ``x``: floating ``[B, C, H, W]``. Labels are untouched (``out.lam`` is 1, ``out.index`` the identity);
    ``out.extras["erased"]`` is the fraction of each image covered. Call :meth:`set_epoch` at the start
    of every epoch; ``state_dict`` holds the epoch.

    The square is Cutout's (``uoguelph-mlrg/Cutout``): side ``L`` (``length``, or ``round(ratio * min(H,
    W))``), uniform centre pixel, ``[c - L // 2, c + L // 2)``, clipped at the border; the cells tile the
    unclipped square (:func:`colorful_cells`: columns and rows double in turn), each filled with a colour
    drawn uniformly in ``[low, high]`` per channel.

    Paper: https://arxiv.org/abs/2403.20012 (sub-region count ``2 ** N_epoch`` with ``N_epoch = 0`` at the
    start). Release: the authors' repository (README "Colorful Cutout: Enhancing Image Data Augmentation
    with Curriculum Learning"); its augmentation code could not be read here.

    Deviations (mixkit's choices where the paper does not say):
        * the split alternates between columns and rows and stops at one-pixel cells;
        * square size from Cutout's release default (half the shortest side); colours uniform in
          ``[low, high]`` (``[0, 1]`` for images in ``[0, 1]``; pass the normalised range otherwise);
        * ``curriculum=False`` keeps one colour per square (the paper's ablation without curriculum).

    Args:
        length: side in pixels (>= 1), or ``None`` to use ``ratio``.
        ratio: side as a fraction of the shortest side, in (0, 1].
        prob: probability that an image gets a square.
        low, high: range of the random colours.
        curriculum: split the square into ``2 ** epoch`` cells (True) or keep one cell.
        max_level: optional cap on the level (``epoch``).
    """

    name = "colorful_cutout"
    aliases = ("colorfulcutout",)
    paper = ("Colorful Cutout: Enhancing Image Data Augmentation with Curriculum Learning (Choi & Kim, "
             "ICLR 2024 Tiny Papers)")
    paper_url = "https://arxiv.org/abs/2403.20012"
    release = ""
    min_rank = 4
    max_rank = 4

    def __init__(self, length: int | None = None, *, ratio: float = 0.5, prob: float = 1.0, low: float = 0.0,
                 high: float = 1.0, curriculum: bool = True, max_level: int | None = None,
                 validate: bool = True) -> None:
        super().__init__(1.0, mode="elem", prob=check_prob(prob), validate=validate)
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise ValueError(f"length must be an int >= 1 (pixels) or None, got {length!r}")
        if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
        if not float(low) <= float(high):
            raise ValueError(f"low must be <= high, got low={low!r}, high={high!r}")
        if max_level is not None and (isinstance(max_level, bool) or not isinstance(max_level, int)
                                      or max_level < 0):
            raise ValueError(f"max_level must be an int >= 0 or None, got {max_level!r}")
        self.length = length
        self.ratio = float(ratio)
        self.low, self.high = float(low), float(high)
        self.curriculum = bool(curriculum)
        self.max_level = max_level
        self.epoch = 0

    # ----------------------------------------------------------------- curriculum
    def set_epoch(self, epoch: int) -> None:
        """Tell the mixer which epoch starts (0-based): the squares get ``2 ** epoch`` cells."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        self.epoch = epoch

    @property
    def level(self) -> int:
        """``N_epoch``: the current epoch (0 without the curriculum), capped at ``max_level``."""
        level = self.epoch if self.curriculum else 0
        return level if self.max_level is None else min(level, self.max_level)

    def get_extra_state(self) -> dict[str, int]:
        return {"epoch": self.epoch}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.set_epoch(int(state["epoch"]))

    # ----------------------------------------------------------------- the call
    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> ColorfulCutoutParams:
        n, c, h, w = shape
        side = self.length if self.length is not None else max(1, round(self.ratio * min(h, w)))
        size = torch.tensor([h, w])
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        centre = torch.minimum((u * size).long(), size - 1)
        origin = centre - side // 2
        active = sample_active(self.prob, torch.arange(n), self.mode, generator)
        span = 2 * (side // 2)                                    # Cutout's [c - L // 2, c + L // 2)
        lo = origin.clamp(0, None).minimum(size)
        hi = (origin + span).clamp(0, None).minimum(size)
        if active is not None:
            hi = torch.where(active[:, None], hi, lo)
        grid = colorful_cells(self.level, span)
        colors = self.low + (self.high - self.low) * torch.rand(n, *grid, c, generator=generator)
        return ColorfulCutoutParams(Pairs(torch.arange(n)), torch.ones(n), boxes=Boxes(lo, hi, (h, w)),
                                    origin=origin, side=max(span, 1), grid=grid, colors=colors)

    def apply(self, x: Tensor, params: ColorfulCutoutParams, out: Tensor | None = None
              ) -> tuple[Tensor, Tensor]:
        n, c, h, w = x.shape
        dev = x.device
        rows, cols = params.grid
        origin = params.origin.to(dev, non_blocking=True)
        # the cell of every pixel row / column of every image, clamped to the grid (outside: masked off)
        iy = ((torch.arange(h, device=dev) - origin[:, :1]) * rows).div(params.side, rounding_mode="floor")
        ix = ((torch.arange(w, device=dev) - origin[:, 1:]) * cols).div(params.side, rounding_mode="floor")
        iy, ix = iy.clamp(0, rows - 1), ix.clamp(0, cols - 1)              # [B, H], [B, W]
        colors = params.colors.to(dev, x.dtype, non_blocking=True)          # [B, rows, cols, C]
        b = torch.arange(n, device=dev)[:, None, None]
        fill = colors[b, iy[:, :, None], ix[:, None, :]].permute(0, 3, 1, 2)  # [B, C, H, W]
        mask = box_weight(params.boxes, x).bool()
        dest = torch.empty_like(x) if out is None else out
        torch.where(mask, fill, x, out=dest)
        return dest, params.lam

    def extras(self, params: ColorfulCutoutParams, x_mixed: Tensor) -> dict[str, Any]:
        return {"erased": params.boxes.area().to(x_mixed.device, non_blocking=True)}

    def extra_repr(self) -> str:
        size = f"length={self.length}" if self.length is not None else f"ratio={self.ratio}"
        return (f"{size}, prob={self.prob}, low={self.low}, high={self.high}, curriculum={self.curriculum}, "
                f"epoch={self.epoch}")
