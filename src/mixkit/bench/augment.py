"""Standard light augmentation applied to every method alike: random translation (pad-and-crop) and
horizontal flip, vectorized over the batch on the batch's device (no per-image Python loop)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop_flip(x: Tensor, pad: int, generator: torch.Generator, flip: bool = True) -> Tensor:
    """Zero-pad ``x`` ([B, C, H, W] float) by ``pad`` and crop back to ``H x W`` at a random offset per image;
    then mirror a random half of the images left-right. Offsets and flips come from the CPU ``generator``."""
    if x.dim() != 4:
        raise ValueError(f"x must be [B, C, H, W], got {tuple(x.shape)}")
    b, c, h, w = x.shape
    if pad > 0:
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device, non_blocking=True)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device, non_blocking=True)
        padded = F.pad(x, (pad, pad, pad, pad))
        rows = (dy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
        rows = rows.expand(b, c, h, w + 2 * pad)
        x = padded.gather(2, rows)
        cols = (dx.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w).expand(b, c, h, w)
        x = x.gather(3, cols)
    if flip:
        mirror = (torch.rand(b, generator=generator) < 0.5).to(x.device, non_blocking=True).view(b, 1, 1, 1)
        x = torch.where(mirror, x.flip(-1), x)
    return x
