"""Attention-aware mixing for Vision Transformers: TransMix (CVPR 2022) and SMMix (ICCV 2023).

Reading attention from your model
---------------------------------
Both methods are model-aware (:class:`~mixkit.sample.step.ModelAwareMixer`, ``requires = {"attention"}``):
the model must offer

* ``forward_with_attention(x) -> (logits [B, K], cls_attn [B, N])``: the class token's attention to the ``N``
  patch tokens (last block, averaged over heads, class token's self-attention dropped, patches in row-major
  order of the patch grid);
* ``patch_size`` (int) and ``grid_size`` (int or ``(gh, gw)``) attributes.

``mixkit.bench.models.TinyViT`` has all three. For another ViT, wrap it: capture the last block's softmax
attention ``[B, heads, 1 + N, 1 + N]`` with a forward hook and return ``w[:, :, 0, 1:].mean(1)`` (for timm
ViTs: set ``blocks[-1].attn.fused_attn = False`` and hook ``blocks[-1].attn.attn_drop``; see
``docs/label-aware.md``). Without a model at hand, use the plain functions: :func:`transmix_lam` turns any
attention tensor and a partner mask into label weights, :func:`max_min_regions` / :func:`paste_patches`
do SMMix's region mixing on tensors.

SMMix's fine-grained token labels and feature consistency additionally need ``requires = {"tokens"}``:
``forward_tokens(x) -> (logits [B, K], cls_attn [B, N], patch_tokens [B, N, D])`` and
``head(tokens [..., D]) -> logits [..., K]`` (the classifier applied to patch tokens).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import check_alpha, cpu_generator, sample_beta
from ..masks import box_weight, sample_boxes
from ..pairing import blend_with_partner, make_pairs, partner_rows
from ..registry import register
from ..step import StepOutput
from ..validate import check_inputs, check_labels
from .cut import CutMix

__all__ = ["AttentionCapture", "SMMix", "TransMix", "max_min_regions", "paste_patches", "patch_fraction",
           "transmix_lam"]


# ------------------------------------------------------------------------------------ model capability
def _grid(model: nn.Module) -> tuple[int, int, int]:
    """``(patch_size, gh, gw)`` of an attention-capable model, or a TypeError naming what is missing."""
    if not callable(getattr(model, "forward_with_attention", None)) or not hasattr(model, "patch_size") \
            or not hasattr(model, "grid_size"):
        raise TypeError(
            f"{type(model).__name__} lacks the 'attention' capability: it needs forward_with_attention(x) -> "
            "(logits [B, K], cls_attn [B, N_patches]) and patch_size / grid_size attributes "
            "(see mixkit.sample.mixers.attention)")
    g = model.grid_size
    gh, gw = (g, g) if isinstance(g, int) else (int(g[0]), int(g[1]))
    return int(model.patch_size), gh, gw


def _check_attn(cls_attn: Tensor, n: int, num_patches: int) -> Tensor:
    if not isinstance(cls_attn, Tensor) or cls_attn.shape != (n, num_patches):
        raise ValueError(f"cls_attn must have shape [B, N_patches] = [{n}, {num_patches}], got "
                         f"{tuple(getattr(cls_attn, 'shape', ())) or type(cls_attn).__name__}")
    return cls_attn.float() if cls_attn.dtype in (torch.float16, torch.bfloat16) else cls_attn


class AttentionCapture(nn.Module):
    """Give any ViT the ``"attention"`` capability by hooking the module that emits its attention weights.

    ``AttentionCapture(model, weights_module, patch_size, grid_size, num_prefix_tokens=1)`` wraps ``model``;
    ``weights_module`` is the sub-module whose *output* is the last block's softmax attention
    ``[B, heads, T, T]`` (for timm ViTs: ``model.blocks[-1].attn.attn_drop`` after setting
    ``model.blocks[-1].attn.fused_attn = False``; in a hand-written ViT, any ``nn.Dropout``/``nn.Identity``
    applied to the softmax). ``forward(x)`` is the model's; ``forward_with_attention(x)`` returns
    ``(logits, cls_attn [B, N])`` with ``cls_attn = w[:, :, 0, num_prefix_tokens:].mean(1)`` (the class
    token's attention to the patch tokens, averaged over heads). The wrapper holds no tensor between calls.
    """

    capabilities = frozenset({"attention"})

    def __init__(self, model: nn.Module, weights_module: nn.Module, patch_size: int,
                 grid_size: int | tuple[int, int], num_prefix_tokens: int = 1) -> None:
        super().__init__()
        if not isinstance(weights_module, nn.Module):
            raise TypeError("weights_module must be the nn.Module whose output is the attention weights")
        if not isinstance(num_prefix_tokens, int) or num_prefix_tokens < 1:
            raise ValueError(f"num_prefix_tokens must be an int >= 1 (the class token first), got "
                             f"{num_prefix_tokens!r}")
        self.model, self.patch_size, self.grid_size = model, int(patch_size), grid_size
        self.num_prefix_tokens = num_prefix_tokens
        self._captured: list[Tensor] = []
        weights_module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: object, output: Tensor) -> None:
        if self._recording:
            self._captured.append(output)

    _recording = False

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def forward_with_attention(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._recording, self._captured = True, []
        try:
            logits = self.model(x)
        finally:
            self._recording = False
        if not self._captured:
            raise RuntimeError("weights_module did not run during the forward pass (for timm ViTs set "
                               "blocks[-1].attn.fused_attn = False so the attention weights exist)")
        w = self._captured[-1]
        self._captured = []
        if w.dim() != 4 or w.shape[-1] != w.shape[-2]:
            raise ValueError("weights_module must output attention weights [B, heads, T, T], got "
                             f"{tuple(w.shape)}")
        return logits, w[:, :, 0, self.num_prefix_tokens:].mean(1)


# ------------------------------------------------------------------------------------ TransMix
def patch_fraction(partner_mask: Tensor, grid_size: int | tuple[int, int]) -> Tensor:
    """Fraction of every patch that comes from the partner: ``[B, H, W]`` / ``[B, 1, H, W]`` -> ``[B, N]``.

    ``partner_mask`` is 1 (or True) where the pixel was pasted from the partner. Pixels are averaged per
    patch (exact area for any box, patch-aligned or not); ``H`` and ``W`` must be multiples of the grid.
    A mask already at patch resolution (``H, W == grid``) is returned flattened.
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
    a = _check_attn(cls_attn, frac.shape[0], frac.shape[1]).clamp_min(0)
    frac = frac.to(a.device, a.dtype)
    total = a.sum(1)
    own = (a * (1 - frac)).sum(1)
    area = 1 - frac.mean(1)
    lam = torch.where(total > 0, own / total.clamp_min(torch.finfo(a.dtype).tiny), area)
    return lam.clamp(0, 1).to(torch.float32)


@register("transmix")
class TransMix(CutMix):
    """TransMix (Chen et al., CVPR 2022): CutMix inputs, labels from the ViT's class-token attention.

    The input is an ordinary CutMix batch (boxes from :func:`mixkit.sample.masks.sample_boxes`, ``lam ~
    Beta(alpha, alpha)``); the label weight of the row's own class becomes the class-token attention mass
    on the patches that still show the row (:func:`transmix_lam`) instead of the area. No parameters, no
    extra forward pass: :meth:`training_step` runs ``model.forward_with_attention`` once on the mixed batch
    and returns the mixed cross-entropy of ``out.with_lam(attention_lam)``. Calling the mixer itself
    (``transmix(x, y)``) gives the CutMix batch with area labels plus ``extras["partner_mask"]``
    (``[B, 1, H, W]`` bool, True = partner pixel) and ``extras["area_lam"]``, for your own loop:
    ``logits, attn = model.forward_with_attention(out.x)``;
    ``out = out.with_lam(transmix_lam(attn, out.extras["partner_mask"], grid_size))``.

    Args: as :class:`~mixkit.sample.mixers.cut.CutMix` (``alpha``, ``mode``, ``prob``, ``pairing``;
    ``lam`` is always the exact area before the attention rule replaces it), plus ``smoothing``: label
    smoothing applied to each label before mixing (the paper trains DeiT with 0.1). Input ``[B, C, H, W]``.

    The paper switches between MixUp and CutMix per batch and applies the attention rule only to the CutMix
    batches; use ``RandomChoice`` over MixUp for the former and TransMix for the latter in your loop.
    """

    name = "transmix"
    paper = "TransMix: Attend to Mix for Vision Transformers (Chen et al., CVPR 2022)"
    paper_url = "https://arxiv.org/abs/2111.09833"
    requires = frozenset({"attention"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, *, mode: str = "batch", prob: float = 1.0, pairing: str = "roll",
                 smoothing: float = 0.0, validate: bool = True) -> None:
        super().__init__(alpha, correct_lam=True, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if not 0.0 <= float(smoothing) < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
        self.smoothing = float(smoothing)

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None
                ) -> MixedBatch:
        """CutMix ``x`` ``[B, C, H, W]``; ``out.lam`` = exact area, ``extras["partner_mask"]`` the boxes."""
        g = cpu_generator(generator)
        if self.validate:
            check_inputs(x, 4, 4)
            check_labels(y, x.shape[0])
        pairs, lam = self.draw(x.shape[0], g)
        boxes = sample_boxes(1.0 - lam, tuple(x.shape[2:]), g, shared=self.mode == "batch")
        weight = box_weight(boxes, x)
        mask = weight.bool()
        x_out = blend_with_partner(x, pairs, weight)  # lerp with a 0/1 weight: exact copies, no torch.where
        area = (1.0 - boxes.area()).to(x.device, non_blocking=True)
        return MixedBatch(x=x_out, index=pairs.index.to(x.device, non_blocking=True), lam=area, y=y,
                          extras={"partner_mask": mask, "area_lam": area})

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        _, gh, gw = _grid(model)
        out = self(x, y, generator=generator)
        logits, cls_attn = model.forward_with_attention(out.x)
        lam = transmix_lam(cls_attn.detach(), out.extras["partner_mask"], (gh, gw))
        out = out.with_lam(lam)
        return StepOutput(loss=out.loss(logits, smoothing=self.smoothing), logits=logits, mixed=out)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """Nothing to update between steps."""

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, smoothing={self.smoothing}"


# ------------------------------------------------------------------------------------ SMMix
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


@register("smmix")
class SMMix(nn.Module):
    """SMMix (Chen et al., ICCV 2023): self-motivated max-min attention region mixing for ViTs.

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

    Args: ``alpha``; ``token_weight``, ``consistency_weight`` (>= 0); ``smoothing`` (label smoothing).
    """

    name = "smmix"
    paper = "SMMix: Self-Motivated Image Mixing for Vision Transformers (Chen et al., ICCV 2023)"
    paper_url = "https://arxiv.org/abs/2212.12977"

    def __init__(self, alpha: float = 1.0, token_weight: float = 0.0, consistency_weight: float = 0.0,
                 smoothing: float = 0.0) -> None:
        super().__init__()
        self.alpha = check_alpha(alpha)
        if not float(token_weight) >= 0 or not float(consistency_weight) >= 0:
            raise ValueError("token_weight and consistency_weight must be >= 0, got "
                             f"{token_weight!r}, {consistency_weight!r}")
        if not 0.0 <= float(smoothing) < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
        self.token_weight, self.consistency_weight = float(token_weight), float(consistency_weight)
        self.smoothing = float(smoothing)

    @property
    def requires(self) -> frozenset[str]:  # type: ignore[override]
        tokens = self.token_weight > 0 or self.consistency_weight > 0
        return frozenset({"attention", "tokens"} if tokens else {"attention"})

    def region_size(self, lam: float, gh: int, gw: int) -> tuple[int, int]:
        """Region ``(rh, rw)`` in patches covering about ``1 - lam`` of the grid (0 if lam rounds to 1)."""
        cut = math.sqrt(max(0.0, 1.0 - lam))
        return min(gh, round(cut * gh)), min(gw, round(cut * gw))

    def mix(self, x: Tensor, y: Tensor | None, cls_attn: Tensor, patch_size: int, grid: tuple[int, int], *,
            generator: torch.Generator | None = None) -> MixedBatch:
        """Region mixing from clean attention ``cls_attn`` ``[B, N]``; ``lam`` is the area weight.

        ``extras``: ``token_mask`` ``[B, N]`` (True = partner patch), ``source_of_token`` ``[B, N]``.
        """
        g = cpu_generator(generator)
        check_inputs(x, 4, 4)
        check_labels(y, x.shape[0])
        gh, gw = grid
        n = x.shape[0]
        if x.shape[-2] != gh * patch_size or x.shape[-1] != gw * patch_size:
            raise ValueError(f"x must be [B, C, {gh * patch_size}, {gw * patch_size}] for a {gh}x{gw} grid "
                             "of "
                             f"{patch_size}-pixel patches, got {tuple(x.shape)}")
        a = _check_attn(cls_attn, n, gh * gw).detach()
        pairs = make_pairs(n, "roll", g)
        lam = float(sample_beta(self.alpha, 1, g))
        rh, rw = self.region_size(lam, gh, gw)
        index = pairs.index.to(x.device, non_blocking=True)
        if rh == 0 or rw == 0 or n == 1:
            ones = torch.ones(n, device=x.device)
            src = torch.arange(gh * gw, device=x.device).expand(n, -1)
            none = torch.zeros(n, gh * gw, dtype=torch.bool, device=x.device)
            return MixedBatch(x=x, index=index, lam=ones, y=y,
                              extras={"token_mask": none, "source_of_token": src, "area_lam": ones})
        grid_attn = a.view(n, gh, gw)
        source, target = max_min_regions(grid_attn, partner_rows(grid_attn, pairs), (rh, rw))
        mixed, token_mask, src = paste_patches(x, partner_rows(x, pairs), patch_size, source, target,
                                               (rh, rw))
        area = 1.0 - token_mask.float().mean(1)
        return MixedBatch(x=mixed, index=index, lam=area, y=y,
                          extras={"token_mask": token_mask, "source_of_token": src, "area_lam": area})

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        p, gh, gw = _grid(model)
        use_tokens = self.token_weight > 0 or self.consistency_weight > 0
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
        out = self.mix(x, y, clean_attn, p, (gh, gw), generator=generator)
        if use_tokens:
            logits, attn, tokens = model.forward_tokens(out.x)
        else:
            logits, attn = model.forward_with_attention(out.x)
        out = out.with_lam(transmix_lam(attn.detach(), out.extras["token_mask"].float()))
        loss = out.loss(logits, smoothing=self.smoothing)
        if use_tokens:
            mask = out.extras["token_mask"]
            if self.token_weight > 0:
                token_labels = torch.where(mask, y[out.index].view(-1, 1), y.view(-1, 1))
                tok_logits = model.head(tokens)
                tok_loss = F.cross_entropy(tok_logits.flatten(0, 1).float(), token_labels.flatten(),
                                           label_smoothing=self.smoothing)
                loss = loss + self.token_weight * tok_loss
            if self.consistency_weight > 0:
                # clean feature each mixed token was copied from: own token, or the partner's source token
                ref = _reference_tokens(clean_tokens, out.index, mask, out.extras["source_of_token"])
                cons = (1 - F.cosine_similarity(tokens.float(), ref.float(), dim=-1)).mean()
                loss = loss + self.consistency_weight * cons
        return StepOutput(loss=loss, logits=logits, mixed=out)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """Nothing to update between steps."""

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, token_weight={self.token_weight}, "
                f"consistency_weight={self.consistency_weight}, smoothing={self.smoothing}")


def _reference_tokens(clean: Tensor, index: Tensor, mask: Tensor, src: Tensor) -> Tensor:
    """Clean token shown at each position of the mixed image: own token ``n`` or the partner's ``src[n]``."""
    d = clean.shape[-1]
    partner_tok = clean[index].gather(1, src.unsqueeze(-1).expand(-1, -1, d))
    return torch.where(mask.unsqueeze(-1), partner_tok, clean)
