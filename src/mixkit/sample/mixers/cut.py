"""Cut-and-paste mixers: CutMix, Cutout and ResizeMix.

Inputs are ``[B, C, *S]`` with 1 to 3 spatial axes (``[B, C, L]``, ``[B, C, H, W]``, ``[B, C, D, H, W]``),
any memory format (channels-last is kept). In ``batch`` mode one box is shared by the batch and pasted
with host-int slices (a copy of the batch plus the box region); in ``pair``/``elem`` mode every row has
its own box, applied with one ``lerp`` against a 0/1 weight ``[B, 1, *S]`` (which is exact for finite
inputs and, on CPU, several times faster than ``torch.where``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..lam import check_mode, cpu_generator, sample_active
from ..masks import (
    Boxes,
    box_weight,
    paste_resized_patches,
    paste_shared_box,
    place_boxes,
    place_patches,
    resize_index,
    sample_boxes,
)
from ..pairing import Pairs, blend_with_partner, make_pairs
from ..registry import register
from ..validate import check_inputs, check_labels
from .base import Mixer

_SPATIAL_RANKS = "x must be [B, C, L], [B, C, H, W] or [B, C, D, H, W]"


def _paste_boxes(x: Tensor, pairs: Pairs, boxes: Boxes, shared: bool) -> Tensor:
    """Copy each row's box from its partner: slices for a shared box, one masked ``lerp`` otherwise."""
    area = boxes.area()
    if shared:
        out = x.clone()
        rows = torch.nonzero(area > 0).flatten()
        if rows.numel() == 0:
            return out
        every = rows.numel() == x.shape[0]
        region = boxes.region(int(rows[0]))
        return paste_shared_box(out, x[region], pairs, None if every else rows, region)
    if not bool((area > 0).any()):
        return x.clone()
    return blend_with_partner(x, pairs, box_weight(boxes, x))


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

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None
            ) -> tuple[Tensor, Tensor]:
        shared = self.mode == "batch"
        boxes = sample_boxes(1.0 - lam, tuple(x.shape[2:]), generator, shared=shared)
        out = _paste_boxes(x, pairs, boxes, shared)
        return out, (1.0 - boxes.area()) if self.correct_lam else lam

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, correct_lam={self.correct_lam}"


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

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None
                ) -> MixedBatch:
        g = cpu_generator(generator)
        if self.validate:
            check_inputs(x, self.min_rank, self.max_rank)
            check_labels(y, x.shape[0])
        n, size = x.shape[0], tuple(x.shape[2:])
        side = self.length if self.length is not None else max(1, round(self.ratio * min(size)))
        ident = torch.arange(n)
        active = sample_active(self.prob, ident, self.mode, g)
        sides = torch.full((n, len(size)), side, dtype=torch.long)
        if active is not None:
            sides = sides * active.view(-1, 1).long()
        shared = self.mode == "batch"
        boxes = place_boxes(sides, size, g, shared=shared)
        area = boxes.area()
        rows = torch.nonzero(area > 0).flatten()
        if shared:
            out = x.clone()
            if rows.numel():
                region = boxes.region(int(rows[0]))
                if rows.numel() == n:
                    out[region] = self.value
                else:
                    out[(rows.to(x.device, non_blocking=True), *region[1:])] = self.value
        elif rows.numel():
            fill = torch.full((), self.value, dtype=x.dtype, device=x.device)
            out = torch.lerp(x, fill, box_weight(boxes, x), out=torch.empty_like(x))
        else:
            out = x.clone()
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

    Simplification: the resize is nearest neighbour (source ``floor(j * S / side)``), so the pasted patch
    is exactly a subsample of the partner; the paper does not rely on a particular interpolation.
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
        active = sample_active(self.prob, pairs.index, self.mode, generator)
        if active is not None:
            tau = tau.masked_fill(~active, 0.0)
        fixed = pairs.fixed_points()
        if fixed is not None:
            tau = tau.masked_fill(fixed, 0.0)
        return pairs, tau

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None
            ) -> tuple[Tensor, Tensor]:
        tau, size = lam, tuple(x.shape[2:])
        sides = torch.round(tau[:, None] * torch.tensor(size, dtype=torch.float64)).long()
        shared = self.mode == "batch"
        boxes = place_patches(sides, size, generator, shared=shared)
        area = boxes.area()
        out = x.clone()
        rows = torch.nonzero(area > 0).flatten()
        if rows.numel() == 0:
            return out, 1.0 - area
        if shared:
            region = boxes.region(int(rows[0]))
            patch = x
            for k, (s, sl) in enumerate(zip(size, region[2:])):
                patch = patch.index_select(2 + k, resize_index(sl.stop - sl.start, s, x.device))
            every = rows.numel() == x.shape[0]
            paste_shared_box(out, patch, pairs, None if every else rows, region)
        else:
            paste_resized_patches(out, x, pairs.index, boxes)
        return out, 1.0 - area

    def extra_repr(self) -> str:
        return f"scale={self.scale}, mode={self.mode!r}, prob={self.prob}, pairing={self.pairing!r}"
