"""SaliencyMix (Uddin et al., "SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better
Regularization", ICLR 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional.saliency_maps import fine_grained_saliency, peak_location, spectral_residual
from ..pairing import blend_with_partner
from .mixer import Mixer, MixParams

__all__ = ["SaliencyMix", "box_mask_at"]


def box_mask_at(centre_row: Tensor, centre_col: Tensor, lam: Tensor, height: int, width: int
                ) -> tuple[Tensor, Tensor]:
    """SaliencyMix's boxes centred on given pixels, clipped at the border (the release's ``saliency_bbox``).

    ``centre_row``/``centre_col``: ``[B]`` int64 on the data's device; ``lam``: ``[B]`` requested weights
    (CPU). The cut side is ``floor(S sqrt(1 - lam))`` and the box spans ``[c - cut // 2, c + cut // 2)``
    on each axis, clipped to the image (as the release). Returns ``(mask [B, H, W] bool, lam_true [B]
    float32)`` on the device, ``lam_true = 1 - box area / HW`` after clipping. The centre lives on the device
    (the argmax of a device saliency map), so the box is built there without a host synchronisation.
    """
    device = centre_row.device
    ratio = (1.0 - lam.double()).clamp(0.0, 1.0).sqrt()
    half = torch.stack([(ratio * height).floor(), (ratio * width).floor()], 1).long() // 2
    half = half.to(device, non_blocking=True)
    half_h, half_w = half.unbind(1)
    y1 = (centre_row - half_h).clamp(0, height)
    y2 = (centre_row + half_h).clamp(0, height)
    x1 = (centre_col - half_w).clamp(0, width)
    x2 = (centre_col + half_w).clamp(0, width)
    ys = torch.arange(height, device=device).view(1, -1)
    xs = torch.arange(width, device=device).view(1, -1)
    in_rows = (ys >= y1.view(-1, 1)) & (ys < y2.view(-1, 1))
    in_cols = (xs >= x1.view(-1, 1)) & (xs < x2.view(-1, 1))
    mask = in_rows.unsqueeze(2) & in_cols.unsqueeze(1)
    lam_true = 1.0 - ((y2 - y1) * (x2 - x1)).float() / (height * width)
    return mask, lam_true


class SaliencyMix(Mixer):
    """SaliencyMix (Uddin et al., ICLR 2021), as released in ``afm-shahab-uddin/SaliencyMix:
    SaliencyMix_CIFAR/saliencymix.py`` (``saliency_bbox`` and its training loop): paste a box of the partner
    centred on the partner's most salient pixel, so the pasted patch carries the partner's object.

    Defaults from the release: ``lam ~ Beta(1, 1)``, the fine-grained static saliency it calls through OpenCV
    (:func:`mixkit.sample.functional.saliency_maps.fine_grained_saliency`, our batched device version of the
    published algorithm), and in batch mode ONE box per batch: centred on the saliency peak of the partner
    of row 0, side ``floor(S sqrt(1 - lam))``, spanning ``c +- side // 2``, clipped at the border and pasted
    at the same place into every row from its partner. ``lam`` is the true kept area after clipping.
    With ``mode="elem"``/``"pair"`` (one ``lam`` per row or pair) each row gets its own box centred on its
    own partner's peak: mixkit's own variant. ``saliency="spectral"`` uses the spectral-residual map
    (:func:`~mixkit.sample.functional.spectral_residual`, at most ``size`` pixels per side, blur ``sigma``):
    mixkit's own option. Saliency and peak are computed on the device (one ``argmax``, no host sync).

    Remaining deviations:
      * The map is computed in float (OpenCV rounds it to 8 bits; the release then rescales that uint8 map).
      * The release's CIFAR script mixes a batch with probability ``--salmix_prob`` (0.5); here every row
        is mixed unless ``prob`` (per row) is set.
    ``x``: ``[B, C, H, W]`` floating. Other arguments as :class:`Mixer`.
    """

    name = "saliencymix"
    paper = ("SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better Regularization "
             "(Uddin et al., ICLR 2021)")
    paper_url = "https://arxiv.org/abs/2006.01791"
    release = "afm-shahab-uddin/SaliencyMix: SaliencyMix_CIFAR/saliencymix.py"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, saliency: str = "fine_grained", size: int = 64,
                 sigma: float = 2.5, *, mode: str = "batch", prob: float = 1.0, pairing: str = "roll",
                 validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if saliency not in ("fine_grained", "spectral"):
            raise ValueError(f"saliency must be 'fine_grained' or 'spectral', got {saliency!r}")
        if int(size) < 4:
            raise ValueError(f"size must be an int >= 4 (side of the spectral saliency map), got {size!r}")
        self.saliency, self.size, self.sigma = saliency, int(size), float(sigma)

    def saliency_map(self, x: Tensor) -> Tensor:
        """The saliency maps ``[B, h, w]`` of ``x`` (float32, on ``x``'s device)."""
        if self.saliency == "spectral":
            return spectral_residual(x, self.size, self.sigma)
        return fine_grained_saliency(x)

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Paste the partner's salient box; the exact kept area ``[B]`` float32 on ``x``'s device."""
        b, _, h, w = x.shape
        idx = params.pairs.index.to(x.device, non_blocking=True)
        if self.mode == "batch":  # one box: the peak of row 0's partner, as the release
            row, col = peak_location(self.saliency_map(x[idx[:1]]), h, w)
            row, col = row.expand(b), col.expand(b)
        else:
            row, col = peak_location(self.saliency_map(x), h, w)
            row, col = row[idx], col[idx]
        mask, lam_true = box_mask_at(row, col, params.lam, h, w)
        return blend_with_partner(x, params.pairs, mask.unsqueeze(1).to(x.dtype), out), lam_true

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, saliency={self.saliency!r}, size={self.size}, sigma={self.sigma}"
