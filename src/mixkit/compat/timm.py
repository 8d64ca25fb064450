"""Drop-in replacements for ``timm.data.Mixup`` and ``timm.data.FastCollateMixup``, backed by mixkit.

A timm training script switches by changing one import::

    # from timm.data import Mixup
    from mixkit.compat.timm import Mixup

    mixup_fn = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=1000)
    x, target = mixup_fn(x, target)          # target: [B, num_classes] soft targets
    loss = SoftTargetCrossEntropy()(model(x), target)

Same constructor, same call, same semantics as timm's release (huggingface/pytorch-image-models,
``timm/data/mixup.py``): ``prob`` is the chance that the whole batch (``mode='batch'``), a pair or an
element is mixed; ``switch_prob`` picks CutMix over MixUp when both alphas are > 0; partners are the flipped
batch (row ``i`` with row ``B-1-i``); the batch size must be even; CutMix boxes follow ``rand_bbox`` (side
``int(S * sqrt(1 - lam))``, span ``[c - side // 2, c + side // 2)`` around a uniform centre, clipped) or,
with ``cutmix_minmax``, ``rand_bbox_minmax`` (side uniform in ``[int(S * min), int(S * max))``, placed fully
inside); ``correct_lam`` (always on with ``cutmix_minmax``) gives the label the kept area; targets are
one-hot with ``off = label_smoothing / num_classes``, ``on = 1 - label_smoothing + off``, mixed with the
flipped targets.

Differences from timm (each mixkit's own choice):

* randomness comes from a ``torch.Generator`` (``generator=`` at construction or per call; default: torch's
  global generator) instead of NumPy's global state, so draws are reproducible but not timm's numbers;
* ``x`` is not modified in place: a new tensor is returned;
* the mixing runs as one vectorized pass (mixkit's box and blend kernels) instead of a loop over rows;
* ``mix(x, target)`` returns a :class:`~mixkit.sample.MixedBatch`, whose ``loss(logits)`` never builds the
  one-hot targets; soft targets ``[B, K]`` are accepted as well as class ids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..sample.batch import MixedBatch
from ..sample.checks import check_labels
from ..sample.functional.boxes import Boxes, box_weight, mix_shared_box
from ..sample.lam import check_mode, check_prob, cpu_generator, sample_beta
from ..sample.mixers.cutmix import cutmix_sides
from ..sample.mixers.mixer import MixParams
from ..sample.pairing import Pairs, blend_with_partner, weight_view

__all__ = ["FastCollateMixup", "Mixup", "TimmMixParams"]


@dataclass(repr=False)
class TimmMixParams(MixParams):
    """What one call of :class:`Mixup` draws.

    Attributes:
        pairs: the flipped batch (row ``i`` with row ``B-1-i``).
        lam: ``[B]`` float32 (CPU), the label weight of each row's own target (after ``correct_lam``); 1 for
            rows left alone.
        use_cutmix: ``[B]`` bool, rows that get a box (the others are blended with weight ``lam``).
        boxes: per-row boxes ``[B, 2]`` (empty for rows without a box), or ``None`` when no row has one.
        region: batch mode's one shared box as an index tuple in host ints, else ``None``.
        drawn_lam: ``[B]`` float32, the ``lam`` drawn before ``correct_lam`` (what the box sides come from).
    """

    use_cutmix: Tensor | None = None
    boxes: Boxes | None = None
    region: tuple[slice, ...] | None = None
    drawn_lam: Tensor | None = None


def _check_alpha0(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0 (0 turns it off), got {value!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0 (0 turns it off), got {value!r}")
    return v


def _randint(low: Tensor, high: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform int64 in ``[low, high)`` elementwise (``high > low``)."""
    u = torch.rand(low.shape, generator=generator, dtype=torch.float64)
    return torch.minimum(low + (u * (high - low)).long(), high - 1)


class Mixup:
    """timm's ``Mixup``: MixUp/CutMix per batch, pair or element, with smoothed one-hot soft targets.

    Matches ``timm.data.Mixup`` (huggingface/pytorch-image-models, ``timm/data/mixup.py``); the defaults are
    its defaults. ``mixup_enabled`` (attribute, as timm) turns mixing off for a training loop's last epochs.

    Args:
        mixup_alpha: MixUp's ``Beta(a, a)``; 0 turns MixUp off.
        cutmix_alpha: CutMix's ``Beta(a, a)``; 0 turns CutMix off (forced to 1 when ``cutmix_minmax`` is set).
        cutmix_minmax: ``(min, max)`` box side ratios with ``0 <= min < max <= 1``; boxes are then drawn by
            side, not from ``lam``, and the label weight is always the kept area.
        prob: probability that the batch (``batch``) or a pair/element (``pair``/``elem``) is mixed.
        switch_prob: probability of CutMix instead of MixUp when both are on.
        mode: ``'batch'``, ``'pair'`` or ``'elem'``.
        correct_lam: CutMix's label weight is the kept area after clipping (else the drawn ``lam``).
        label_smoothing: smoothing of the one-hot targets before mixing.
        num_classes: ``K`` of the soft targets.
        generator: CPU ``torch.Generator`` for every draw (a call's ``generator=`` overrides it).

    Call: ``mixup(x, target) -> (x_mixed, soft_targets)``; ``x``: floating ``[B, C, H, W]`` (``[B, ...]`` when
    CutMix is off) with ``B`` even; ``target``: class ids ``[B]`` (or soft labels ``[B, K]``).
    ``soft_targets``: float32 ``[B, num_classes]`` on ``target``'s device.
    """

    def __init__(self, mixup_alpha: float = 1.0, cutmix_alpha: float = 0.0,
                 cutmix_minmax: Sequence[float] | None = None, prob: float = 1.0, switch_prob: float = 0.5,
                 mode: str = "batch", correct_lam: bool = True, label_smoothing: float = 0.1,
                 num_classes: int = 1000, *, generator: torch.Generator | None = None) -> None:
        self.mixup_alpha = _check_alpha0(mixup_alpha, "mixup_alpha")
        self.cutmix_alpha = _check_alpha0(cutmix_alpha, "cutmix_alpha")
        self.cutmix_minmax: tuple[float, float] | None = None
        if cutmix_minmax is not None:
            try:
                lo, hi = (float(v) for v in cutmix_minmax)
            except (TypeError, ValueError):
                raise ValueError(f"cutmix_minmax must be two numbers (min, max), got {cutmix_minmax!r}"
                                 ) from None
            if not 0.0 <= lo < hi <= 1.0:
                raise ValueError(f"cutmix_minmax must satisfy 0 <= min < max <= 1, got {cutmix_minmax!r}")
            self.cutmix_minmax = (lo, hi)
            self.cutmix_alpha = 1.0  # as timm: minmax boxes switch CutMix on with alpha 1
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            raise ValueError("mixup_alpha or cutmix_alpha must be > 0 (or cutmix_minmax given)")
        self.mix_prob = check_prob(prob, "prob")
        self.switch_prob = check_prob(switch_prob, "switch_prob")
        if mode not in ("batch", "pair", "elem"):
            raise ValueError(f"mode must be 'batch', 'pair' or 'elem', got {mode!r}")
        self.mode = check_mode(mode)
        self.correct_lam = bool(correct_lam)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
        self.num_classes = num_classes
        self.generator = cpu_generator(generator)
        self.mixup_enabled = True

    # ------------------------------------------------------------------ draws
    def _choose(self, n: int, g: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``(use_cutmix [n] bool, lam [n] float32)`` before ``prob``."""
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cut = torch.rand(n, generator=g) < self.switch_prob
            lam = torch.where(use_cut, sample_beta(self.cutmix_alpha, n, g),
                              sample_beta(self.mixup_alpha, n, g))
        elif self.mixup_alpha > 0:
            use_cut, lam = torch.zeros(n, dtype=torch.bool), sample_beta(self.mixup_alpha, n, g)
        else:
            use_cut, lam = torch.ones(n, dtype=torch.bool), sample_beta(self.cutmix_alpha, n, g)
        return use_cut, lam

    def _boxes(self, lam: Tensor, size: tuple[int, int], g: torch.Generator | None) -> Boxes:
        """One box per entry of ``lam`` ([n]) by ``rand_bbox`` or ``rand_bbox_minmax``."""
        n = lam.shape[0]
        s = torch.tensor(size, dtype=torch.long)
        if self.cutmix_minmax is None:
            sides = cutmix_sides(1.0 - lam.double(), size)  # 2 * (int(S * sqrt(1 - lam)) // 2)
            centre = _randint(torch.zeros(n, 2, dtype=torch.long), s.expand(n, 2), g)
            start = centre - sides // 2
            return Boxes(start.clamp(0, None).minimum(s), (start + sides).clamp(0, None).minimum(s), size)
        mn, mx = self.cutmix_minmax
        low = torch.tensor([int(v * mn) for v in size], dtype=torch.long)
        high = torch.tensor([int(v * mx) for v in size], dtype=torch.long)
        if bool((high <= low).any()):
            raise ValueError(f"cutmix_minmax={self.cutmix_minmax} leaves no box size for an image of "
                             f"{size[0]}x{size[1]} (int(S * min) must be < int(S * max))")
        sides = _randint(low.expand(n, 2), high.expand(n, 2), g)
        lo = _randint(torch.zeros(n, 2, dtype=torch.long), s - sides, g)
        return Boxes(lo, lo + sides, size)

    def draw(self, shape: torch.Size | tuple[int, ...],
             generator: torch.Generator | None = None) -> TimmMixParams:
        """Every random number of a call on ``x`` of ``shape`` ``[B, C, H, W]`` (``B`` even)."""
        g = cpu_generator(generator) if generator is not None else self.generator
        b = int(shape[0])
        pairs = Pairs(torch.arange(b - 1, -1, -1))
        size = (int(shape[-2]), int(shape[-1])) if len(shape) >= 4 else None
        if not self.mixup_enabled:
            return TimmMixParams(pairs, torch.ones(b))
        if self.mode == "batch":
            if not float(torch.rand(1, generator=g)) < self.mix_prob:
                return TimmMixParams(pairs, torch.ones(b))
            use_cut, lam = self._choose(1, g)
            if not bool(use_cut[0]):
                lam = lam.expand(b).contiguous()
                return TimmMixParams(pairs, lam, use_cutmix=torch.zeros(b, dtype=torch.bool), drawn_lam=lam)
            assert size is not None
            box = self._boxes(lam, size, g)
            lo, hi = box.lo[0].tolist(), box.hi[0].tolist()
            region = (slice(None), slice(None), slice(lo[0], hi[0]), slice(lo[1], hi[1]))
            drawn = lam.expand(b).contiguous()
            if self.correct_lam or self.cutmix_minmax is not None:
                lam = 1.0 - box.area()
            return TimmMixParams(pairs, lam.expand(b).contiguous(),
                                 use_cutmix=torch.ones(b, dtype=torch.bool), region=region, drawn_lam=drawn)
        n = b if self.mode == "elem" else b // 2
        use_cut, lam = self._choose(n, g)
        active = torch.rand(n, generator=g) < self.mix_prob
        lam = torch.where(active, lam, torch.ones(()))
        use_cut = use_cut & (lam != 1)
        drawn_lam, boxes = lam, None
        if bool(use_cut.any()):
            assert size is not None
            drawn = self._boxes(lam, size, g)
            keep = use_cut.view(-1, 1)
            boxes = Boxes(torch.where(keep, drawn.lo, 0), torch.where(keep, drawn.hi, 0), size)
            if self.correct_lam or self.cutmix_minmax is not None:
                lam = torch.where(use_cut, 1.0 - boxes.area(), lam)
        if self.mode == "pair":  # row B-1-i shares row i's draw
            lam, use_cut = torch.cat([lam, lam.flip(0)]), torch.cat([use_cut, use_cut.flip(0)])
            drawn_lam = torch.cat([drawn_lam, drawn_lam.flip(0)])
            if boxes is not None:
                boxes = Boxes(torch.cat([boxes.lo, boxes.lo.flip(0)]),
                              torch.cat([boxes.hi, boxes.hi.flip(0)]), size)  # type: ignore[arg-type]
        return TimmMixParams(pairs, lam.float().contiguous(), use_cutmix=use_cut, boxes=boxes,
                             drawn_lam=drawn_lam.float().contiguous())

    # ------------------------------------------------------------------ apply
    def weight(self, x: Tensor, params: TimmMixParams) -> Tensor:
        """``[B, 1, *S]`` (or ``[B, 1, ...]``) partner weight in ``x``'s dtype: 1 inside a row's box,
        ``1 - lam`` for a blended row, 0 for a row left alone (pair/elem modes)."""
        blend = weight_view(1.0 - params.lam, x)
        if params.boxes is None or params.use_cutmix is None:
            return blend
        cut = params.use_cutmix.to(x.device, non_blocking=True).view(-1, *([1] * (x.dim() - 1)))
        return torch.where(cut, box_weight(params.boxes, x), blend)

    def apply(self, x: Tensor, params: TimmMixParams) -> Tensor:
        """The mixed batch (a new tensor; deterministic given ``params``)."""
        lam, pairs = params.lam, params.pairs
        if params.region is not None:
            return mix_shared_box(x, x[params.region], pairs, None, params.region)
        if params.use_cutmix is None or not bool((lam != 1).any()):
            return x.clone()
        if self.mode == "batch":
            weight = torch.full((), 1.0 - float(lam[0]), dtype=x.dtype, device=x.device)
            return blend_with_partner(x, pairs, weight)
        return blend_with_partner(x, pairs, self.weight(x, params))

    # ------------------------------------------------------------------ calls
    def _check(self, x: Tensor, target: Tensor | None) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating tensor, got "
                            f"{x.dtype if isinstance(x, Tensor) else type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(f"x must be a batch [B, ...], got shape {tuple(x.shape)}")
        if self.cutmix_alpha > 0 and x.dim() != 4:
            raise ValueError(f"x must be [B, C, H, W] when CutMix is on, got shape {tuple(x.shape)}")
        if x.shape[0] % 2:
            raise ValueError("x: the batch size must be even (partners are the flipped batch), "
                             f"got {x.shape[0]}")
        check_labels(target, x.shape[0], "target")

    def mix(self, x: Tensor, target: Tensor, *, generator: torch.Generator | None = None) -> MixedBatch:
        """The mixed batch as a :class:`~mixkit.sample.MixedBatch` (``index`` = the flip, ``lam`` = the label
        weights); ``out.loss(logits, label_smoothing=mixup.label_smoothing)`` gives the soft-target CE without
        building the targets."""
        self._check(x, target)
        params = self.draw(x.shape, generator)
        x_mixed = self.apply(x, params)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x.device, non_blocking=True),
                          lam=params.lam.to(x.device, torch.float32, non_blocking=True), y=target,
                          extras={"use_cutmix": params.use_cutmix})

    def __call__(self, x: Tensor, target: Tensor, *, generator: torch.Generator | None = None
                 ) -> tuple[Tensor, Tensor]:
        out = self.mix(x, target, generator=generator)
        return out.x, out.soft_targets(self.num_classes, self.label_smoothing)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(mixup_alpha={self.mixup_alpha}, cutmix_alpha={self.cutmix_alpha}, "
                f"cutmix_minmax={self.cutmix_minmax}, prob={self.mix_prob}, switch_prob={self.switch_prob}, "
                f"mode={'half' if getattr(self, 'half', False) else self.mode!r}, "
                f"correct_lam={self.correct_lam}, "
                f"label_smoothing={self.label_smoothing}, num_classes={self.num_classes})")

    def state_dict(self) -> dict[str, Any]:
        """The settings and ``mixup_enabled`` (the generator is the caller's to save)."""
        return {"mixup_alpha": self.mixup_alpha, "cutmix_alpha": self.cutmix_alpha,
                "cutmix_minmax": self.cutmix_minmax, "prob": self.mix_prob, "switch_prob": self.switch_prob,
                "mode": "half" if getattr(self, "half", False) else self.mode,
                "correct_lam": self.correct_lam, "label_smoothing": self.label_smoothing,
                "num_classes": self.num_classes, "mixup_enabled": self.mixup_enabled}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        enabled = state.get("mixup_enabled", True)
        settings = {k: v for k, v in state.items() if k != "mixup_enabled"}
        type(self).__init__(self, **settings, generator=self.generator)
        self.mixup_enabled = bool(enabled)


class FastCollateMixup(Mixup):
    """timm's ``FastCollateMixup``: a ``collate_fn`` that stacks uint8 images and mixes them while collating.

    ``collate(samples) -> (images uint8 [B, C, H, W], soft_targets float32 [B, num_classes])`` for a list of
    ``(image, class_id)`` with ``image`` a uint8 ``[C, H, W]`` ``np.ndarray`` or tensor, ``B`` even. Blended
    pixels are rounded to the nearest integer, as timm. ``mode`` adds ``'half'``: per-element mixing of the
    first half with the second, returning the first half only (``B / 2`` rows). Normalisation is left to the
    training loop (as timm's ``PrefetchLoader``). In DataLoader workers pass a generator per worker, or use
    :class:`mixkit.compat.MixCollate`, which seeds from the worker's seed.
    """

    def __init__(self, mixup_alpha: float = 1.0, cutmix_alpha: float = 0.0,
                 cutmix_minmax: Sequence[float] | None = None, prob: float = 1.0, switch_prob: float = 0.5,
                 mode: str = "batch", correct_lam: bool = True, label_smoothing: float = 0.1,
                 num_classes: int = 1000, *, generator: torch.Generator | None = None) -> None:
        self.half = mode == "half"
        super().__init__(mixup_alpha, cutmix_alpha, cutmix_minmax, prob, switch_prob,
                         "elem" if self.half else mode, correct_lam, label_smoothing, num_classes,
                         generator=generator)

    def __call__(self, batch: Sequence[tuple[Any, Any]], _: object = None, *,  # type: ignore[override]
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        b = len(batch)
        if b == 0 or b % 2:
            raise ValueError(f"batch: the batch size must be even and > 0, got {b}")
        images = [torch.from_numpy(np.ascontiguousarray(s[0])) if isinstance(s[0], np.ndarray) else s[0]
                  for s in batch]
        if any(not isinstance(t, Tensor) or t.dtype != torch.uint8 or t.dim() != 3 for t in images):
            raise TypeError("batch: images must be uint8 [C, H, W] arrays or tensors")
        x = torch.stack(images)
        target = torch.as_tensor([int(s[1]) for s in batch], dtype=torch.int64)
        if self.half:  # elem draws for the first half, each row against row B-1-i of the second half
            params = self.draw((b // 2, *x.shape[1:]), generator)
            lam = torch.cat([params.lam, torch.ones(b // 2)])
            own = x[: b // 2].float()
            mixed = _round_blend(own, x.flip(0)[: b // 2].float(), self.weight(own, params))
            keep = b // 2
        else:
            params = self.draw(x.shape, generator)
            lam = params.lam
            if params.region is not None:
                mixed = mix_shared_box(x, x[params.region], params.pairs, None, params.region)
            elif params.use_cutmix is None or not bool((lam != 1).any()):
                mixed = x.clone()
            else:
                own = x.float()
                mixed = _round_blend(own, own.flip(0), self.weight(own, params))
            keep = b
        out = MixedBatch(x=x, index=torch.arange(b - 1, -1, -1), lam=lam.float(), y=target)
        return mixed, out.soft_targets(self.num_classes, self.label_smoothing)[:keep]


def _round_blend(own: Tensor, partner: Tensor, w: Tensor) -> Tensor:
    """``round(own * (1 - w) + partner * w)`` as uint8 (float32 inputs, ``w`` in [0, 1])."""
    return torch.round(own * (1 - w) + partner * w).clamp_(0, 255).to(torch.uint8)
