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

    Matches ``uoguelph-mlrg/Cutout: util/cutout.py`` (``n_holes=1``). Labels are untouched: ``out.lam`` is 1
    and ``out.index`` the identity. The square spans ``[c - L // 2, c + L // 2)`` on every spatial axis
    around a uniform centre pixel ``c``, clipped at the border (so an odd ``L`` erases ``L - 1`` pixels per
    side, as the release), with ``L = length`` pixels, or ``round(ratio * min(S))`` when ``length`` is
    ``None``. One square per image. ``out.extras["erased"]`` ([B] float32) is the fraction of each row
    actually erased. ``x``: ``[B, C, *S]`` with 1-3 spatial axes; erase after normalisation, as the release
    (its transform runs after ``Normalize``, so 0 is the mean colour).

    Defaults from the release: ``ratio=0.5`` (``--length 16`` on 32 x 32 CIFAR-10; CIFAR-100 used 8, SVHN
    20), one square per image (``mode="elem"``), ``value=0``, every image (``prob=1``).

    Deviations:
        * a batch tensor op instead of a per-image dataset transform (same squares, drawn from the call's
          generator); ``mode="batch"`` (one square for the batch) and 1-D/3-D inputs are mixkit's.
        * one hole per image (the release's ``n_holes`` > 1 is not offered; its recipes use 1).

    Args:
        length: side in pixels (>= 1), or ``None`` to use ``ratio``.
        ratio: side as a fraction of the shortest spatial side, in (0, 1].
        mode: ``"elem"`` (default, the release: one square per image; ``"pair"`` means the same) or
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
        length = self.length if self.length is not None else max(1, round(self.ratio * min(size)))
        side = 2 * (length // 2)  # [c - L // 2, c + L // 2): the release's span
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
            if torch.is_grad_enabled() and x.requires_grad:  # lerp's out= form refuses autograd
                erased = torch.lerp(x, fill, box_weight(params.boxes, x))
                out = erased if out is None else out.copy_(erased)
            else:
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
