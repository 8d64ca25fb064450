"""Saliency-guided mixers: SaliencyMix (spectral-residual saliency) and AttentiveMix (feature maps)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import cpu_generator
from ..pairing import Pairs, blend_with_partner
from ..registry import register
from ..saliency import peak_location, spectral_residual
from ..step import StepOutput
from ..validate import check_inputs, check_labels
from .base import Mixer
from .grid import cells_to_pixels


def box_mask_at(centre_row: Tensor, centre_col: Tensor, lam: Tensor, height: int, width: int
                ) -> tuple[Tensor, Tensor]:
    """Boxes of side ``sqrt(1 - lam)`` times the image side centred on given pixels, clipped at the border.

    ``centre_row``/``centre_col``: ``[B]`` int64 on the data's device; ``lam``: ``[B]`` requested weights
    (CPU).
    Returns ``(mask [B, H, W] bool, lam_true [B] float32)`` on the device, where ``lam_true = 1 - box area /
    HW``
    after clipping (CutMix's area correction). Sides and span follow :func:`mixkit.sample.masks.sample_boxes`
    (side ``round(S sqrt(1 - lam))``, span ``[c - side // 2, c - side // 2 + side)``); the centre, however,
    lives on the device (the argmax of a device saliency map), which the host-side ``Boxes`` of ``masks.py``
    cannot take without a host synchronisation, hence this device twin of ``place_boxes``.
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


@register("saliencymix")
class SaliencyMix(Mixer):
    """SaliencyMix (Uddin et al., ICLR 2021): paste a box of the partner centred on the partner's most salient
    pixel, so the pasted patch carries the partner's object.

    Saliency is the spectral residual (Hou & Zhang 2007, the map the paper uses) computed for the whole batch
    on the device with one batched FFT (:func:`mixkit.sample.saliency.spectral_residual`, at most ``size``
    pixels per side), and the peak is found with one ``argmax``: no per-image host code, no host sync.
    The box side is ``sqrt(1 - lam)`` of the image side (``lam ~ Beta(alpha, alpha)``), it is clipped at the
    border and, as in the paper, placed at the same position in the row being mixed. ``lam`` is the true kept
    area after clipping. ``x``: ``[B, C, H, W]``.
    """

    name = "saliencymix"
    paper = ("SaliencyMix: A Saliency Guided Data Augmentation Strategy for Better Regularization "
             "(Uddin et al., ICLR 2021)")
    paper_url = "https://arxiv.org/abs/2006.01791"
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, size: int = 64, sigma: float = 2.5, **kwargs) -> None:
        super().__init__(alpha, **kwargs)
        if int(size) < 4:
            raise ValueError(f"size must be an int >= 4 (side of the saliency map), got {size!r}")
        self.size, self.sigma = int(size), float(sigma)

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None
            ) -> tuple[Tensor, Tensor]:
        _, _, h, w = x.shape
        row, col = peak_location(spectral_residual(x, self.size, self.sigma), h, w)
        idx = pairs.index.to(x.device, non_blocking=True)
        mask, lam_true = box_mask_at(row[idx], col[idx], lam, h, w)
        return blend_with_partner(x, pairs, mask.unsqueeze(1).to(x.dtype)), lam_true


def features_of(model: nn.Module, x: Tensor) -> Tensor:
    """``model.forward_features(x)`` as ``[B, C, h, w]``, with a clear error when the model lacks it."""
    fn = getattr(model, "forward_features", None)
    if not callable(fn):
        raise TypeError(f"this mixer needs a model with forward_features(x) -> [B, C, h, w] (requires "
                        f"{{'features'}}); {type(model).__name__} has none")
    feats = fn(x)
    if not isinstance(feats, Tensor) or feats.dim() != 4 or feats.shape[0] != x.shape[0]:
        shape = tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__
        raise ValueError(f"forward_features must return a feature map [B, C, h, w] with B = {x.shape[0]}, "
                         f"got {shape}")
    return feats


@register("attentivemix", "attentive_cutmix")
class AttentiveMix(Mixer):
    """Attentive CutMix (Walawalkar et al., ICASSP 2020): paste the partner's ``top_k`` most activated
    cells of its final feature map (grid ``h x w``, cell activation = channel sum) at the same cells of the
    row.

    ``features``: ``[B, C, h, w]`` feature maps of ``x`` (the paper uses a pretrained network; the model-aware
    :meth:`training_step` uses ``teacher.forward_features`` if a ``teacher`` is given, else the trained
    model's
    own, under ``no_grad``). ``top_k``: cells pasted per row (the paper: 6 of a 7 x 7 grid); ``None`` draws
    ``lam ~ Beta(alpha, alpha)`` and pastes ``round((1 - lam) h w)`` cells. ``lam`` is the exact fraction of
    pixels kept (cells follow ``floor(i * h / H)``, so uneven cells are counted exactly), on the device.
    The ranking is one ``argsort`` over the batch (no loop, no host sync).
    """

    name = "attentivemix"
    paper = ("Attentive CutMix: An Enhanced Data Augmentation Approach for Deep Learning Based Image "
             "Classification (Walawalkar et al., ICASSP 2020)")
    paper_url = "https://arxiv.org/abs/2003.13048"
    min_rank = 4
    max_rank = 4
    requires: ClassVar[frozenset[str]] = frozenset({"features"})

    def __init__(self, alpha: float = 1.0, top_k: int | None = 6, teacher: nn.Module | None = None,
                 **kwargs) -> None:
        super().__init__(alpha, **kwargs)
        if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
            raise ValueError(f"top_k must be a non-negative int or None, got {top_k!r}")
        self.top_k = top_k
        self.teacher = teacher

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                features: Tensor | None = None) -> MixedBatch:
        g = cpu_generator(generator)
        if self.validate:
            check_inputs(x, 4, 4)
            check_labels(y, x.shape[0])
        if features is None:
            raise ValueError("features: AttentiveMix needs the feature maps [B, C, h, w] of x "
                             "(pass features=, "
                             "or use training_step(model, x, y) with a model that has forward_features)")
        if features.dim() != 4 or features.shape[0] != x.shape[0]:
            raise ValueError(f"features must have shape [B, C, h, w] with B = {x.shape[0]}, "
                             f"got {tuple(features.shape)}")
        pairs, lam = self.draw(x.shape[0], g)
        b, _, h, w = x.shape
        fh, fw = features.shape[-2:]
        cells = fh * fw
        if self.top_k is not None and self.top_k > cells:
            raise ValueError(f"top_k={self.top_k} exceeds the {cells} cells of the {fh} x {fw} feature map")
        k = (1.0 - lam) * cells if self.top_k is None else torch.where(lam < 1.0, float(self.top_k), 0.0)
        k = k.round().long().to(x.device, non_blocking=True)
        idx = pairs.index.to(x.device, non_blocking=True)
        score = features.detach().float().sum(1).flatten(1)[idx]  # partner's activation per cell [B, hw]
        order = score.argsort(1, descending=True)
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(cells, device=x.device).expand(b, -1))
        take = (rank < k.view(-1, 1)).view(b, fh, fw)
        mask = cells_to_pixels(take.to(x.dtype), h, w)  # 0/1 weights: lerp is an exact copy
        lam_true = 1.0 - mask.float().mean((1, 2))
        x_out = blend_with_partner(x, pairs, mask.unsqueeze(1))
        return MixedBatch(x=x_out, index=idx, lam=lam_true, y=y, extras={"cells": take})

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Feature maps from ``teacher`` (or ``model``) without gradient, mix, one forward, mixed CE."""
        with torch.no_grad():
            feats = features_of(self.teacher if self.teacher is not None else model, x)
        out = self(x, y, generator=generator, features=feats)
        logits = model(out.x)
        return StepOutput(loss=out.loss(logits), logits=logits, mixed=out)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """Nothing to update (the teacher, if any, is fixed)."""

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, top_k={self.top_k}"
