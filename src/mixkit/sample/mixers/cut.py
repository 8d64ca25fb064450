"""Cut-and-paste mixers: CutMix, Cutout and ResizeMix.

Inputs are ``[B, C, *S]`` with 1 to 3 spatial axes (``[B, C, L]``, ``[B, C, H, W]``, ``[B, C, D, H, W]``),
any memory format (channels-last is kept). In ``batch`` mode one box is shared by the batch and pasted
with host-int geometry (CutMix: one ``lerp`` pass against a shared 0/1 weight ``[1, 1, *S]``, measured
faster on CPU than a copy plus strided box pastes; with ``prob < 1`` a copy plus a paste into the mixed
rows); in ``pair``/``elem`` mode every row has its own box, applied with one ``lerp`` against a 0/1
weight ``[B, 1, *S]`` (which is exact for finite inputs and, on CPU, several times faster than
``torch.where``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..lam import check_mode, sample_active
from ..masks import (
    box_weight,
    mix_shared_box,
    paste_resized_patches,
    paste_resized_shared,
    place_boxes,
    place_patches,
    region_fraction,
    resize_nearest,
    sample_boxes,
    shared_region,
)
from ..pairing import Pairs, blend_with_partner, make_pairs
from ..registry import register
from .base import Mixer

_SPATIAL_RANKS = "x must be [B, C, L], [B, C, H, W] or [B, C, D, H, W]"


def _shared_rows(active: Tensor) -> Tensor | None:
    """Row ids to paste into (CPU int64), or ``None`` when every row is pasted."""
    return None if bool(active.all()) else torch.nonzero(active).flatten()


@register("cutmix")
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
        mode, prob, pairing, validate: see :class:`~mixkit.sample.mixers.base.Mixer`. ``batch`` mode
            shares one box; ``pair``/``elem`` draw one box per row.
    """

    name = "cutmix"
    paper = ("CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features "
             "(Yun et al., ICCV 2019)")
    paper_url = "https://arxiv.org/abs/1905.04899"
    min_rank = 3
    max_rank = 5

    def __init__(self, alpha: float = 1.0, *, correct_lam: bool = True, mode: str = "batch",
                 prob: float = 1.0, pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        self.correct_lam = bool(correct_lam)

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None,
            out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        size = tuple(x.shape[2:])
        if self.mode == "batch":  # one box: host-int geometry and slice copies
            active = lam < 1
            if not bool(active.any()):
                return _copy(x, out), lam
            ratio = (1.0 - float(lam[active][0])) ** (1.0 / len(size))
            region = shared_region(tuple(round(s * ratio) for s in size), size, generator, inside=False)
            area = region_fraction(region, size)
            if area == 0:
                return _copy(x, out), torch.ones_like(lam) if self.correct_lam else lam
            rows = _shared_rows(active)
            if rows is None:  # every row: one lerp pass against a shared [1, 1, *S] box weight
                weight = torch.zeros((1, 1, *size), dtype=x.dtype, device=x.device)
                weight[region] = 1.0
                out = blend_with_partner(x, pairs, weight, out)
            else:
                out = mix_shared_box(x, x[region], pairs, rows, region, out)
            return out, lam.masked_fill(active, 1.0 - area) if self.correct_lam else lam
        boxes = sample_boxes(1.0 - lam, size, generator)
        area = boxes.area()
        if bool((area > 0).any()):
            out = blend_with_partner(x, pairs, box_weight(boxes, x), out)
        else:
            out = _copy(x, out)
        return out, (1.0 - area) if self.correct_lam else lam

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, correct_lam={self.correct_lam}"


def _copy(x: Tensor, out: Tensor | None) -> Tensor:
    """A copy of ``x``: a fresh clone, or written into ``out`` when given."""
    return x.clone() if out is None else out.copy_(x)


def _fill_shared_box(x: Tensor, region: tuple[slice, ...], rows: Tensor | None, value: float,
                     out: Tensor | None = None) -> Tensor:
    """``x`` with ``region`` set to ``value`` in the given rows (all rows when ``None``)."""
    out = _copy(x, out)
    if rows is None:
        out[region] = value
    elif rows.numel():
        out[(rows.to(x.device, non_blocking=True), *region[1:])] = value
    return out


@register("cutout")
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

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None) -> MixedBatch:
        g = self.check_call(x, y, generator, out)
        n, size = x.shape[0], tuple(x.shape[2:])
        side = self.length if self.length is not None else max(1, round(self.ratio * min(size)))
        active = sample_active(self.prob, torch.arange(n), self.mode, g)
        if self.mode == "batch":  # one square for the batch: host-int geometry and slice copies
            region = shared_region((side,) * len(size), size, g, inside=False)
            rows = None if active is None else torch.nonzero(active).flatten()
            out = _fill_shared_box(x, region, rows, self.value, out)
            frac = region_fraction(region, size)
            area = torch.full((n,), frac) if active is None else active.float() * frac
        else:
            sides = torch.full((n, len(size)), side, dtype=torch.long)
            if active is not None:
                sides = sides * active.view(-1, 1).long()
            boxes = place_boxes(sides, size, g)
            area = boxes.area()
            if bool((area > 0).any()):
                fill = torch.full((), self.value, dtype=x.dtype, device=x.device)
                dest = torch.empty_like(x) if out is None else out
                out = torch.lerp(x, fill, box_weight(boxes, x), out=dest)
            else:
                out = _copy(x, out)
        return MixedBatch(x=out, index=torch.arange(n, device=x.device), lam=torch.ones(n, device=x.device),
                          y=y, extras={"erased": area.to(x.device, non_blocking=True)})

    def extra_repr(self) -> str:
        size = f"length={self.length}" if self.length is not None else f"ratio={self.ratio}"
        return f"{size}, mode={self.mode!r}, prob={self.prob}, value={self.value}"


@register("resizemix")
class ResizeMix(Mixer):
    """ResizeMix (Qin et al. 2020): shrink the whole partner ``x_j`` to a patch and paste it into ``x_i``.

    The patch side is ``tau * S_k`` on every spatial axis (rounded), ``tau ~ U(scale)`` with the paper's
    ``scale = (0.1, 0.8)``; the patch is placed uniformly *inside* the image, so ``out.lam = 1 - patch
    area / image area`` exactly (rows left alone keep 1). Unlike CutMix, nothing of the partner is cut
    away, so its object stays visible. ``x``: ``[B, C, *S]`` with 1-3 spatial axes.

    Simplification: the resize is nearest neighbour only (``F.interpolate(mode="nearest")``, reproduced
    exactly by the per-row path), so the pasted patch is a subsample of the partner; smoother
    interpolation modes are not offered.
    ``mode``: ``batch`` shares one ``tau`` and location; ``pair`` shares ``tau`` within a pair (needs
    ``pairing="flip"``); ``elem`` draws both per row. There is no ``alpha`` (``tau`` is uniform).
    """

    name = "resizemix"
    paper = "ResizeMix: Mixing Data with Preserved Object Information and True Labels (Qin et al., 2020)"
    paper_url = "https://arxiv.org/abs/2012.11101"
    min_rank = 3
    max_rank = 5

    def __init__(self, scale: tuple[float, float] = (0.1, 0.8), *, mode: str = "batch", prob: float = 1.0,
                 pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(1.0, mode=mode, prob=prob, pairing=pairing, validate=validate)
        try:
            lo, hi = (float(v) for v in scale)
        except (TypeError, ValueError):
            raise ValueError(f"scale must be a pair (low, high), got {scale!r}") from None
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"scale must satisfy 0 <= low <= high <= 1, got {scale!r}")
        self.scale = (lo, hi)

    def draw(self, batch_size: int, generator: torch.Generator | None) -> tuple[Pairs, Tensor]:
        """Partners and the per-row patch scale ``tau`` ([B] float64, CPU; 0 for rows left alone).

        (ResizeMix passes ``tau`` to :meth:`mix` where other mixers pass the requested ``lam``.)
        """
        pairs = make_pairs(batch_size, self.pairing, generator)
        lo, hi = self.scale
        n = batch_size
        draws = lo + (hi - lo) * torch.rand(1 if self.mode == "batch" else n, generator=generator,
                                            dtype=torch.float64)
        if self.mode == "batch":
            tau = draws.expand(n).clone()
        elif self.mode == "pair":
            tau = draws[torch.minimum(torch.arange(n), pairs.index)]
        else:
            tau = draws
        return pairs, self.leave_untouched(tau, pairs, generator, 0.0)

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None,
            out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        tau, size = lam, tuple(x.shape[2:])
        if self.mode == "batch":  # one patch size and place: host ints, F.interpolate, slice copies
            active = tau > 0
            v = float(tau[active][0]) if bool(active.any()) else 0.0
            sides = tuple(min(round(v * s), s) for s in size)
            if math.prod(sides) == 0:
                return _copy(x, out), torch.ones(x.shape[0])
            region = shared_region(sides, size, generator, inside=True)
            pasted = None if _shared_rows(active) is not None else paste_resized_shared(x, pairs, region, out)
            if pasted is None:
                pasted = mix_shared_box(x, resize_nearest(x, sides), pairs, _shared_rows(active), region, out)
            out = pasted
            return out, torch.where(active, 1.0 - region_fraction(region, size), 1.0)
        sides = torch.round(tau[:, None] * torch.tensor(size, dtype=torch.float64)).long()
        boxes = place_patches(sides, size, generator)
        area = boxes.area()
        if not bool((area > 0).any()):
            return _copy(x, out), 1.0 - area
        return paste_resized_patches(_copy(x, out), x, pairs.index, boxes, shift=pairs.shift), 1.0 - area

    def extra_repr(self) -> str:
        return f"scale={self.scale}, mode={self.mode!r}, prob={self.prob}, pairing={self.pairing!r}"
