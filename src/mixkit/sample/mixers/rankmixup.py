"""RankMixup (Noh et al., "RankMixup: Ranking-Based Mixup Training for Network Calibration", ICCV 2023)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import is_class_ids
from ..lam import sample_lam
from ..losses.ranking import _MRL_MASKS, mixup_ranking_loss, mixup_relevance, mndcg_loss, softmax_confidence
from ..pairing import Pairs, make_pairs, partner_rows
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput, check_step_labels

__all__ = ["RankMixup", "RankMixupParams"]


@dataclass(repr=False)
class RankMixupParams(MixParams):
    """The ``num_mixed`` mixups of one step: ``mixups`` (one pairing each) and ``lams`` ``[B, M]``
    (float32, CPU). ``pairs``/``lam`` are the first mixup's."""

    mixups: list[Pairs]
    lams: Tensor


class RankMixup(ModelAwareMixer):
    """RankMixup: cross-entropy on the raw batch plus a ranking loss between raw and mixup outputs.

    Mixup labels are not trained on; they only rank. Per step: ``num_mixed`` mixups of the batch, each with
    its own pairing and ``lam ~ Beta(alpha, alpha)`` (one per mixup in ``mode="batch"``, as released);
    the raw batch and the stacked mixups go through the model in two forward passes (as released, so
    batch-norm statistics are per pass). Loss ``CE(model(x), y) + weight * ranking`` with

    * ``variant="mrl"``: :func:`~mixkit.sample.losses.ranking.mixup_ranking_loss` on the max logits,
      ``max(0, max z(mix) - max z(raw) + margin)``, mixups of two samples of one class masked (``mrl_mask``);
    * ``variant="mndcg"``: :func:`~mixkit.sample.losses.ranking.mndcg_loss` over the raw sample and its
      ``num_mixed`` mixups: confidences against the label values ``max(lam, 1 - lam)`` (1 when both samples
      share a class), symmetric ratio of DCG and ideal DCG.

    Calling the mixer, ``rankmixup(x, y)``, gives the first mixup as a :class:`MixedBatch`.
    ``x``: floating ``[B, ...]``; ``y``: class ids ``[B]``.

    Release: ``cvlab-yonsei/RankMixup: calibrate/losses/rankmixup.py`` (losses) and
    ``calibrate/net/resnet_mixup.py`` (``mixup_process``, ``forward_multimixup``). Defaults from its CIFAR
    configs (``configs/loss/mrl.yaml``, ``mndcg.yaml``, ``configs/model/resnet50_mixup.yaml``): ``alpha=2.0``
    (1.0 for Tiny-ImageNet), ``margin=2.0`` (1.0 for Tiny-ImageNet), ``weight=0.1``, ``num_mixed=3`` for
    M-NDCG and 1 for MRL, ``mode="batch"``, ``pairing="permute"``.

    Deviations:
      * same-class pairs are found from the labels; the release compares the mixed label with 1.0 in float.
      * M-NDCG ranks ties of relevance in mixup order (stable); the release's ``argsort`` leaves them open.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``.
        variant: ``"mndcg"`` or ``"mrl"``.
        num_mixed: mixups per step for M-NDCG (>= 1; MRL uses 1).
        margin: MRL margin on the max logits (>= 0).
        weight: weight of the ranking term (>= 0).
        mode: ``"batch"`` (one ``lam`` per mixup, release) or ``"elem"`` (one per row, mixkit's own).
        pairing: ``"permute"`` (release), ``"roll"`` or ``"flip"``.
        mrl_mask: ``"batch"`` (release: hinges scaled by the fraction of different-class pairs) or ``"row"``
            (mixkit's own: same-class rows contribute 0).
    """

    name = "rankmixup"
    aliases = ("rank_mixup",)
    paper = "RankMixup: Ranking-Based Mixup Training for Network Calibration (Noh et al., ICCV 2023)"
    paper_url = "https://arxiv.org/abs/2308.11990"
    release = "cvlab-yonsei/RankMixup: calibrate/losses/rankmixup.py"

    def __init__(self, alpha: float = 2.0, variant: str = "mndcg", num_mixed: int = 3, margin: float = 2.0,
                 weight: float = 0.1, *, mode: str = "batch", pairing: str = "permute",
                 mrl_mask: str = "batch", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, pairing=pairing, validate=validate)
        if variant not in ("mrl", "mndcg"):
            raise ValueError(f"variant must be 'mrl' or 'mndcg', got {variant!r}")
        if self.mode == "pair":
            raise ValueError("mode must be 'batch' or 'elem' for RankMixup, got 'pair'")
        if not isinstance(num_mixed, int) or num_mixed < 1:
            raise ValueError(f"num_mixed must be an int >= 1, got {num_mixed!r}")
        if not float(margin) >= 0 or not float(weight) >= 0:
            raise ValueError(f"margin and weight must be >= 0, got margin={margin!r}, weight={weight!r}")
        if mrl_mask not in _MRL_MASKS:
            raise ValueError(f"mrl_mask must be one of {_MRL_MASKS}, got {mrl_mask!r}")
        self.variant = variant
        self.num_mixed = 1 if variant == "mrl" else num_mixed
        self.margin, self.weight = float(margin), float(weight)
        self.mrl_mask = mrl_mask

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> RankMixupParams:
        """Per mixup: a pairing, then its ``lam`` (shared by the batch in ``mode="batch"``)."""
        n, m = shape[0], self.num_mixed
        mixups, lams = [], []
        for _ in range(m):  # m is a small constant, not B
            pairs = make_pairs(n, self.pairing, generator)
            mixups.append(pairs)
            lams.append(sample_lam(self.alpha, pairs.index, self.mode, generator))
        lam = torch.stack(lams, 1)
        return RankMixupParams(mixups[0], lam[:, 0], mixups, lam)

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
        """CE on the raw rows plus ``weight`` times MRL or M-NDCG (raw pass, then one pass of the mixups)."""
        g = self.check_step(model, x, y, generator)
        if not is_class_ids(y):
            raise TypeError(f"y: RankMixup needs integer class ids [B], got {y.dtype}")
        n = x.shape[0]
        params = self.draw(x.shape, g)
        logits_raw = model(x)
        check_step_labels(y, logits_raw)
        logits_mix = model(self.mixed_inputs(x, params))
        ce = F.cross_entropy(logits_raw.float(), y)
        # [B, M]: mixup j of row i pairs it with a sample of the same class
        same = torch.stack([y == partner_rows(y, p) for p in params.mixups], 1)
        if self.variant == "mrl":
            rank = mixup_ranking_loss(logits_raw, logits_mix, self.margin, ~same[:, 0], mask=self.mrl_mask)
        else:
            conf = softmax_confidence(torch.cat([logits_raw, logits_mix])).view(1 + self.num_mixed, n).t()
            rel = mixup_relevance(params.lams.to(conf.device), same)
            rank = mndcg_loss(conf, torch.cat([torch.ones_like(rel[:, :1]), rel], 1))
        return StepOutput(loss=ce + self.weight * rank, logits=logits_raw)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, variant={self.variant!r}, num_mixed={self.num_mixed}, "
                f"margin={self.margin}, weight={self.weight}, mode={self.mode!r}, pairing={self.pairing!r}, "
                f"mrl_mask={self.mrl_mask!r}")
