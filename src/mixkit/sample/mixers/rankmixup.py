"""RankMixup (Noh et al., "RankMixup: Ranking-Based Mixup Training for Network Calibration", ICCV 2023)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..lam import sample_beta
from ..losses.ranking import mixup_ranking_loss, mndcg_loss, softmax_confidence
from ..pairing import Pairs, make_pairs, partner_rows
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["RankMixup", "RankMixupParams"]


@dataclass(repr=False)
class RankMixupParams(MixParams):
    """The ``num_mixed`` mixups of one step: ``mixups`` (one roll pairing each) and ``lams`` ``[B, M]``
    (float32, CPU). ``pairs``/``lam`` are the first mixup's."""

    mixups: list[Pairs]
    lams: Tensor


class RankMixup(ModelAwareMixer):
    """RankMixup: cross-entropy on the raw batch plus a ranking loss on mixup confidences.

    Mixup labels are not used. Instead the model's confidence (max softmax probability) on mixed samples
    is asked to rank below the confidence on raw ones:

    * ``variant="mrl"`` (mixup ranking loss): one mixup per row, ``max(0, conf(mix) - conf(raw) + margin)``;
    * ``variant="mndcg"`` (mixup normalised DCG): ``num_mixed`` mixups per row with different ``lam``;
      ``1 - NDCG`` of the confidences ranked by ``lam`` (raw sample at ``lam = 1``).

    Loss: ``CE(model(x), y) + weight * ranking``. Raw and mixed inputs go through the model in one forward
    pass (``(1 + num_mixed) * B`` rows for M-NDCG, ``2 * B`` for MRL); :meth:`training_step` does it (no
    model capability required). Calling the mixer, ``rankmixup(x, y)``, gives the first mixup as a
    :class:`MixedBatch`. ``weight``, ``margin`` and ``num_mixed`` defaults are mixkit's, chosen for small
    benchmarks; tune them per task as the paper does. ``x``: floating ``[B, ...]``; ``y``: class ids ``[B]``.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` per row and per mixup.
        variant: ``"mrl"`` or ``"mndcg"``.
        num_mixed: mixups per row for M-NDCG (>= 1; MRL uses 1).
        margin: MRL margin (>= 0).
        weight: weight of the ranking term (>= 0).
    """

    name = "rankmixup"
    aliases = ("rank_mixup",)
    paper = "RankMixup: Ranking-Based Mixup Training for Network Calibration (Noh et al., ICCV 2023)"
    paper_url = "https://arxiv.org/abs/2308.11990"
    release = "cvlab-yonsei/RankMixup"

    def __init__(self, alpha: float = 2.0, variant: str = "mndcg", num_mixed: int = 3, margin: float = 0.1,
                 weight: float = 0.5, *, validate: bool = True) -> None:
        super().__init__(alpha, mode="elem", validate=validate)
        if variant not in ("mrl", "mndcg"):
            raise ValueError(f"variant must be 'mrl' or 'mndcg', got {variant!r}")
        if not isinstance(num_mixed, int) or num_mixed < 1:
            raise ValueError(f"num_mixed must be an int >= 1, got {num_mixed!r}")
        if not float(margin) >= 0 or not float(weight) >= 0:
            raise ValueError(f"margin and weight must be >= 0, got margin={margin!r}, weight={weight!r}")
        self.variant = variant
        self.num_mixed = 1 if variant == "mrl" else num_mixed
        self.margin, self.weight = float(margin), float(weight)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> RankMixupParams:
        """``lam`` for every (mixup, row), then one random roll pairing per mixup."""
        n, m = shape[0], self.num_mixed
        lam = sample_beta(self.alpha, n * m, generator).view(m, n)
        mixups = [make_pairs(n, "roll", generator) for _ in range(m)]  # m is a small constant, not B
        return RankMixupParams(mixups[0], lam[0], mixups, lam.t().contiguous())

    def apply(self, x: Tensor, params: RankMixupParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The first mixup ``lam x + (1 - lam) x[index]`` and its ``lam``."""
        w = params.lam.to(x.device, x.dtype).view(-1, *([1] * (x.dim() - 1)))
        mixed = torch.lerp(partner_rows(x, params.pairs), x, w)
        return (mixed if out is None else out.copy_(mixed)), params.lam

    def mixed_inputs(self, x: Tensor, params: RankMixupParams) -> Tensor:
        """Every mixup of ``x`` stacked as ``[num_mixed * B, ...]`` (mixup-major)."""
        shape = (-1, *([1] * (x.dim() - 1)))
        lams = params.lams.t()
        return torch.cat([torch.lerp(partner_rows(x, p), x, lams[i].to(x.device, x.dtype).view(shape))
                          for i, p in enumerate(params.mixups)])

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """CE on the raw rows plus ``weight`` times MRL or M-NDCG, from one forward pass."""
        g = self.check_call(x, y, generator)
        n = x.shape[0]
        params = self.draw(x.shape, g)
        logits_all = model(torch.cat([x, self.mixed_inputs(x, params)]))
        logits_raw = logits_all[:n]
        ce = F.cross_entropy(logits_raw.float(), y)
        if self.variant == "mrl":
            rank = mixup_ranking_loss(logits_raw, logits_all[n:], self.margin)
        else:
            conf = softmax_confidence(logits_all).view(1 + self.num_mixed, n).t()
            lams = torch.cat([torch.ones(n, 1), params.lams], dim=1).to(conf.device)
            rank = mndcg_loss(conf, lams)
        return StepOutput(loss=ce + self.weight * rank, logits=logits_raw)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, variant={self.variant!r}, num_mixed={self.num_mixed}, "
                f"margin={self.margin}, weight={self.weight}")
