"""Cutout: erase a random square of each input (labels untouched)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..functional.boxes import Boxes, box_weight, place_boxes, region_fraction, shared_region
from ..lam import check_mode, sample_active
from ..pairing import Pairs
from .cutmix import copy_of
from .mixer import Mixer, MixParams

__all__ = ["Cutout", "CutoutParams"]


@dataclass(repr=False)
class CutoutParams(MixParams):
    """Cutout's draw: identity ``pairs``, ``lam = 1``, the ``erased`` fraction per row ([B] float32, CPU),
    and either one shared ``region`` with the erased ``rows`` (``None``: every row) or per-row ``boxes``."""

    erased: Tensor | None = None
    region: tuple[slice, ...] | None = None
    rows: Tensor | None = None
    boxes: Boxes | None = None


class Cutout(Mixer):
    """Cutout (DeVries & Taylor 2017): set a random square of each input to ``value`` (0 by default).

    Labels are untouched: ``out.lam`` is 1 and ``out.index`` the identity. The square has side ``length``
    pixels (or ``round(ratio * min(S))`` when ``length`` is ``None``; the paper used 16 px on 32 px
    CIFAR-10 images, i.e. ``ratio=0.5``), a uniform centre, and is clipped at the border, as in the
    paper. ``out.extras["erased"]`` ([B] float32) is the fraction of each row actually erased.
    ``x``: ``[B, C, *S]`` with 1-3 spatial axes.

    Args:
        length: side in pixels (>= 1), or ``None`` to use ``ratio``.
        ratio: side as a fraction of the shortest spatial side, in (0, 1].
        mode: ``"elem"`` (default, the paper: one square per image; ``"pair"`` means the same) or
            ``"batch"`` (one square for the whole batch, cheaper).
        prob: probability that a row is erased at all.
        value: fill value.
    """

    name = "cutout"
    paper = "Improved Regularization of Convolutional Neural Networks with Cutout (DeVries & Taylor, 2017)"
    paper_url = "https://arxiv.org/abs/1708.04552"
    release = "uoguelph-mlrg/Cutout: util/cutout.py"
    min_rank = 3
    max_rank = 5

    def __init__(self, length: int | None = None, *, ratio: float = 0.5, mode: str = "elem",
                 prob: float = 1.0, value: float = 0.0, validate: bool = True) -> None:
        mode = check_mode(mode)
        super().__init__(1.0, mode="elem" if mode == "pair" else mode, prob=prob, validate=validate)
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise ValueError(f"length must be an int >= 1 (pixels) or None, got {length!r}")
        if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
        self.length = length
        self.ratio = float(ratio)
        self.value = float(value)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> CutoutParams:
        n, size = shape[0], tuple(shape[2:])
        side = self.length if self.length is not None else max(1, round(self.ratio * min(size)))
        identity = Pairs(torch.arange(n))
        active = sample_active(self.prob, torch.arange(n), self.mode, generator)
        if self.mode == "batch":  # one square for the batch: host-int geometry
            region = shared_region((side,) * len(size), size, generator, inside=False)
            rows = None if active is None else torch.nonzero(active).flatten()
            frac = region_fraction(region, size)
            erased = torch.full((n,), frac) if active is None else active.float() * frac
            return CutoutParams(identity, torch.ones(n), erased=erased, region=region, rows=rows)
        sides = torch.full((n, len(size)), side, dtype=torch.long)
        if active is not None:
            sides = sides * active.view(-1, 1).long()
        boxes = place_boxes(sides, size, generator)
        return CutoutParams(identity, torch.ones(n), erased=boxes.area(), boxes=boxes)

    def apply(self, x: Tensor, params: CutoutParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if params.boxes is None:
            out = copy_of(x, out)
            if params.rows is None:
                out[params.region] = self.value
            elif params.rows.numel():
                out[(params.rows.to(x.device, non_blocking=True), *params.region[1:])] = self.value
        elif bool((params.erased > 0).any()):
            fill = torch.full((), self.value, dtype=x.dtype, device=x.device)
            dest = torch.empty_like(x) if out is None else out
            out = torch.lerp(x, fill, box_weight(params.boxes, x), out=dest)
        else:
            out = copy_of(x, out)
        return out, params.lam

    def extras(self, params: CutoutParams, x_mixed: Tensor) -> dict[str, Any]:
        return {"erased": params.erased.to(x_mixed.device, non_blocking=True)}

    def extra_repr(self) -> str:
        size = f"length={self.length}" if self.length is not None else f"ratio={self.ratio}"
        return f"{size}, mode={self.mode!r}, prob={self.prob}, value={self.value}"
