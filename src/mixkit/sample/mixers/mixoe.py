"""MixOE (Zhang et al., "Mixture Outlier Exposure: Towards Out-of-Distribution Detection in Fine-grained
Environments", WACV 2023): mix in-distribution samples with outliers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_inputs, is_class_ids
from ..functional.boxes import Boxes, box_weight, place_boxes
from ..lam import check_mode, cpu_generator, sample_beta
from ..losses.mixoe_loss import mixoe_loss, mixoe_targets
from ..pairing import Pairs, weight_view
from .cutmix import cutmix_boxes, cutmix_sides
from .mixer import Mixer, MixParams

__all__ = ["MixOE", "MixOEBatch", "MixOEParams"]


@dataclass
class MixOEBatch:
    """ID/outlier mixtures: ``x`` ``[B, ...]``, ``lam`` ``[B]`` float32 (ID share), ``y`` ID class ids
    ``[B]``, ``outlier_index`` ``[B]`` int64 (the outlier row mixed into each ID row).

    ``loss(logits)`` is the cross-entropy against ``lam * onehot(y) + (1 - lam) * uniform`` (no one-hot
    built); ``targets(num_classes)`` materialises that target.
    """

    x: Tensor
    lam: Tensor
    y: Tensor
    outlier_index: Tensor

    def loss(self, logits: Tensor, reduction: str = "mean") -> Tensor:
        """:func:`mixkit.sample.losses.mixoe_loss` of ``logits`` ``[B, K]``."""
        return mixoe_loss(logits, self.y, self.lam, reduction)

    def targets(self, num_classes: int) -> Tensor:
        """:func:`mixkit.sample.losses.mixoe_targets`: ``[B, num_classes]`` float32."""
        return mixoe_targets(self.y, self.lam, num_classes)

    def __repr__(self) -> str:
        return f"MixOEBatch(x=Tensor{list(self.x.shape)}, lam=Tensor{list(self.lam.shape)})"


@dataclass(repr=False)
class MixOEParams(MixParams):
    """``pairs.index``: the outlier row picked for each ID row (``[B]`` int64, with replacement); ``lam``: the
    requested ID share; ``boxes``: the pasted outlier box of each row (``variant="cutmix"``), else ``None``;
    ``outliers``: the outlier batch ``[B_out, ...]`` the call mixes in."""

    boxes: Boxes | None = None
    outliers: Tensor | None = None


class MixOE(Mixer):
    """MixOE: mixtures of in-distribution (ID) samples and outliers with a linearly decaying target.

    ``mixoe(x_id [B, ...], y_id [B], x_out [B_out, ...], generator=g) -> MixOEBatch``. Matches
    ``zjysteven/MixOE: train/train_mixoe.py``: ID row ``i`` is mixed with outlier row ``i`` of the
    (shuffled) outlier batch, with one ``lam ~ Beta(alpha, alpha)`` per batch as the ID share. The target
    decays linearly from the one-hot (``lam = 1``) toward the uniform distribution (``lam = 0``):
    ``lam * onehot(y) + (1 - lam) / K`` (:func:`~mixkit.sample.losses.mixoe_targets`).
    ``variant="mixup"`` interpolates the inputs; ``variant="cutmix"`` pastes one box of the outliers into
    the ID images (images ``[B, C, *S]``; the release's CutMix box, see
    :func:`~mixkit.sample.mixers.cutmix.cutmix_sides`; ``lam`` is then the exact kept area). Training
    objective: ``CE(model(x_id), y_id) + beta * out.loss(model(out.x))``. Declared task:
    ``"ood_detection"``.

    Defaults from the release: ``alpha=1`` (its mixup recipe; ``--alpha 2.0`` for cutmix), one ``lam``
    (and one box) per batch (``mode="batch"``), outliers aligned row by row (``outliers="aligned"``:
    row ``i`` with outlier ``i``; with ``B_out < B`` the outliers are cycled, ``i % B_out``). The
    release weights the mixed term by ``--beta 5.0`` in its scripts; that weight is the caller's.

    Deviations:
        * ``variant`` defaults to ``"mixup"``; the release requires ``--mix-op`` (both are offered).
        * ``mode="elem"`` (one ``lam``/box per row) and ``outliers="random"`` (outlier rows drawn with
          replacement, any ``B_out``) are mixkit's options.
    """

    name = "mixoe"
    paper = ("Mixture Outlier Exposure: Towards Out-of-Distribution Detection in Fine-grained Environments "
             "(Zhang et al., WACV 2023)")
    paper_url = "https://arxiv.org/abs/2106.03917"
    release = "zjysteven/MixOE: train/train_mixoe.py"
    tasks = frozenset({"ood_detection"})

    def __init__(self, alpha: float = 1.0, variant: str = "mixup", *, mode: str = "batch",
                 outliers: str = "aligned", validate: bool = True) -> None:
        mode = check_mode(mode)
        super().__init__(alpha, mode="elem" if mode == "pair" else mode, validate=validate)
        if variant not in self.variants():
            raise ValueError(f"variant must be one of {self.variants()}, got {variant!r}")
        if outliers not in ("aligned", "random"):
            raise ValueError(f"outliers must be 'aligned' or 'random', got {outliers!r}")
        self.variant = variant
        self.outliers = outliers

    @staticmethod
    def variants() -> tuple[str, ...]:
        """The accepted ``variant`` values."""
        return ("mixup", "cutmix")

    def draw(self, shape: torch.Size, generator: torch.Generator | None, num_outliers: int | None = None
             ) -> MixOEParams:
        """An outlier row (of ``num_outliers``, default ``B``) and ``lam`` per ID row, then the boxes for
        ``cutmix``."""
        n = shape[0]
        num_outliers = n if num_outliers is None else int(num_outliers)
        if self.outliers == "aligned":
            pick = torch.arange(n) % num_outliers  # row i with outlier i (cycling when B_out < B)
        else:
            pick = torch.randint(0, num_outliers, (n,), generator=generator)
        shared = self.mode == "batch"
        lam = sample_beta(self.alpha, 1 if shared else n, generator).expand(n).contiguous()
        boxes = None
        if self.variant == "cutmix":
            size = tuple(shape[2:])
            if shared:
                boxes = place_boxes(cutmix_sides(1.0 - lam.double(), size), size, generator, shared=True)
            else:
                boxes = cutmix_boxes(1.0 - lam.double(), size, generator)
        return MixOEParams(Pairs(pick), lam, boxes)

    def apply(self, x: Tensor, params: MixOEParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mix the ID batch ``x`` with ``params.outliers``; the ID share ``[B]`` float32 on ``x``'s device."""
        if params.outliers is None:
            raise ValueError("params.outliers: MixOE mixes x with an outlier batch")
        pick = params.pairs.index.to(params.outliers.device, non_blocking=True)
        outliers = params.outliers.index_select(0, pick).to(x.device, x.dtype)
        lam = params.lam.to(x.device, torch.float32, non_blocking=True)
        if params.boxes is not None:
            mixed = torch.where(box_weight(params.boxes, x).bool(), outliers, x)
            lam = (1.0 - params.boxes.area()).to(x.device, non_blocking=True)
        else:
            mixed = torch.lerp(outliers, x, weight_view(lam, x))
        return (mixed if out is None else out.copy_(mixed)), lam

    def forward(self, x_id: Tensor, y_id: Tensor, x_out: Tensor, *,  # type: ignore[override]
                generator: torch.Generator | None = None, out: Tensor | None = None) -> MixOEBatch:
        g = cpu_generator(generator)
        check_inputs(x_id, what="x_id")
        check_inputs(x_out, what="x_out")
        n = x_id.shape[0]
        if x_out.shape[1:] != x_id.shape[1:]:
            raise ValueError(f"x_out must have rows of shape {tuple(x_id.shape[1:])}, got "
                             f"{tuple(x_out.shape[1:])}")
        if not isinstance(y_id, Tensor) or not is_class_ids(y_id) or y_id.shape != (n,):
            raise ValueError(f"y_id must be integer class ids of shape [{n}]")
        if self.variant == "cutmix" and x_id.dim() < 3:
            raise ValueError(f"x_id: variant='cutmix' needs images [B, C, *S], got {tuple(x_id.shape)}")
        self.check_call(x_id, y_id, g, out)
        params = self.draw(x_id.shape, g, x_out.shape[0])
        params.outliers = x_out
        x, lam = self.apply(x_id, params, out)
        return MixOEBatch(x=x, lam=lam, y=y_id, outlier_index=params.pairs.index.to(x_out.device))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, variant={self.variant!r}, mode={self.mode!r}, outliers={self.outliers!r}"
