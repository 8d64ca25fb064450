"""Attentive CutMix (Walawalkar et al., "Attentive CutMix: An Enhanced Data Augmentation Approach for Deep
Learning Based Image Classification", ICASSP 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..functional.grid_cells import cells_to_pixels
from ..model_capabilities import feature_map
from ..pairing import blend_with_partner
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["AttentiveMix", "AttentiveMixParams", "features_of"]


def features_of(model: nn.Module, x: Tensor) -> Tensor:
    """``model.forward_features(x)`` as ``[B, C, h, w]`` (a timm ViT's tokens on their patch grid), with a
    clear error when the model lacks it; see :func:`mixkit.sample.model_capabilities.feature_map`."""
    return feature_map(model, x)


@dataclass(repr=False)
class AttentiveMixParams(MixParams):
    """:class:`MixParams` plus the feature maps ``[B, C, h, w]`` of the call's ``x`` and the pasted cells
    ``[B, h, w]`` bool that :meth:`AttentiveMix.apply` fills in."""

    features: Tensor | None = None
    cells: Tensor | None = None


class AttentiveMix(ModelAwareMixer):
    """Attentive CutMix: paste the partner's ``top_k`` most activated cells of its final feature map (grid
    ``h x w``, cell activation = channel sum) at the same cells of the row.

    ``features``: ``[B, C, h, w]`` feature maps of ``x`` (the paper uses a pretrained network; the model-aware
    :meth:`training_step` uses ``teacher.forward_features`` if a ``teacher`` is given, else the trained
    model's own, under ``no_grad``). ``top_k``: cells pasted per row (the paper: 6 of a 7 x 7 grid); ``None``
    draws ``lam ~ Beta(alpha, alpha)`` and pastes ``round((1 - lam) h w)`` cells. ``lam`` is the exact
    fraction of pixels kept (cells follow ``floor(i * h / H)``, so uneven cells are counted exactly), on the
    device. The ranking is one ``argsort`` over the batch (no loop, no host sync). Call:
    ``attentivemix(x [B, C, H, W], y, generator=g, features=f)``; ``extras["cells"]``: the pasted cells.

    Release: ``xden2331/attentive_cutmix: attentive_transform.py`` (with ``attentive_image.py``): the
    ``k = 6`` top cells of a pretrained ResNet-50's 7 x 7 map of one image pasted onto another, label
    weight ``k / 49`` for the pasted image. Defaults from it: ``top_k=6``, fixed (``lam`` not drawn).

    Deviations:
        * cells are ranked by the channel sum of the map (openmixup's ``attentivemix.py`` uses the channel
          mean: same ranking); the authors' transform ranks by the map's last channel.
        * the partner is a row of the batch (roll pairing), not a random dataset image; the map comes from
          ``teacher`` (the paper: a pretrained network) or, without one, the trained model itself.
        * ``top_k=None`` (``lam ~ Beta``, openmixup's "attentivemix+") is an option.
    """

    name = "attentivemix"
    aliases = ("attentive_cutmix",)
    paper = ("Attentive CutMix: An Enhanced Data Augmentation Approach for Deep Learning Based Image "
             "Classification (Walawalkar et al., ICASSP 2020)")
    paper_url = "https://arxiv.org/abs/2003.13048"
    release = "xden2331/attentive_cutmix: attentive_transform.py"
    requires = frozenset({"features"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 1.0, top_k: int | None = 6, teacher: nn.Module | None = None, *,
                 mode: str = "batch", prob: float = 1.0, pairing: str = "roll",
                 validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
            raise ValueError(f"top_k must be a non-negative int or None, got {top_k!r}")
        self.top_k = top_k
        self.teacher = teacher

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None, features: Tensor | None = None) -> MixedBatch:
        g = self.check_call(x, y, generator, out)
        if features is None:
            raise ValueError("features: AttentiveMix needs the feature maps [B, C, h, w] of x "
                             "(pass features=, "
                             "or use training_step(model, x, y) with a model that has forward_features)")
        if features.dim() != 4 or features.shape[0] != x.shape[0]:
            raise ValueError(f"features must have shape [B, C, h, w] with B = {x.shape[0]}, "
                             f"got {tuple(features.shape)}")
        base = self.draw(x.shape, g)
        params = AttentiveMixParams(base.pairs, base.lam, features)
        x_mixed, lam = self.apply(x, params, out)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x_mixed.device, non_blocking=True),
                          lam=lam.to(x_mixed.device, torch.float32, non_blocking=True), y=y,
                          extras=self.extras(params, x_mixed))

    def apply(self, x: Tensor, params: AttentiveMixParams,
              out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Paste the partner's most activated cells; the exact kept fraction ``[B]`` float32 on the device."""
        features = params.features
        if features is None:
            raise ValueError("params.features: AttentiveMix needs the feature maps [B, C, h, w] of x")
        lam = params.lam
        b, _, h, w = x.shape
        fh, fw = features.shape[-2:]
        cells = fh * fw
        if self.top_k is not None and self.top_k > cells:
            raise ValueError(f"top_k={self.top_k} exceeds the {cells} cells of the {fh} x {fw} feature map")
        k = (1.0 - lam) * cells if self.top_k is None else torch.where(lam < 1.0, float(self.top_k), 0.0)
        k = k.round().long().to(x.device, non_blocking=True)
        idx = params.pairs.index.to(x.device, non_blocking=True)
        score = features.detach().float().sum(1).flatten(1)[idx]  # partner's activation per cell [B, hw]
        order = score.argsort(1, descending=True)
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(cells, device=x.device).expand(b, -1))
        take = (rank < k.view(-1, 1)).view(b, fh, fw)
        mask = cells_to_pixels(take.to(x.dtype), h, w)  # 0/1 weights: lerp is an exact copy
        params.cells = take
        return blend_with_partner(x, params.pairs, mask.unsqueeze(1), out), 1.0 - mask.float().mean((1, 2))

    def extras(self, params: AttentiveMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``cells``: the pasted cells (``[B, h, w]`` bool)."""
        return {"cells": params.cells}

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Feature maps from ``teacher`` (or ``model``) without gradient, mix, one forward, mixed CE."""
        self.check_step(model, x, y, generator)
        with torch.no_grad():
            feats = features_of(self.teacher if self.teacher is not None else model, x)
        out = self(x, y, generator=generator, features=feats)
        logits = model(out.x)
        return StepOutput(loss=out.loss(logits), logits=logits, mixed=out)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, top_k={self.top_k}"
