"""SaliencyMix (Uddin et al., "SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better
Regularization", ICLR 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional.saliency_maps import peak_location, spectral_residual
from ..pairing import blend_with_partner
from .mixer import Mixer, MixParams

__all__ = ["SaliencyMix", "box_mask_at"]


def box_mask_at(centre_row: Tensor, centre_col: Tensor, lam: Tensor, height: int, width: int
                ) -> tuple[Tensor, Tensor]:
    """Boxes of side ``sqrt(1 - lam)`` times the image side centred on given pixels, clipped at the border.

    ``centre_row``/``centre_col``: ``[B]`` int64 on the data's device; ``lam``: ``[B]`` requested weights
    (CPU). Returns ``(mask [B, H, W] bool, lam_true [B] float32)`` on the device, where
    ``lam_true = 1 - box area / HW`` after clipping (CutMix's area correction). Sides and span follow
    :func:`mixkit.sample.functional.sample_boxes` (side ``round(S sqrt(1 - lam))``, span
    ``[c - side // 2, c - side // 2 + side)``); the centre, however, lives on the device (the argmax of a
    device saliency map), which the host-side :class:`~mixkit.sample.functional.Boxes` cannot take without a
    host synchronisation, hence this device twin of ``place_boxes``.
    """
    device = centre_row.device
    ratio = (1.0 - lam).clamp(0.0, 1.0).sqrt()
    sizes = torch.stack([(ratio * height).round(), (ratio * width).round()], 1).long()
    sizes = sizes.to(device, non_blocking=True)
    cut_h, cut_w = sizes.unbind(1)
    y1 = (centre_row - cut_h // 2).clamp(0, height)
    y2 = (centre_row - cut_h // 2 + cut_h).clamp(0, height)
    x1 = (centre_col - cut_w // 2).clamp(0, width)
    x2 = (centre_col - cut_w // 2 + cut_w).clamp(0, width)
    ys = torch.arange(height, device=device).view(1, -1)
    xs = torch.arange(width, device=device).view(1, -1)
    in_rows = (ys >= y1.view(-1, 1)) & (ys < y2.view(-1, 1))
    in_cols = (xs >= x1.view(-1, 1)) & (xs < x2.view(-1, 1))
    mask = in_rows.unsqueeze(2) & in_cols.unsqueeze(1)
    lam_true = 1.0 - ((y2 - y1) * (x2 - x1)).float() / (height * width)
    return mask, lam_true


class SaliencyMix(Mixer):
    """SaliencyMix: paste a box of the partner centred on the partner's most salient pixel, so the pasted
    patch carries the partner's object.

    Saliency is the spectral residual (Hou & Zhang 2007, the map the paper uses) computed for the whole batch
    on the device with one batched FFT (:func:`mixkit.sample.functional.spectral_residual`, at most ``size``
    pixels per side), and the peak is found with one ``argmax``: no per-image host code, no host sync.
    The box side is ``sqrt(1 - lam)`` of the image side (``lam ~ Beta(alpha, alpha)``), it is clipped at the
    border and, as in the paper, placed at the same position in the row being mixed. ``lam`` is the true kept
    area after clipping. ``x``: ``[B, C, H, W]`` floating. Other arguments as :class:`Mixer`.
    """

    name = "saliencymix"
    paper = ("SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better Regularization "
             "(Uddin et al., ICLR 2021)")
    paper_url = "https://arxiv.org/abs/2006.01791"
    release = "afm-shahab-uddin/SaliencyMix"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, size: int = 64, sigma: float = 2.5, *, mode: str = "batch",
                 prob: float = 1.0, pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if int(size) < 4:
            raise ValueError(f"size must be an int >= 4 (side of the saliency map), got {size!r}")
        self.size, self.sigma = int(size), float(sigma)

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Paste the partner's salient box; the exact kept area ``[B]`` float32 on ``x``'s device."""
        _, _, h, w = x.shape
        row, col = peak_location(spectral_residual(x, self.size, self.sigma), h, w)
        idx = params.pairs.index.to(x.device, non_blocking=True)
        mask, lam_true = box_mask_at(row[idx], col[idx], params.lam, h, w)
        return blend_with_partner(x, params.pairs, mask.unsqueeze(1).to(x.dtype), out), lam_true

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, size={self.size}, sigma={self.sigma}"
