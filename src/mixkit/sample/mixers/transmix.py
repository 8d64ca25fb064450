"""TransMix (Chen et al., "TransMix: Attend to Mix for Vision Transformers", CVPR 2022).

Per batch MixUp or CutMix (timm's switch); on CutMix batches the partner's label weight is the mean of the
pasted area and the class-token attention mass on the pasted patches. Needs the ``"attention"`` model
capability (see :mod:`mixkit.sample.mixers.attention_capture`). Without a model at hand,
:func:`transmix_lam` turns any attention tensor and a partner mask into label weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional.boxes import Boxes, box_weight, place_boxes
from ..lam import check_alpha, sample_lam
from ..model_capabilities import attention_model
from ..pairing import blend_with_partner, make_pairs, weight_view
from .attention_capture import attention_grid, check_cls_attention
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["TransMix", "TransMixParams", "patch_fraction", "transmix_lam"]

_LABELS = ("mean", "attention")
_PATCH_MASKS = ("nearest", "area")


def patch_fraction(partner_mask: Tensor, grid_size: int | tuple[int, int],
                   patch_mask: str = "area") -> Tensor:
    """Partner share of every patch: ``[B, H, W]`` / ``[B, 1, H, W]`` -> ``[B, N]``.

    ``partner_mask`` is 1 (or True) where the pixel was pasted from the partner; ``H`` and ``W`` must be
    multiples of the grid. ``patch_mask="area"``: pixels averaged per patch (exact for any box);
    ``"nearest"``: the top-left pixel of each patch (``nn.Upsample(size=grid)`` in nearest mode, as the
    TransMix release downsamples its box mask), so a patch is 0 or 1. A mask already at patch resolution
    (``H, W == grid``) is returned flattened. Float32 for non-float or half masks.
    """
    gh, gw = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    if patch_mask not in _PATCH_MASKS:
        raise ValueError(f"patch_mask must be one of {_PATCH_MASKS}, got {patch_mask!r}")
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
    if patch_mask == "nearest":
        return m[:, 0, ::h // gh, ::w // gw].flatten(1)
    return F.avg_pool2d(m, (h // gh, w // gw)).flatten(1)


def transmix_lam(cls_attn: Tensor, partner_mask: Tensor, grid_size: int | tuple[int, int] | None = None, *,
                 label: str = "mean", patch_mask: str = "nearest", area_lam: Tensor | None = None) -> Tensor:
    """TransMix label weight of each row's own label ``[B]`` (float32 in ``[0, 1]``; no host sync).

    ``a`` = ``cls_attn`` ``[B, N]`` (non-negative), ``m`` the partner share of each patch (``partner_mask``
    ``[B, N]`` already per patch, or a pixel mask ``[B, (1,) H, W]`` reduced by :func:`patch_fraction` with
    ``grid_size`` and ``patch_mask``). Attention share of the row: ``attn_i = 1 - Σ_n a_in m_in / Σ_n a_in``.
    ``label="mean"`` (paper and release): ``lam_i = (area_i + attn_i) / 2`` with ``area_i`` the kept pixel
    area (``area_lam`` if given, else ``1 -`` the mean of the pixel mask, or of ``m`` for a patch mask);
    ``label="attention"`` (mixkit's own): ``lam_i = attn_i``. Rows with zero attention use the area.
    """
    if label not in _LABELS:
        raise ValueError(f"label must be one of {_LABELS}, got {label!r}")
    if partner_mask.dim() == 2:
        frac = partner_mask.float()
        pixel_area = 1 - frac.mean(1)
    else:
        if grid_size is None:
            raise ValueError("grid_size is required when partner_mask is a pixel mask [B, (1,) H, W]")
        frac = patch_fraction(partner_mask, grid_size, patch_mask)
        pixel_area = 1 - partner_mask.flatten(1).float().mean(1)
    a = check_cls_attention(cls_attn, frac.shape[0], frac.shape[1]).clamp_min(0)
    frac = frac.to(a.device, a.dtype)
    area = (pixel_area if area_lam is None else area_lam).to(a.device, a.dtype)
    total = a.sum(1)
    attn = 1 - (a * frac).sum(1) / total.clamp_min(torch.finfo(a.dtype).tiny)
    attn = torch.where(total > 0, attn, area)
    lam = attn if label == "attention" else 0.5 * (area + attn)
    return lam.clamp(0, 1).to(torch.float32)


def transmix_boxes(cut: Tensor, size: tuple[int, ...], generator: torch.Generator | None,
                   shared: bool) -> Boxes:
    """timm's ``rand_bbox``: side ``cut_k = int(S_k * sqrt(cut))``, box ``[c - cut_k // 2, c + cut_k // 2)``
    around a uniform centre pixel, clipped at the border."""
    ratio = cut.double().clamp(0.0, 1.0).pow(1.0 / len(size))
    cuts = torch.floor(ratio[:, None] * torch.tensor(size, dtype=torch.float64)).long()
    return place_boxes(2 * (cuts // 2), size, generator, shared)


@dataclass(repr=False)
class TransMixParams(MixParams):
    """:class:`MixParams` plus the CutMix ``boxes`` (one per row; shared in ``batch`` mode; empty on a MixUp
    batch) and ``use_cutmix`` (this batch's branch)."""

    boxes: Boxes
    use_cutmix: bool = True


class TransMix(ModelAwareMixer):
    """TransMix: MixUp or CutMix per batch; CutMix labels from the area and the ViT's class-token attention.

    Per batch, CutMix with probability ``switch_prob`` (``lam ~ Beta(alpha, alpha)``, timm's box, label
    weight the kept area), else MixUp (``lam ~ Beta(mixup_alpha, mixup_alpha)``). :meth:`training_step` runs
    ``model.forward_with_attention`` once on the mixed batch; on CutMix batches the label weight becomes
    :func:`transmix_lam` (mean of the area and the attention share) before the soft-target cross-entropy
    with ``label_smoothing``. Calling the mixer itself (``transmix(x, y)``) gives the batch with area labels
    plus ``extras``: ``partner_mask`` (``[B, 1, H, W]`` bool, True = pasted pixel; all False on MixUp
    batches), ``area_lam`` (``[B]`` float32) and ``use_cutmix`` (bool), for your own loop:
    ``logits, attn = model.forward_with_attention(out.x)``; if ``out.extras["use_cutmix"]``:
    ``out = out.with_lam(transmix_lam(attn, out.extras["partner_mask"], grid_size))``.

    Release: ``Beckschen/TransMix: transmix.py`` (``Mixup_transmix``, ``transmix_label``) with ``train.py``.
    Defaults from it (DeiT config ``configs/deit_s_transmix.yaml``): ``alpha=1.0`` (``cutmix: 1.0``),
    ``mixup_alpha=0.8``, ``switch_prob=0.5``, ``label_smoothing=0.1``, ``mode="batch"``, ``pairing="flip"``,
    ``label="mean"``, ``patch_mask="nearest"``. The config also writes ``mixup-switch-prob: 0.8``, but under
    that hyphenated key ``train.py`` keeps its argparse default 0.5; mixkit uses the effective 0.5.

    Deviations (options, mixkit's own; the defaults have none): ``mode="elem"``/``"pair"`` draw a box per
    row (the release asserts batch mode); ``label="attention"``; ``patch_mask="area"``. ``switch_prob=1.0``
    applies the attention labels on every batch (CutMix only).

    Args: ``alpha`` (CutMix), ``mode``, ``prob``, ``pairing``, ``validate`` as :class:`Mixer`; ``mixup_alpha``
    (> 0), ``switch_prob`` in ``[0, 1]``; ``label``: ``"mean"`` or ``"attention"`` (mixkit's own: attention
    only); ``patch_mask``: ``"nearest"`` or ``"area"`` (mixkit's own: exact pasted share per patch);
    ``label_smoothing`` in ``[0, 1)``. Input ``[B, C, H, W]`` floating.
    """

    name = "transmix"
    paper = "TransMix: Attend to Mix for Vision Transformers (Chen et al., CVPR 2022)"
    paper_url = "https://arxiv.org/abs/2111.09833"
    release = "Beckschen/TransMix: transmix.py"
    requires = frozenset({"attention"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, *, mixup_alpha: float = 0.8, switch_prob: float = 0.5,
                 label: str = "mean", patch_mask: str = "nearest", mode: str = "batch", prob: float = 1.0,
                 pairing: str = "flip", label_smoothing: float = 0.1, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        self.mixup_alpha = check_alpha(mixup_alpha, "mixup_alpha")
        if not 0.0 <= float(switch_prob) <= 1.0:
            raise ValueError(f"switch_prob must be in [0, 1], got {switch_prob!r}")
        if label not in _LABELS:
            raise ValueError(f"label must be one of {_LABELS}, got {label!r}")
        if patch_mask not in _PATCH_MASKS:
            raise ValueError(f"patch_mask must be one of {_PATCH_MASKS}, got {patch_mask!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.switch_prob, self.label, self.patch_mask = float(switch_prob), label, patch_mask
        self.label_smoothing = float(label_smoothing)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> TransMixParams:
        """Partners, the branch (CutMix with probability ``switch_prob``), ``lam``, and for CutMix one box of
        area about ``1 - lam`` per row (one per batch in ``batch`` mode)."""
        pairs = make_pairs(shape[0], self.pairing, generator)
        p = self.switch_prob
        use_cutmix = p >= 1.0 or (p > 0.0 and float(torch.rand(1, generator=generator)) < p)
        lam = sample_lam(self.alpha if use_cutmix else self.mixup_alpha, pairs.index, self.mode, generator)
        lam = self.leave_untouched(lam, pairs, generator, 1.0)
        size = tuple(shape[2:])
        if use_cutmix:
            boxes = transmix_boxes(1.0 - lam, size, generator, shared=self.mode == "batch")
        else:
            zero = torch.zeros(shape[0], len(size), dtype=torch.long)
            boxes = Boxes(zero, zero, size)
        return TransMixParams(pairs, lam, boxes, use_cutmix)

    def apply(self, x: Tensor, params: TransMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """CutMix with the boxes (label: the exact kept area) or MixUp with ``lam``; ``[B]`` float32."""
        if params.use_cutmix:
            x_out = blend_with_partner(x, params.pairs, box_weight(params.boxes, x), out)
            return x_out, (1.0 - params.boxes.area()).to(x.device, non_blocking=True)
        x_out = blend_with_partner(x, params.pairs, weight_view(1.0 - params.lam, x), out)
        return x_out, params.lam

    def extras(self, params: TransMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``partner_mask`` (``[B, 1, H, W]`` bool, True = pasted pixel), ``area_lam`` (``[B]`` float32),
        ``use_cutmix`` (bool)."""
        return {"partner_mask": box_weight(params.boxes, x_mixed[:, :1]).bool(),
                "area_lam": (1.0 - params.boxes.area()).to(x_mixed.device, torch.float32, non_blocking=True),
                "use_cutmix": params.use_cutmix}

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Mixed batch, one ``forward_with_attention``, soft-target CE (attention labels on CutMix
        batches)."""
        self.check_step(model, x, y, generator)
        model = attention_model(model)  # a timm ViT is read through its last block's attention
        _, gh, gw = attention_grid(model)
        out = self(x, y, generator=generator)
        logits, cls_attn = model.forward_with_attention(out.x)
        if out.extras["use_cutmix"]:
            lam = transmix_lam(cls_attn.detach(), out.extras["partner_mask"], (gh, gw), label=self.label,
                               patch_mask=self.patch_mask, area_lam=out.extras["area_lam"])
            out = out.with_lam(lam)
        return StepOutput(loss=out.loss(logits, label_smoothing=self.label_smoothing), logits=logits,
                          mixed=out)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, mixup_alpha={self.mixup_alpha}, switch_prob={self.switch_prob}, "
                f"label={self.label!r}, patch_mask={self.patch_mask!r}, "
                f"label_smoothing={self.label_smoothing}")
