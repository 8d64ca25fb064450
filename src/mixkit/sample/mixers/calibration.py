"""RankMixup (Noh et al., ICCV 2023): calibrate a classifier by ranking the confidences of mixup samples."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..lam import check_alpha, cpu_generator, sample_beta
from ..losses import mixup_ranking_loss, mndcg_loss, softmax_confidence
from ..pairing import make_pairs, partner_rows
from ..registry import register
from ..step import StepOutput
from ..validate import check_inputs, check_labels

__all__ = ["RankMixup"]


@register("rankmixup", "rank_mixup")
class RankMixup(nn.Module):
    """RankMixup: cross-entropy on the raw batch plus a ranking loss on mixup confidences (model-aware).

    Mixup labels are not used. Instead the model's confidence (max softmax probability) on mixed samples
    is asked to rank below the confidence on raw ones:

    * ``variant="mrl"`` (mixup ranking loss): one mixup per row, ``max(0, conf(mix) - conf(raw) + margin)``;
    * ``variant="mndcg"`` (mixup normalised DCG): ``num_mixed`` mixups per row with different ``lam``;
      ``1 - NDCG`` of the confidences ranked by ``lam`` (raw sample at ``lam = 1``).

    Loss: ``CE(model(x), y) + weight * ranking``. Raw and mixed inputs go through the model in one forward
    pass (``(1 + num_mixed) * B`` rows for M-NDCG, ``2 * B`` for MRL). ``training_step`` implements
    :class:`~mixkit.sample.step.ModelAwareMixer` (no model capability required). ``weight``, ``margin`` and
    ``num_mixed`` defaults are mixkit's, chosen for small benchmarks; tune them per task as the paper does.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` per row and per mixup.
        variant: ``"mrl"`` or ``"mndcg"``.
        num_mixed: mixups per row for M-NDCG (>= 1; MRL uses 1).
        margin: MRL margin (>= 0).
        weight: weight of the ranking term (>= 0).
    """

    name = "rankmixup"
    paper = "RankMixup: Ranking-Based Mixup Training for Network Calibration (Noh et al., ICCV 2023)"
    paper_url = "https://arxiv.org/abs/2308.11990"
    requires: frozenset[str] = frozenset()

    def __init__(self, alpha: float = 2.0, variant: str = "mndcg", num_mixed: int = 3, margin: float = 0.1,
                 weight: float = 0.5) -> None:
        super().__init__()
        if variant not in ("mrl", "mndcg"):
            raise ValueError(f"variant must be 'mrl' or 'mndcg', got {variant!r}")
        if not isinstance(num_mixed, int) or num_mixed < 1:
            raise ValueError(f"num_mixed must be an int >= 1, got {num_mixed!r}")
        if not float(margin) >= 0 or not float(weight) >= 0:
            raise ValueError(f"margin and weight must be >= 0, got margin={margin!r}, weight={weight!r}")
        self.alpha, self.variant = check_alpha(alpha), variant
        self.num_mixed = 1 if variant == "mrl" else num_mixed
        self.margin, self.weight = float(margin), float(weight)

    def mixed_inputs(self, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``num_mixed`` mixups of ``x`` as ``[num_mixed * B, ...]`` and their ``lam`` ``[B, num_mixed]``."""
        n, m = x.shape[0], self.num_mixed
        lam = sample_beta(self.alpha, n * m, generator).view(m, n)
        pairs = [make_pairs(n, "roll", generator) for _ in range(m)]  # m is a small constant, not B
        shape = (-1, *([1] * (x.dim() - 1)))
        mixes = [torch.lerp(partner_rows(x, p), x, lam[i].to(x.device, x.dtype).view(shape))
                 for i, p in enumerate(pairs)]
        return torch.cat(mixes), lam.t().contiguous()

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        g = cpu_generator(generator)
        check_inputs(x)
        check_labels(y, x.shape[0])
        n = x.shape[0]
        x_mix, lam = self.mixed_inputs(x, g)
        logits_all = model(torch.cat([x, x_mix]))
        logits_raw = logits_all[:n]
        ce = F.cross_entropy(logits_raw.float(), y)
        if self.variant == "mrl":
            rank = mixup_ranking_loss(logits_raw, logits_all[n:], self.margin)
        else:
            conf = softmax_confidence(logits_all).view(1 + self.num_mixed, n).t()
            lams = torch.cat([torch.ones(n, 1), lam], dim=1).to(conf.device)
            rank = mndcg_loss(conf, lams)
        return StepOutput(loss=ce + self.weight * rank, logits=logits_raw)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """Nothing to update between steps."""

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, variant={self.variant!r}, num_mixed={self.num_mixed}, "
                f"margin={self.margin}, weight={self.weight}")
