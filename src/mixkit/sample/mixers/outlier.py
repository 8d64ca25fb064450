"""MixOE (Zhang et al., WACV 2023): mix in-distribution samples with outliers for OOD detection."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..lam import check_alpha, cpu_generator, sample_beta
from ..losses import mixoe_loss, mixoe_targets
from ..masks import box_weight, sample_boxes
from ..registry import register
from ..validate import check_inputs, is_class_ids
from .base import weight_view

__all__ = ["MixOE", "MixOEBatch"]


@dataclass
class MixOEBatch:
    """ID/outlier mixtures: ``x`` ``[B, ...]``, ``lam`` ``[B]`` (ID share), ``y`` ID class ids ``[B]``.

    ``loss(logits)`` is the cross-entropy against ``lam * onehot(y) + (1 - lam) * uniform`` (no one-hot
    built); ``targets(num_classes)`` materialises that target.
    """

    x: Tensor
    lam: Tensor
    y: Tensor
    outlier_index: Tensor

    def loss(self, logits: Tensor, reduction: str = "mean") -> Tensor:
        return mixoe_loss(logits, self.y, self.lam, reduction)

    def targets(self, num_classes: int) -> Tensor:
        return mixoe_targets(self.y, self.lam, num_classes)


@register("mixoe")
class MixOE(nn.Module):
    """MixOE: mixtures of in-distribution (ID) samples and outliers with a linearly decaying target.

    ``mixoe(x_id [B, ...], y_id [B], x_out [B_out, ...], generator=g) -> MixOEBatch``. Each ID row is mixed
    with an outlier drawn with replacement from ``x_out``; ``lam ~ Beta(alpha, alpha)`` per row is the ID
    share. The target confidence decays linearly from the one-hot (``lam = 1``) toward the uniform
    distribution (``lam = 0``). ``variant="mixup"`` interpolates the inputs; ``variant="cutmix"`` pastes a box
    of the outlier into each ID image (images ``[B, C, *S]``; ``lam`` is then the exact kept area, boxes from
    :func:`mixkit.sample.masks.sample_boxes`). Training objective of the paper:
    ``CE(model(x_id), y_id) + beta * out.loss(model(out.x))``.
    """

    name = "mixoe"
    paper = "Mixture Outlier Exposure: Towards Out-of-Distribution Detection in Fine-grained Environments " \
            "(Zhang et al., WACV 2023)"
    paper_url = "https://arxiv.org/abs/2106.03917"
    tasks = frozenset({"ood_detection"})
    plain = False  # not a plain ``mixer(x, y) -> MixedBatch`` mixer: it also needs the outlier batch

    def __init__(self, alpha: float = 1.0, variant: str = "mixup") -> None:
        super().__init__()
        if variant not in self.variants():
            raise ValueError(f"variant must be one of {self.variants()}, got {variant!r}")
        self.alpha, self.variant = check_alpha(alpha), variant

    @staticmethod
    def variants() -> tuple[str, ...]:
        return ("mixup", "cutmix")

    def forward(self, x_id: Tensor, y_id: Tensor, x_out: Tensor, *, generator: torch.Generator | None = None
                ) -> MixOEBatch:
        g = cpu_generator(generator)
        check_inputs(x_id, what="x_id")
        check_inputs(x_out, what="x_out")
        n = x_id.shape[0]
        if x_out.shape[1:] != x_id.shape[1:]:
            raise ValueError(f"x_out must have rows of shape {tuple(x_id.shape[1:])}, got "
                             f"{tuple(x_out.shape[1:])}")
        if not isinstance(y_id, Tensor) or not is_class_ids(y_id) or y_id.shape != (n,):
            raise ValueError(f"y_id must be integer class ids of shape [{n}]")
        pick = torch.randint(0, x_out.shape[0], (n,), generator=g).to(x_out.device, non_blocking=True)
        lam = sample_beta(self.alpha, n, g)
        outliers = x_out.index_select(0, pick).to(x_id.device, x_id.dtype)
        lam_dev = lam.to(x_id.device, torch.float32, non_blocking=True)
        if self.variant == "cutmix":
            if x_id.dim() < 3:
                raise ValueError(f"x_id: variant='cutmix' needs images [B, C, *S], got {tuple(x_id.shape)}")
            boxes = sample_boxes(1.0 - lam, tuple(x_id.shape[2:]), g)
            x = torch.where(box_weight(boxes, x_id).bool(), outliers, x_id)
            lam_dev = (1.0 - boxes.area()).to(x_id.device, non_blocking=True)
        else:
            x = torch.lerp(outliers, x_id, weight_view(lam_dev, x_id))
        return MixOEBatch(x=x, lam=lam_dev, y=y_id, outlier_index=pick)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, variant={self.variant!r}"
