"""SMMix (Chen et al., "SMMix: Self-Motivated Image Mixing for Vision Transformers", ICCV 2023).

Needs the ``"attention"`` model capability (see :mod:`mixkit.sample.mixers.attention_capture`); the
fine-grained token labels and feature consistency additionally need ``"tokens"``:
``forward_tokens(x) -> (logits [B, K], cls_attn [B, N], patch_tokens [B, N, D])`` and
``head(tokens [..., D]) -> logits [..., K]`` (the classifier applied to patch tokens). Without a model,
:func:`max_min_regions` and :func:`paste_patches` do the region mixing on tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..pairing import partner_rows
from .attention_capture import attention_grid, check_cls_attention
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput
from .transmix import transmix_lam

__all__ = ["SMMix", "SMMixParams", "max_min_regions", "paste_patches"]


def max_min_regions(attn_grid: Tensor, partner_attn_grid: Tensor, region: tuple[int, int]
                    ) -> tuple[Tensor, Tensor]:
    """SMMix's max-min placement: where to take the partner's patches from and where to paste them.

    ``attn_grid``, ``partner_attn_grid``: ``[B, gh, gw]`` attention of each row and of its partner;
    ``region``: ``(rh, rw)`` region size in patches. Returns ``(source, target)`` top-left corners ``[B, 2]``
    (int64, ``(row, col)``): ``source`` maximises the partner's attention summed over the region, ``target``
    minimises the row's own. Computed with one box filter and one ``argmax``/``argmin`` per tensor.
    """
    rh, rw = region
    gh, gw = attn_grid.shape[-2:]
    if not (1 <= rh <= gh and 1 <= rw <= gw):
        raise ValueError(f"region must fit the patch grid {gh}x{gw}, got {rh}x{rw}")
    own = F.avg_pool2d(attn_grid.unsqueeze(1).float(), (rh, rw), stride=1).flatten(1)
    other = F.avg_pool2d(partner_attn_grid.unsqueeze(1).float(), (rh, rw), stride=1).flatten(1)
    ow = gw - rw + 1
    src, dst = other.argmax(1), own.argmin(1)
    return torch.stack([src // ow, src % ow], 1), torch.stack([dst // ow, dst % ow], 1)


def _to_patches(x: Tensor, p: int) -> Tensor:
    n, c, h, w = x.shape
    t = x.view(n, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(n, (h // p) * (w // p), c * p * p)


def _from_patches(t: Tensor, shape: torch.Size, p: int) -> Tensor:
    n, c, h, w = shape
    return t.view(n, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


def _region_index(corner: Tensor, region: tuple[int, int], gw: int) -> Tensor:
    rh, rw = region
    dy = torch.arange(rh, device=corner.device).view(1, rh, 1)
    dx = torch.arange(rw, device=corner.device).view(1, 1, rw)
    return ((corner[:, 0].view(-1, 1, 1) + dy) * gw + corner[:, 1].view(-1, 1, 1) + dx).flatten(1)


def paste_patches(x: Tensor, partner: Tensor, patch_size: int, source: Tensor, target: Tensor,
                  region: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
    """Paste the ``region`` of ``partner`` at ``source`` into ``x`` at ``target`` (patch units).

    ``x``, ``partner``: ``[B, C, H, W]`` with ``H, W`` multiples of ``patch_size``; ``source``/``target``:
    ``[B, 2]`` corners from :func:`max_min_regions`. Returns ``(mixed [B, C, H, W], token_mask [B, N] bool,
    source_of_token [B, N] int64)``: ``token_mask`` is True on pasted patches and ``source_of_token[b, n]``
    is the partner's patch shown at ``n`` (``n`` itself where the row is its own). One gather, one scatter.
    """
    gw = x.shape[-1] // patch_size
    own, other = _to_patches(x, patch_size), _to_patches(partner, patch_size)
    t_idx, s_idx = _region_index(target, region, gw), _region_index(source, region, gw)
    d = own.shape[-1]
    pasted = other.gather(1, s_idx.unsqueeze(-1).expand(-1, -1, d))
    mixed = own.scatter(1, t_idx.unsqueeze(-1).expand(-1, -1, d), pasted)
    n_tok = own.shape[1]
    token_mask = torch.zeros(x.shape[0], n_tok, dtype=torch.bool, device=x.device).scatter_(1, t_idx, True)
    src = torch.arange(n_tok, device=x.device).expand(x.shape[0], n_tok).scatter(1, t_idx, s_idx)
    return _from_patches(mixed, x.shape, patch_size), token_mask, src


@dataclass(repr=False)
class SMMixParams(MixParams):
    """:class:`MixParams` (one ``lam`` shared by the batch) plus the clean attention and the patch grid the
    region is placed on, and the token maps :meth:`SMMix.apply` fills in (``token_mask``,
    ``source_of_token``, both ``[B, N]``)."""

    cls_attn: Tensor | None = None
    patch_size: int = 0
    grid: tuple[int, int] = (0, 0)
    token_mask: Tensor | None = field(default=None)
    source_of_token: Tensor | None = field(default=None)
    area_lam: Tensor | None = field(default=None)


class SMMix(ModelAwareMixer):
    """SMMix: self-motivated max-min attention region mixing for ViTs.

    Per batch: one no-grad ``forward_with_attention`` on the clean images gives each image's class-token
    attention; a region of ``rh x rw`` patches (area ``1 - lam``, ``lam ~ Beta(alpha, alpha)`` once per batch
    so the region shape is shared) is cut from the partner where *its* attention is highest and pasted where
    the row's own attention is lowest (:func:`max_min_regions`, :func:`paste_patches`). The mixed batch then
    goes through ``forward_with_attention`` and the image label weight is the attention mass on the row's own
    patches (as in TransMix; :func:`transmix_lam`).

    With ``token_weight > 0`` or ``consistency_weight > 0`` the model must also offer ``{"tokens"}`` (see the
    module docstring): fine-grained token labels train ``head`` on every patch token with the label of the
    image the patch came from, and feature consistency pulls each mixed patch token toward the clean token it
    was copied from (cosine distance to the no-grad clean features).

    Simplified relative to the paper: one region size per batch (the paper also draws one ``lam`` per batch);
    the consistency term is a per-token cosine alignment to the clean features rather than the paper's exact
    formulation; paper weights are not reproduced (defaults: 0, i.e. image-level labels only).

    Args: ``alpha``; ``token_weight``, ``consistency_weight`` (>= 0); ``label_smoothing``; ``validate``.
    Partners: a random roll. Calling the mixer needs the clean attention:
    ``smmix(x [B, C, H, W], y, generator=g, cls_attn=[B, N], patch_size=p, grid=(gh, gw))``; ``lam`` of the
    result is the area weight, ``extras``: ``token_mask`` ``[B, N]`` (True = partner patch),
    ``source_of_token`` ``[B, N]``, ``area_lam`` ``[B]``.
    """

    name = "smmix"
    paper = "SMMix: Self-Motivated Image Mixing for Vision Transformers (Chen et al., ICCV 2023)"
    paper_url = "https://arxiv.org/abs/2212.12977"
    release = "ChenMnZ/SMMix"
    requires = frozenset({"attention"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, token_weight: float = 0.0, consistency_weight: float = 0.0,
                 label_smoothing: float = 0.0, *, validate: bool = True) -> None:
        super().__init__(alpha, validate=validate)
        if not float(token_weight) >= 0 or not float(consistency_weight) >= 0:
            raise ValueError("token_weight and consistency_weight must be >= 0, got "
                             f"{token_weight!r}, {consistency_weight!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.token_weight, self.consistency_weight = float(token_weight), float(consistency_weight)
        self.label_smoothing = float(label_smoothing)
        if self.uses_tokens:  # an instance attribute: the capabilities depend on the configuration
            self.requires = frozenset({"attention", "tokens"})

    @property
    def uses_tokens(self) -> bool:
        """Whether the token-label or consistency term is on (the model then needs ``"tokens"``)."""
        return self.token_weight > 0 or self.consistency_weight > 0

    def region_size(self, lam: float, gh: int, gw: int) -> tuple[int, int]:
        """Region ``(rh, rw)`` in patches covering about ``1 - lam`` of the grid (0 if lam rounds to 1)."""
        cut = math.sqrt(max(0.0, 1.0 - lam))
        return min(gh, round(cut * gh)), min(gw, round(cut * gw))

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None, cls_attn: Tensor | None = None, patch_size: int | None = None,
                grid: tuple[int, int] | None = None) -> MixedBatch:
        """Region mixing of ``x`` ``[B, C, gh * p, gw * p]`` from the clean attention ``cls_attn``
        ``[B, N]``."""
        g = self.check_call(x, y, generator, out)
        if cls_attn is None or patch_size is None or grid is None:
            raise ValueError("cls_attn, patch_size and grid: SMMix places its region with the clean "
                             "attention [B, N] of x on the patch grid (or use training_step(model, x, y))")
        gh, gw = grid
        n = x.shape[0]
        if x.shape[-2] != gh * patch_size or x.shape[-1] != gw * patch_size:
            raise ValueError(f"x must be [B, C, {gh * patch_size}, {gw * patch_size}] for a {gh}x{gw} "
                             f"grid of {patch_size}-pixel patches, got {tuple(x.shape)}")
        attn = check_cls_attention(cls_attn, n, gh * gw).detach()
        base = self.draw(x.shape, g)
        params = SMMixParams(base.pairs, base.lam, attn, int(patch_size), (gh, gw))
        x_mixed, lam = self.apply(x, params, out=out)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x_mixed.device, non_blocking=True),
                          lam=lam.to(x_mixed.device, torch.float32, non_blocking=True), y=y,
                          extras=self.extras(params, x_mixed))

    def apply(self, x: Tensor, params: SMMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Paste the partner's most attended region over the row's least attended one; the area weight."""
        if params.cls_attn is None:
            raise ValueError("params.cls_attn: SMMix needs the clean attention [B, N] of x")
        gh, gw = params.grid
        n = x.shape[0]
        rh, rw = self.region_size(float(params.lam[0]), gh, gw)
        if rh == 0 or rw == 0 or n == 1:
            params.source_of_token = torch.arange(gh * gw, device=x.device).expand(n, -1)
            params.token_mask = torch.zeros(n, gh * gw, dtype=torch.bool, device=x.device)
            params.area_lam = torch.ones(n, device=x.device)
            return (x if out is None else out.copy_(x)), params.area_lam
        grid_attn = params.cls_attn.view(n, gh, gw)
        source, target = max_min_regions(grid_attn, partner_rows(grid_attn, params.pairs), (rh, rw))
        mixed, token_mask, src = paste_patches(x, partner_rows(x, params.pairs), params.patch_size, source,
                                               target, (rh, rw))
        params.token_mask, params.source_of_token = token_mask, src
        params.area_lam = 1.0 - token_mask.float().mean(1)
        return (mixed if out is None else out.copy_(mixed)), params.area_lam

    def extras(self, params: SMMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``token_mask``, ``source_of_token`` (both ``[B, N]``) and ``area_lam`` (``[B]`` float32)."""
        return {"token_mask": params.token_mask, "source_of_token": params.source_of_token,
                "area_lam": params.area_lam}

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Clean attention (no grad), region mixing, attention labels, optional token and consistency
        terms."""
        p, gh, gw = attention_grid(model)
        use_tokens = self.uses_tokens
        if use_tokens and not (callable(getattr(model, "forward_tokens", None))
                               and callable(getattr(model, "head", None))):
            raise TypeError(f"{type(model).__name__} lacks the 'tokens' capability needed by token_weight / "
                            "consistency_weight: forward_tokens(x) -> (logits, cls_attn, "
                            "patch_tokens [B, N, D]) and head(tokens) -> logits")
        with torch.no_grad():
            if use_tokens:
                _, clean_attn, clean_tokens = model.forward_tokens(x)
            else:
                _, clean_attn = model.forward_with_attention(x)
        out = self(x, y, generator=generator, cls_attn=clean_attn, patch_size=p, grid=(gh, gw))
        if use_tokens:
            logits, attn, tokens = model.forward_tokens(out.x)
        else:
            logits, attn = model.forward_with_attention(out.x)
        out = out.with_lam(transmix_lam(attn.detach(), out.extras["token_mask"].float()))
        loss = out.loss(logits, label_smoothing=self.label_smoothing)
        if use_tokens:
            mask = out.extras["token_mask"]
            if self.token_weight > 0:
                token_labels = torch.where(mask, y[out.index].view(-1, 1), y.view(-1, 1))
                tok_logits = model.head(tokens)
                tok_loss = F.cross_entropy(tok_logits.flatten(0, 1).float(), token_labels.flatten(),
                                           label_smoothing=self.label_smoothing)
                loss = loss + self.token_weight * tok_loss
            if self.consistency_weight > 0:
                # clean feature each mixed token was copied from: own token, or the partner's source token
                ref = _reference_tokens(clean_tokens, out.index, mask, out.extras["source_of_token"])
                cons = (1 - F.cosine_similarity(tokens.float(), ref.float(), dim=-1)).mean()
                loss = loss + self.consistency_weight * cons
        return StepOutput(loss=loss, logits=logits, mixed=out)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, token_weight={self.token_weight}, "
                f"consistency_weight={self.consistency_weight}, label_smoothing={self.label_smoothing}")


def _reference_tokens(clean: Tensor, index: Tensor, mask: Tensor, src: Tensor) -> Tensor:
    """Clean token shown at each position of the mixed image: own token ``n`` or the partner's ``src[n]``."""
    d = clean.shape[-1]
    partner_tok = clean[index].gather(1, src.unsqueeze(-1).expand(-1, -1, d))
    return torch.where(mask.unsqueeze(-1), partner_tok, clean)
