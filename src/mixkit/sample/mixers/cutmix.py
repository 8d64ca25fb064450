"""CutMix: paste a box of the partner into each row.

Inputs are ``[B, C, *S]`` with 1 to 3 spatial axes (``[B, C, L]``, ``[B, C, H, W]``, ``[B, C, D, H, W]``),
any memory format (channels-last is kept). In ``batch`` mode one box is shared by the batch and pasted
with host-int geometry (one ``lerp`` pass against a shared 0/1 weight ``[1, 1, *S]``, measured faster on
CPU than a copy plus strided box pastes; with ``prob < 1`` a copy plus a paste into the mixed rows); in
``pair``/``elem`` mode every row has its own box, applied with one ``lerp`` against a 0/1 weight
``[B, 1, *S]`` (which is exact for finite inputs and, on CPU, faster than ``torch.where``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..functional.boxes import (
    Boxes,
    box_weight,
    mix_shared_box,
    region_fraction,
    sample_boxes,
    shared_region,
)
from ..pairing import blend_with_partner
from .mixer import Mixer, MixParams

__all__ = ["BoxParams", "CutMix"]


@dataclass(repr=False)
class BoxParams(MixParams):
    """CutMix's draw: one shared ``region`` (batch mode; ``None`` when no row is mixed) as an index tuple
    ``(:, :, lo_1:hi_1, ...)`` in host ints, or per-row ``boxes`` (``pair``/``elem`` modes)."""

    region: tuple[slice, ...] | None = None
    boxes: Boxes | None = None


def shared_rows(active: Tensor) -> Tensor | None:
    """Row ids to paste into (CPU int64), or ``None`` when every row is pasted."""
    return None if bool(active.all()) else torch.nonzero(active).flatten()


def copy_of(x: Tensor, out: Tensor | None) -> Tensor:
    """A copy of ``x``: a fresh clone, or written into ``out`` when given."""
    return x.clone() if out is None else out.copy_(x)


class CutMix(Mixer):
    """CutMix (Yun et al., ICCV 2019): paste a box of the partner ``x_j`` into ``x_i``.

    The box side is ``(1 - lam) ** (1/d)`` of each spatial side (``sqrt(1 - lam)`` for images) around a
    uniform centre, clipped at the border. ``x``: ``[B, C, *S]`` with 1-3 spatial axes, floating.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` (paper: 1.0).
        correct_lam: ``True`` (default, as timm and torchvision): ``out.lam`` is the true kept area after
            clipping and rounding, i.e. exactly the fraction of each row that is still its own.
            ``False``: ``out.lam`` is the sampled lambda, which is deliberately *not* the kept area when
            the box was clipped (kept for reproducing setups where the correction was reported to hurt).
        mode, prob, pairing, validate: see :class:`~mixkit.sample.Mixer`. ``batch`` mode shares one box;
            ``pair``/``elem`` draw one box per row.
    """

    name = "cutmix"
    paper = ("CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features "
             "(Yun et al., ICCV 2019)")
    paper_url = "https://arxiv.org/abs/1905.04899"
    release = "clovaai/CutMix-PyTorch: train.py"
    min_rank = 3
    max_rank = 5

    def __init__(self, alpha: float = 1.0, *, correct_lam: bool = True, mode: str = "batch",
                 prob: float = 1.0, pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        self.correct_lam = bool(correct_lam)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> BoxParams:
        base = super().draw(shape, generator)
        size, lam = tuple(shape[2:]), base.lam
        if self.mode == "batch":  # one box: host-int geometry
            active = lam < 1
            if not bool(active.any()):
                return BoxParams(base.pairs, lam)
            ratio = (1.0 - float(lam[active][0])) ** (1.0 / len(size))
            region = shared_region(tuple(round(s * ratio) for s in size), size, generator, inside=False)
            return BoxParams(base.pairs, lam, region=region)
        return BoxParams(base.pairs, lam, boxes=sample_boxes(1.0 - lam, size, generator))

    def apply(self, x: Tensor, params: BoxParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        pairs, lam, size = params.pairs, params.lam, tuple(x.shape[2:])
        if params.boxes is None:
            region = params.region
            if region is None:
                return copy_of(x, out), lam
            area = region_fraction(region, size)
            if area == 0:
                return copy_of(x, out), torch.ones_like(lam) if self.correct_lam else lam
            active = lam < 1
            rows = shared_rows(active)
            if rows is None:  # every row: one lerp pass against a shared [1, 1, *S] box weight
                weight = torch.zeros((1, 1, *size), dtype=x.dtype, device=x.device)
                weight[region] = 1.0
                out = blend_with_partner(x, pairs, weight, out)
            else:
                out = mix_shared_box(x, x[region], pairs, rows, region, out)
            return out, lam.masked_fill(active, 1.0 - area) if self.correct_lam else lam
        area = params.boxes.area()
        if bool((area > 0).any()):
            out = blend_with_partner(x, pairs, box_weight(params.boxes, x), out)
        else:
            out = copy_of(x, out)
        return out, (1.0 - area) if self.correct_lam else lam

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, correct_lam={self.correct_lam}"
