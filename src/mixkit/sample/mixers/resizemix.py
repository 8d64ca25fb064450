"""ResizeMix: shrink the whole partner to a patch and paste it into each row."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..functional.boxes import (
    Boxes,
    mix_shared_box,
    place_boxes,
    place_patches,
    region_fraction,
    shared_region,
)
from ..functional.resize_paste import (
    paste_resized_differentiable,
    paste_resized_patches,
    paste_resized_shared,
    resize_nearest,
)
from ..pairing import make_pairs
from .cutmix import copy_of, shared_rows
from .mixer import Mixer, MixParams

__all__ = ["ResizeMix", "ResizeParams"]


@dataclass(repr=False)
class ResizeParams(MixParams):
    """ResizeMix's draw: the patch scale ``tau`` per row ([B] float64, CPU; 0 for rows left alone) and the
    patch placement, one shared ``region`` (batch mode; ``None`` when the patch is empty) or per-row
    ``boxes``. ``lam`` is already the exact own share ``1 - patch area``."""

    tau: Tensor | None = None
    region: tuple[slice, ...] | None = None
    boxes: Boxes | None = None


class ResizeMix(Mixer):
    """ResizeMix (Qin et al. 2020): shrink the whole partner ``x_j`` to a patch and paste it into ``x_i``.

    Default ``placement="clip"``, as the reference implementation ``Westlake-AI/openmixup:
    openmixup/models/augments/resizemix.py`` (the authors released no code): ``tau ~ U(scale)`` with the
    paper's ``scale = (0.1, 0.8)``; on every spatial axis the cut is ``floor(tau * S_k)``, the box spans
    ``[c - cut // 2, c + cut // 2)`` around a uniformly drawn pixel ``c`` and is clipped at the border, and
    the whole partner is resized (nearest neighbour) to the clipped box and pasted there. ``out.lam = 1 -
    box area / image area`` exactly, the true kept share (rows left alone keep 1). ``placement="inside"``
    (mixkit's own) keeps the patch fully inside: side ``round(tau * S_k)``, uniform position.
    Unlike CutMix, nothing of the partner is cut away, so its object stays visible.
    ``x``: ``[B, C, *S]`` with 1-3 spatial axes.

    ``mode``: ``batch`` shares one ``tau`` and box (as the reference); ``pair`` shares ``tau`` within a pair
    (needs ``pairing="flip"``; with clipping the box too); ``elem`` draws both per row. There is no
    ``alpha`` (``tau`` is uniform).
    Remaining deviation: nearest-neighbour resize only (the reference's default; its ``bilinear`` option is
    not offered); 1-D and 3-D inputs are mixkit's extension.
    """

    name = "resizemix"
    paper = "ResizeMix: Mixing Data with Preserved Object Information and True Labels (Qin et al., 2020)"
    paper_url = "https://arxiv.org/abs/2012.11101"
    release = "Westlake-AI/openmixup: openmixup/models/augments/resizemix.py"
    min_rank = 3
    max_rank = 5

    def __init__(self, scale: tuple[float, float] = (0.1, 0.8), placement: str = "clip", *,
                 mode: str = "batch", prob: float = 1.0, pairing: str = "roll",
                 validate: bool = True) -> None:
        super().__init__(1.0, mode=mode, prob=prob, pairing=pairing, validate=validate)
        try:
            lo, hi = (float(v) for v in scale)
        except (TypeError, ValueError):
            raise ValueError(f"scale must be a pair (low, high), got {scale!r}") from None
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"scale must satisfy 0 <= low <= high <= 1, got {scale!r}")
        if placement not in ("clip", "inside"):
            raise ValueError(f"placement must be 'clip' or 'inside', got {placement!r}")
        self.scale = (lo, hi)
        self.placement = placement

    def _sides(self, tau: Tensor, size: tuple[int, ...]) -> Tensor:
        """``[B, d]`` int64 patch sides before placement for scales ``tau`` ``[B]`` (float64)."""
        full = tau[:, None] * torch.tensor(size, dtype=torch.float64)
        if self.placement == "clip":
            return (full.floor().long() // 2) * 2  # the span c +- cut // 2
        return torch.round(full).long()

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> ResizeParams:
        n, size = shape[0], tuple(shape[2:])
        pairs = make_pairs(n, self.pairing, generator)
        lo, hi = self.scale
        draws = lo + (hi - lo) * torch.rand(1 if self.mode == "batch" else n, generator=generator,
                                            dtype=torch.float64)
        if self.mode == "batch":
            tau = draws.expand(n).clone()
        elif self.mode == "pair":
            tau = draws[torch.minimum(torch.arange(n), pairs.index)]
        else:
            tau = draws
        tau = self.leave_untouched(tau, pairs, generator, 0.0)
        inside = self.placement == "inside"
        if self.mode == "batch":  # one patch size and place, in host ints
            active = tau > 0
            v = float(tau[active][0]) if bool(active.any()) else 0.0
            sides = tuple(min(int(s), sz) for s, sz in zip(self._sides(torch.tensor([v], dtype=torch.float64),
                                                                       size)[0].tolist(), size))
            if math.prod(sides) == 0:
                return ResizeParams(pairs, torch.ones(n), tau=tau)
            region = shared_region(sides, size, generator, inside=inside)
            lam = torch.where(active, 1.0 - region_fraction(region, size), 1.0)
            return ResizeParams(pairs, lam, tau=tau, region=region)
        sides = self._sides(tau, size)
        boxes = place_patches(sides, size, generator) if inside else place_boxes(sides, size, generator)
        if self.mode == "pair" and not inside:  # one clipped box per pair: both members keep the same share
            first = torch.minimum(torch.arange(n), pairs.index)
            boxes = Boxes(boxes.lo[first], boxes.hi[first], boxes.size)
        return ResizeParams(pairs, 1.0 - boxes.area(), tau=tau, boxes=boxes)

    def apply(self, x: Tensor, params: ResizeParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        pairs, lam = params.pairs, params.lam
        if torch.is_grad_enabled() and x.requires_grad:  # the out= kernels below refuse autograd
            mixed = self._apply_differentiable(x, params)
            return (mixed if out is None else out.copy_(mixed)), lam
        if params.boxes is None:
            region = params.region
            if region is None:
                return copy_of(x, out), lam
            rows = shared_rows(params.tau > 0)
            pasted = None if rows is not None else paste_resized_shared(x, pairs, region, out)
            if pasted is None:
                sides = tuple(sl.stop - sl.start for sl in region[2:])
                pasted = mix_shared_box(x, resize_nearest(x, sides), pairs, rows, region, out)
            return pasted, lam
        if not bool((params.boxes.area() > 0).any()):
            return copy_of(x, out), lam
        return paste_resized_patches(copy_of(x, out), x, pairs.index, params.boxes, shift=pairs.shift), lam

    def _apply_differentiable(self, x: Tensor, params: ResizeParams) -> Tensor:
        """The same paste as :meth:`apply` from differentiable ops only (features that require grad)."""
        if params.boxes is None:
            if params.region is None:
                return x.clone()
            region = params.region
            sides = tuple(sl.stop - sl.start for sl in region[2:])
            rows = shared_rows(params.tau > 0)
            return mix_shared_box(x, resize_nearest(x, sides), params.pairs, rows, region)
        return paste_resized_differentiable(x, params.pairs.index, params.boxes)

    def extra_repr(self) -> str:
        return (f"scale={self.scale}, placement={self.placement!r}, mode={self.mode!r}, prob={self.prob}, "
                f"pairing={self.pairing!r}")
