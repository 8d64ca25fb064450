"""SMMix (Chen et al., "SMMix: Self-Motivated Image Mixing for Vision Transformers", ICCV 2023).

Needs the ``"attention"`` model capability with image-token attention (see
:mod:`mixkit.sample.mixers.attention_capture`); the token and consistency losses additionally need
``"tokens"``: ``forward_tokens(x) -> (logits [B, K], patch_tokens [B, N, D])`` and
``head(tokens [..., D]) -> logits [..., K]``. Without a model, :func:`max_min_regions` and
:func:`paste_patches` do the region mixing on tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import sample_beta
from ..model_capabilities import attention_model
from ..pairing import blend_with_partner, make_pairs, partner_rows, weight_view
from .attention_capture import attention_grid, check_cls_attention
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

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
    """:class:`MixParams` (one ``lam`` shared by the batch) plus the clean attention, the patch grid and the
    square region side (in patches), and the token maps :meth:`SMMix.apply` fills in (``token_mask``,
    ``source_of_token``, both ``[B, N]``)."""

    attn: Tensor | None = None
    patch_size: int = 0
    grid: tuple[int, int] = (0, 0)
    side: int = 0
    token_mask: Tensor | None = field(default=None)
    source_of_token: Tensor | None = field(default=None)


class SMMix(ModelAwareMixer):
    """SMMix: self-motivated max-min attention region mixing for ViTs, with token and consistency losses.

    Per batch, SMMix with probability ``switch_prob``, else MixUp (``lam ~ Beta(alpha, alpha)``, labels
    only). An SMMix batch: one no-grad pass of the model in eval mode on the clean images gives each image's
    attention and logits; a square region of ``k x k`` patches, ``k`` uniform over the integers in
    ``[int(s * side_ratio[0]), int(s * side_ratio[1])]`` (``s`` the grid side), is cut from the partner
    where *its* summed attention is highest and pasted where the row's own is lowest
    (:func:`max_min_regions`, :func:`paste_patches`). Loss on the mixed batch, all with ``label_smoothing``:

    * image: soft-target CE with the area weight ``lam = 1 - k^2 / N``;
    * ``token_weight`` x token loss: ``head`` on the mean patch token of the row's own patches with the
      row's label and on the mean of the pasted patches with the partner's label, the two CEs averaged;
    * ``consistency_weight`` x ``KL(softmax(lam z_i + (1 - lam) z_j) || softmax(logits))`` (batch mean)
      with ``z`` the clean logits.

    Calling the mixer mixes one SMMix batch from given attention:
    ``smmix(x [B, C, gh * p, gw * p], y, generator=g, attn=[B, N], patch_size=p, grid=(gh, gw))``; ``lam``
    is the area weight, ``extras``: ``token_mask`` ``[B, N]`` (True = pasted patch), ``source_of_token``
    ``[B, N]`` (the partner patch shown there), ``side`` (int).

    Release: ``ChenMnZ/SMMix: smmix.py`` (the mixer) with ``engine.py`` (losses) and ``deit.py`` (image-token
    attention ``attn[:, :, 1:, 1:].mean((1, 2))`` of the last block; token head on masked mean tokens).
    Defaults from ``main.py``: ``alpha=0.8`` (``--mixup``), ``switch_prob=0.5``, ``side_ratio=(0.25, 0.75)``,
    ``label_smoothing=0.1``, ``token_weight=consistency_weight=1``, ``pairing="flip"``,
    ``attention="image"``.

    Deviations:
      * the token loss uses the model's ``head``; the release trains a second linear ``token_head`` (its
        authors report that sharing the head makes no difference).
      * non-square grids: ``s = min(gh, gw)`` (the release assumes a square grid).
      * ``attention="cls"`` (mixkit's own option): place the region with class-token attention.

    Args: ``alpha`` (MixUp batches, > 0); ``switch_prob`` in ``[0, 1]``; ``side_ratio`` ``(lo, hi)`` with
    ``0 < lo <= hi <= 1``; ``token_weight``, ``consistency_weight`` (>= 0); ``label_smoothing`` in ``[0, 1)``;
    ``attention``: ``"image"`` or ``"cls"``; ``pairing`` as :class:`Mixer`; ``validate``.
    """

    name = "smmix"
    paper = "SMMix: Self-Motivated Image Mixing for Vision Transformers (Chen et al., ICCV 2023)"
    paper_url = "https://arxiv.org/abs/2212.12977"
    release = "ChenMnZ/SMMix: smmix.py"
    requires = frozenset({"attention"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 0.8, *, switch_prob: float = 0.5,
                 side_ratio: tuple[float, float] = (0.25, 0.75), token_weight: float = 1.0,
                 consistency_weight: float = 1.0, label_smoothing: float = 0.1, attention: str = "image",
                 pairing: str = "flip", validate: bool = True) -> None:
        super().__init__(alpha, pairing=pairing, validate=validate)
        if not 0.0 <= float(switch_prob) <= 1.0:
            raise ValueError(f"switch_prob must be in [0, 1], got {switch_prob!r}")
        lo, hi = (float(v) for v in side_ratio)
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"side_ratio must be (lo, hi) with 0 < lo <= hi <= 1, got {side_ratio!r}")
        if not float(token_weight) >= 0 or not float(consistency_weight) >= 0:
            raise ValueError("token_weight and consistency_weight must be >= 0, got "
                             f"{token_weight!r}, {consistency_weight!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if attention not in ("image", "cls"):
            raise ValueError(f"attention must be 'image' or 'cls', got {attention!r}")
        self.switch_prob, self.side_ratio = float(switch_prob), (lo, hi)
        self.token_weight, self.consistency_weight = float(token_weight), float(consistency_weight)
        self.label_smoothing, self.attention = float(label_smoothing), attention
        if self.uses_tokens:  # an instance attribute: the capabilities depend on the configuration
            self.requires = frozenset({"attention", "tokens"})

    @property
    def uses_tokens(self) -> bool:
        """Whether the token term is on (the model then needs ``"tokens"``)."""
        return self.token_weight > 0

    def side_range(self, gh: int, gw: int) -> tuple[int, int]:
        """Smallest and largest region side in patches: ``int(s * lo)``, ``int(s * hi)``, ``s = min(gh, gw)``
        (at least 1)."""
        s = min(gh, gw)
        lo = max(1, int(s * self.side_ratio[0]))
        return lo, max(lo, min(s, int(s * self.side_ratio[1])))

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None, attn: Tensor | None = None, patch_size: int | None = None,
                grid: tuple[int, int] | None = None) -> MixedBatch:
        """Region mixing of ``x`` ``[B, C, gh * p, gw * p]`` from the clean attention ``attn`` ``[B, N]``."""
        g = self.check_call(x, y, generator, out)
        if attn is None or patch_size is None or grid is None:
            raise ValueError("attn, patch_size and grid: SMMix places its region with the clean "
                             "attention [B, N] of x on the patch grid (or use training_step(model, x, y))")
        gh, gw = grid
        n = x.shape[0]
        if x.shape[-2] != gh * patch_size or x.shape[-1] != gw * patch_size:
            raise ValueError(f"x must be [B, C, {gh * patch_size}, {gw * patch_size}] for a {gh}x{gw} "
                             f"grid of {patch_size}-pixel patches, got {tuple(x.shape)}")
        a = check_cls_attention(attn, n, gh * gw).detach()
        pairs = make_pairs(n, self.pairing, g)
        lo, hi = self.side_range(gh, gw)
        side = int(torch.randint(lo, hi + 1, (1,), generator=g))
        lam = torch.full((n,), 1.0 - side * side / (gh * gw))
        params = SMMixParams(pairs, lam, a, int(patch_size), (gh, gw), side)
        x_mixed, lam = self.apply(x, params, out=out)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x_mixed.device, non_blocking=True),
                          lam=lam.to(x_mixed.device, torch.float32, non_blocking=True), y=y,
                          extras=self.extras(params, x_mixed))

    def apply(self, x: Tensor, params: SMMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Paste the partner's most attended ``side x side`` region over the row's least attended one; the
        area weight ``[B]``."""
        if params.attn is None:
            raise ValueError("params.attn: SMMix needs the clean attention [B, N] of x")
        gh, gw = params.grid
        n, k = x.shape[0], params.side
        grid_attn = params.attn.view(n, gh, gw)
        source, target = max_min_regions(grid_attn, partner_rows(grid_attn, params.pairs), (k, k))
        mixed, token_mask, src = paste_patches(x, partner_rows(x, params.pairs), params.patch_size, source,
                                               target, (k, k))
        params.token_mask, params.source_of_token = token_mask, src
        return (mixed if out is None else out.copy_(mixed)), params.lam

    def extras(self, params: SMMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``token_mask``, ``source_of_token`` (both ``[B, N]``) and the region ``side`` (int)."""
        return {"token_mask": params.token_mask, "source_of_token": params.source_of_token,
                "side": params.side}

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """MixUp or SMMix batch (switch), then the release's losses (see the class docstring)."""
        g = self.check_step(model, x, y, generator)
        model = attention_model(model)  # a timm ViT is read through its last block's attention and tokens
        p, gh, gw = attention_grid(model)
        if self.token_weight > 0 and not (callable(getattr(model, "forward_tokens", None))
                                          and callable(getattr(model, "head", None))):
            raise TypeError(f"{type(model).__name__} lacks the 'tokens' capability needed by token_weight: "
                            "forward_tokens(x) -> (logits, patch_tokens [B, N, D]), head(tokens) -> logits")
        sp = self.switch_prob
        if not (sp >= 1.0 or (sp > 0.0 and float(torch.rand(1, generator=g)) < sp)):
            return self._mixup_step(model, x, y, g)
        was_training = model.training
        model.eval()  # the release's clean pass runs in eval mode
        try:
            with torch.no_grad():
                clean_logits, attn = (model.forward_with_attention(x, query="image")
                                      if self.attention == "image" else model.forward_with_attention(x))
        finally:
            model.train(was_training)
        out = self(x, y, generator=g, attn=attn, patch_size=p, grid=(gh, gw))
        if self.token_weight > 0:
            logits, tokens = model.forward_tokens(out.x)
        else:
            logits, tokens = model(out.x), None
        ls = self.label_smoothing
        loss = out.loss(logits, label_smoothing=ls)
        if tokens is not None:
            pasted = out.extras["token_mask"].unsqueeze(-1).to(tokens.dtype)
            own_mean = (tokens * (1 - pasted)).sum(1) / (1 - pasted).sum(1).clamp_min(1)
            pasted_mean = (tokens * pasted).sum(1) / pasted.sum(1).clamp_min(1)
            tok = model.head(torch.cat([own_mean, pasted_mean])).float()
            fine = F.cross_entropy(tok, torch.cat([y, y[out.index]]), label_smoothing=ls)  # = mean of the two
            loss = loss + self.token_weight * fine
        if self.consistency_weight > 0:
            lam = out.lam.to(clean_logits.dtype).view(-1, 1)
            target = torch.softmax(lam * clean_logits + (1 - lam) * clean_logits[out.index], dim=-1).float()
            con = F.kl_div(F.log_softmax(logits.float(), dim=-1), target, reduction="batchmean")
            loss = loss + self.consistency_weight * con
        return StepOutput(loss=loss, logits=logits, mixed=out)

    def _mixup_step(self, model: nn.Module, x: Tensor, y: Tensor, g: torch.Generator | None) -> StepOutput:
        """A MixUp batch: ``lam ~ Beta(alpha, alpha)`` shared by the batch, labels only."""
        pairs = make_pairs(x.shape[0], self.pairing, g)
        lam = sample_beta(self.alpha, 1, g).expand(x.shape[0]).contiguous()
        x_mixed = blend_with_partner(x, pairs, weight_view(1.0 - lam, x))
        out = MixedBatch(x=x_mixed, index=pairs.index.to(x.device, non_blocking=True),
                         lam=lam.to(x.device, torch.float32, non_blocking=True), y=y, extras={})
        logits = model(x_mixed)
        loss = out.loss(logits, label_smoothing=self.label_smoothing)
        return StepOutput(loss=loss, logits=logits, mixed=out)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, switch_prob={self.switch_prob}, side_ratio={self.side_ratio}, "
                f"token_weight={self.token_weight}, consistency_weight={self.consistency_weight}, "
                f"label_smoothing={self.label_smoothing}, attention={self.attention!r}, "
                f"pairing={self.pairing!r}")
