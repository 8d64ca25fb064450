"""TransMix (Chen et al., "TransMix: Attend to Mix for Vision Transformers", CVPR 2022).

CutMix inputs; the label weight of each row's own class is the class-token attention mass on the patches
that still show the row. Needs the ``"attention"`` model capability (see
:mod:`mixkit.sample.mixers.attention_capture`). Without a model at hand, :func:`transmix_lam` turns any
attention tensor and a partner mask into label weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional.boxes import Boxes, box_weight, sample_boxes
from ..pairing import blend_with_partner
from .attention_capture import attention_grid, check_cls_attention
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["TransMix", "TransMixParams", "patch_fraction", "transmix_lam"]


def patch_fraction(partner_mask: Tensor, grid_size: int | tuple[int, int]) -> Tensor:
    """Fraction of every patch that comes from the partner: ``[B, H, W]`` / ``[B, 1, H, W]`` -> ``[B, N]``.

    ``partner_mask`` is 1 (or True) where the pixel was pasted from the partner. Pixels are averaged per
    patch (exact area for any box, patch-aligned or not); ``H`` and ``W`` must be multiples of the grid.
    A mask already at patch resolution (``H, W == grid``) is returned flattened. Float32 for non-float masks.
    """
    gh, gw = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    m = partner_mask
    if m.dim() == 3:
        m = m.unsqueeze(1)
    if m.dim() != 4 or m.shape[1] != 1:
        raise ValueError("partner_mask must have shape [B, H, W] or [B, 1, H, W], got "
                         f"{tuple(partner_mask.shape)}")
    h, w = m.shape[-2:]
    if h % gh or w % gw:
        raise ValueError(f"partner_mask size {h}x{w} must be a multiple of the patch grid {gh}x{gw}")
    m = m.float() if not m.dtype.is_floating_point or m.dtype in (torch.float16, torch.bfloat16) else m
    return F.avg_pool2d(m, (h // gh, w // gw)).flatten(1)


def transmix_lam(cls_attn: Tensor, partner_mask: Tensor, grid_size: int | tuple[int, int] | None = None
                 ) -> Tensor:
    """TransMix label weight of each row's own label: class-token attention mass on its own patches.

    ``lam_i = Σ_n a_in (1 - m_in) / Σ_n a_in`` with ``a`` = ``cls_attn`` ``[B, N]`` (non-negative) and ``m``
    the partner fraction of each patch (``partner_mask`` ``[B, N]`` already per patch, or a pixel mask
    ``[B, (1,) H, W]`` reduced by :func:`patch_fraction` with ``grid_size``). ``1 - lam`` is the attention
    mass on the partner's pasted patches. Rows with zero attention fall back to the area fraction.
    Returns ``[B]`` float32 in ``[0, 1]``; no host synchronisation.
    """
    if partner_mask.dim() == 2:
        frac = partner_mask.float()
    else:
        if grid_size is None:
            raise ValueError("grid_size is required when partner_mask is a pixel mask [B, (1,) H, W]")
        frac = patch_fraction(partner_mask, grid_size)
    a = check_cls_attention(cls_attn, frac.shape[0], frac.shape[1]).clamp_min(0)
    frac = frac.to(a.device, a.dtype)
    total = a.sum(1)
    own = (a * (1 - frac)).sum(1)
    area = 1 - frac.mean(1)
    lam = torch.where(total > 0, own / total.clamp_min(torch.finfo(a.dtype).tiny), area)
    return lam.clamp(0, 1).to(torch.float32)


@dataclass(repr=False)
class TransMixParams(MixParams):
    """:class:`MixParams` plus the CutMix ``boxes`` (one per row; shared in ``batch`` mode)."""

    boxes: Boxes


class TransMix(ModelAwareMixer):
    """TransMix: CutMix inputs, labels from the ViT's class-token attention.

    The input is an ordinary CutMix batch (boxes from :func:`mixkit.sample.functional.sample_boxes`,
    ``lam ~ Beta(alpha, alpha)``); the label weight of the row's own class becomes the class-token attention
    mass on the patches that still show the row (:func:`transmix_lam`) instead of the area. No parameters,
    no extra forward pass: :meth:`training_step` runs ``model.forward_with_attention`` once on the mixed
    batch and returns the mixed cross-entropy of ``out.with_lam(attention_lam)``. Calling the mixer itself
    (``transmix(x, y)``) gives the CutMix batch with area labels plus ``extras["partner_mask"]``
    (``[B, 1, H, W]`` bool, True = partner pixel) and ``extras["area_lam"]`` (``[B]`` float32), for your own
    loop: ``logits, attn = model.forward_with_attention(out.x)``;
    ``out = out.with_lam(transmix_lam(attn, out.extras["partner_mask"], grid_size))``.

    Args: ``alpha``, ``mode``, ``prob``, ``pairing``, ``validate`` as :class:`Mixer` (``lam`` is always the
    exact area before the attention rule replaces it), plus ``label_smoothing``: smoothing applied to each
    label before mixing (the paper trains DeiT with 0.1). Input ``[B, C, H, W]`` floating.

    The paper switches between MixUp and CutMix per batch and applies the attention rule only to the CutMix
    batches; use ``RandomChoice`` over MixUp for the former and TransMix for the latter in your loop.
    """

    name = "transmix"
    paper = "TransMix: Attend to Mix for Vision Transformers (Chen et al., CVPR 2022)"
    paper_url = "https://arxiv.org/abs/2111.09833"
    release = "Beckschen/TransMix"
    requires = frozenset({"attention"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, *, mode: str = "batch", prob: float = 1.0, pairing: str = "roll",
                 label_smoothing: float = 0.0, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> TransMixParams:
        """Partners and ``lam`` (as :class:`Mixer`), then one box of area ``1 - lam`` per row."""
        base = super().draw(shape, generator)
        boxes = sample_boxes(1.0 - base.lam, tuple(shape[2:]), generator, shared=self.mode == "batch")
        return TransMixParams(base.pairs, base.lam, boxes)

    def apply(self, x: Tensor, params: TransMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """CutMix ``x`` ``[B, C, H, W]`` with the boxes; the exact kept area ``[B]`` float32."""
        weight = box_weight(params.boxes, x)
        # lerp with a 0/1 weight: exact copies, no torch.where
        x_out = blend_with_partner(x, params.pairs, weight, out)
        return x_out, (1.0 - params.boxes.area()).to(x.device, non_blocking=True)

    def extras(self, params: TransMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``partner_mask`` (``[B, 1, H, W]`` bool, True = partner pixel) and ``area_lam`` (``[B]``
        float32)."""
        return {"partner_mask": box_weight(params.boxes, x_mixed).bool(),
                "area_lam": (1.0 - params.boxes.area()).to(x_mixed.device, torch.float32, non_blocking=True)}

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """CutMix batch, one ``forward_with_attention``, mixed CE with the attention label weights."""
        _, gh, gw = attention_grid(model)
        out = self(x, y, generator=generator)
        logits, cls_attn = model.forward_with_attention(out.x)
        lam = transmix_lam(cls_attn.detach(), out.extras["partner_mask"], (gh, gw))
        out = out.with_lam(lam)
        return StepOutput(loss=out.loss(logits, label_smoothing=self.label_smoothing), logits=logits,
                          mixed=out)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, label_smoothing={self.label_smoothing}"
