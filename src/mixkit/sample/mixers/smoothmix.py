"""SmoothMix: paste the partner through a soft-edged mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..pairing import blend_with_partner
from .mixer import Mixer, MixParams

__all__ = ["SmoothMix", "SmoothParams"]


@dataclass(repr=False)
class SmoothParams(MixParams):
    """SmoothMix's draw: mask centres ``cy``, ``cx`` ([B] float32, CPU, in pixels)."""

    cy: Tensor | None = None
    cx: Tensor | None = None


class SmoothMix(Mixer):
    """SmoothMix (Lee et al., CVPR Workshops 2020): paste the partner through a soft-edged mask ``m`` in
    [0, 1], ``x = (1 - m) * x_i + m * x_j``, so no sharp edge is created.

    ``shape="square"``: a box whose area is ``1 - lam`` of the image, with edges that ramp linearly from 1
    to 0 over ``smooth`` times the box side on each side (a separable trapezoid). ``shape="circle"``: the
    paper's Gaussian mask ``exp(-d^2 / (2 sigma^2))`` with ``2 pi sigma^2 = (1 - lam) H W`` (unclipped
    mass ``1 - lam``). The centre is uniform over the image; the mask is clipped at the border. ``lam`` is
    the exact mean of ``1 - m`` as applied (computed on the device from the separable profiles, no host
    sync).
    ``x``: ``[B, C, H, W]``, any floating dtype; the mask is built in float32 and applied in ``x``'s dtype.
    """

    name = "smoothmix"
    paper = ("SmoothMix: a Simple Yet Effective Data Augmentation to Train Robust Classifiers "
             "(Lee et al., CVPRW 2020)")
    paper_url = "https://paperswithcode.com/paper/smoothmix-a-simple-yet-effective-data"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, shape: str = "square", smooth: float = 0.25, *,
                 mode: str = "batch", prob: float = 1.0, pairing: str = "roll",
                 validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if shape not in ("square", "circle"):
            raise ValueError(f"shape must be 'square' or 'circle', got {shape!r}")
        if not 0.0 < float(smooth) <= 1.0:
            raise ValueError(f"smooth must be in (0, 1] (ramp width as a fraction of the box side), "
                             f"got {smooth!r}")
        self.shape = shape
        self.smooth = float(smooth)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> SmoothParams:
        base = super().draw(shape, generator)
        b, height, width = shape[0], shape[2], shape[3]
        cy = torch.rand(b, generator=generator) * height
        cx = torch.rand(b, generator=generator) * width
        return SmoothParams(base.pairs, base.lam, cy=cy, cx=cx)

    def profiles(self, params: SmoothParams, height: int, width: int, device: torch.device
                 ) -> tuple[Tensor, Tensor]:
        """Row and column profiles ``[B, H]``, ``[B, W]`` (float32): the mask is their outer product."""
        cy, cx, lam = params.cy, params.cx, params.lam
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

    def apply(self, x: Tensor, params: SmoothParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _, _, h, w = x.shape
        py, px = self.profiles(params, h, w, x.device)
        mask = (py.unsqueeze(2) * px.unsqueeze(1)).to(x.dtype).unsqueeze(1)  # [B, 1, H, W]
        lam_true = 1.0 - mask.float().mean((1, 2, 3))
        return blend_with_partner(x, params.pairs, mask, out), lam_true

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, shape={self.shape!r}, smooth={self.smooth}"
