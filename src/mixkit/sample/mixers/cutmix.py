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
    place_boxes,
    region_fraction,
    shared_region,
)
from ..pairing import blend_with_partner
from .mixer import Mixer, MixParams

__all__ = ["BoxParams", "CutMix", "cutmix_boxes", "cutmix_sides"]


@dataclass(repr=False)
class BoxParams(MixParams):
    """CutMix's draw: one shared ``region`` (batch mode; ``None`` when no row is mixed) as an index tuple
    ``(:, :, lo_1:hi_1, ...)`` in host ints, or per-row ``boxes`` (``pair``/``elem`` modes)."""

    region: tuple[slice, ...] | None = None
    boxes: Boxes | None = None


def cutmix_sides(cut: Tensor, size: tuple[int, ...]) -> Tensor:
    """Box sides ``[B, d]`` int64 for the cut fractions ``cut = 1 - lam`` ([B], CPU), by the release's rule.

    ``cut_k = floor(S_k * cut ** (1/d))`` and the box spans ``[c - cut_k // 2, c + cut_k // 2)`` around its
    centre ``c``, so its side is ``2 * (cut_k // 2)`` (an odd ``cut_k`` loses one pixel), as ``rand_bbox`` of
    clovaai/CutMix-PyTorch (train.py).
    """
    ratio = cut.double().clamp(0.0, 1.0).pow(1.0 / len(size))
    cuts = torch.floor(ratio[:, None] * torch.tensor(size, dtype=torch.float64)).long()
    return 2 * (cuts // 2)


def cutmix_boxes(cut: Tensor, size: tuple[int, ...], generator: torch.Generator | None = None) -> Boxes:
    """One CutMix box per row for the cut fractions ``cut`` ([B], CPU): :func:`cutmix_sides` around a
    uniform centre pixel, clipped at the border (the true area is :meth:`Boxes.area`)."""
    return place_boxes(cutmix_sides(cut, size), size, generator)


def shared_rows(active: Tensor) -> Tensor | None:
    """Row ids to paste into (CPU int64), or ``None`` when every row is pasted."""
    return None if bool(active.all()) else torch.nonzero(active).flatten()


def copy_of(x: Tensor, out: Tensor | None) -> Tensor:
    """A copy of ``x``: a fresh clone, or written into ``out`` when given."""
    return x.clone() if out is None else out.copy_(x)


class CutMix(Mixer):
    """CutMix (Yun et al., ICCV 2019): paste a box of the partner ``x_j`` into ``x_i``.

    Matches ``clovaai/CutMix-PyTorch: train.py`` (``rand_bbox`` and the training loop). The box has
    ``cut_k = floor(S_k * (1 - lam) ** (1/d))`` (``sqrt(1 - lam)`` for images) and spans
    ``[c - cut_k // 2, c + cut_k // 2)`` around a uniform centre pixel ``c``, clipped at the border; one box
    and one ``lam ~ Beta(1, 1)`` per batch; the label weight is the true kept area (the release's "adjust
    lambda to exactly match pixel ratio"). ``x``: ``[B, C, *S]`` with 1-3 spatial axes, floating.

    Defaults from the release: ``alpha=1`` (``--beta 1.0``), one box per batch (``mode="batch"``),
    ``correct_lam=True``, ``prob=1`` (the ImageNet recipe, ``--cutmix_prob 1.0``).

    Deviations:
        * partners are a random cyclic shift of the (shuffled) batch (``pairing="roll"``); the release
          uses ``torch.randperm`` (``pairing="permute"``).
        * ``prob < 1`` switches rows independently; the release flips one coin per batch
          (``--cutmix_prob 0.5`` on CIFAR): use ``RandomChoice([CutMix(), NoMix()], [0.5, 0.5])`` for that.
        * 1-D and 3-D inputs and the per-row boxes of ``mode="pair"``/``"elem"`` are mixkit's extensions.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` (release: 1.0).
        correct_lam: ``True`` (default, the release): ``out.lam`` is the true kept area after clipping
            and rounding, i.e. exactly the fraction of each row that is still its own. ``False``:
            ``out.lam`` is the sampled lambda (the release's first version), which is *not* the kept area.
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
            sides = cutmix_sides(1.0 - lam[active][:1].double(), size)[0].tolist()
            region = shared_region(tuple(sides), size, generator, inside=False)
            return BoxParams(base.pairs, lam, region=region)
        return BoxParams(base.pairs, lam, boxes=cutmix_boxes(1.0 - lam.double(), size, generator))

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
