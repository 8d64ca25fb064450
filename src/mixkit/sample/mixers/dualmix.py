"""DualMix for online class-incremental learning (Fan et al., "DualMix: Unleashing the Potential of Data
Augmentation for Online Class-Incremental Learning", 2023): EnMix and AdpMix.

Online class-incremental (OCI) training sees a stream batch of new classes at every step and, with experience
replay, a batch drawn from a small buffer of old classes. Both mixers take the two batches and return one
:class:`~mixkit.sample.batch.MixedBatch` over their concatenation ``[stream; replay]`` (``out.y`` holds the
concatenated labels), so ``out.loss(model(out.x))`` trains on both.

* :class:`EnMix` (Enhanced Mixup): augment, then mix augmented samples and their labels across the whole
  concatenated batch.
* :class:`AdpMix` (Adaptive Mixup): mix every stream sample with a replay sample (and vice versa) and set the
  label weight from the input weight *and* how often each class has been trained, so the under-represented
  old classes get a larger label share than their pixel share. ``out.lam`` is then a label weight, not the
  pixel fraction (that is ``out.extras["input_lam"]``).

``index`` of AdpMix is a cross pairing drawn with replacement, so it need not be a permutation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..checks import check_class_ids, check_inputs, is_class_ids
from ..lam import cpu_generator, sample_active, sample_beta
from ..pairing import Pairs, blend_with_partner, weight_view
from .mixer import Mixer, MixParams
from .mixup import MixUp

__all__ = ["AdpMix", "EnMix", "concat_stream_replay"]

_PAPER = ("DualMix: Unleashing the Potential of Data Augmentation for Online Class-Incremental Learning "
          "(Fan et al., 2023)")
_URL = "https://arxiv.org/abs/2303.07864"


def concat_stream_replay(x_new: Tensor, y_new: Tensor, x_old: Tensor | None, y_old: Tensor | None
                         ) -> tuple[Tensor, Tensor, int]:
    """``cat([x_new, x_old])``, ``cat([y_new, y_old])`` and the number of stream rows (checks shapes).

    ``x_new`` ``[B_new, ...]`` and ``x_old`` ``[B_old, ...]`` floating with equal row shapes and dtype;
    ``y_new``/``y_old`` integer class ids. ``x_old``/``y_old`` may both be ``None`` (no replay yet).
    """
    check_inputs(x_new, what="x_new")
    if not isinstance(y_new, Tensor) or not is_class_ids(y_new) or y_new.shape != (x_new.shape[0],):
        raise ValueError(f"y_new must be integer class ids of shape [{x_new.shape[0]}]")
    if (x_old is None) != (y_old is None):
        raise ValueError("x_old and y_old must be given together (or both None)")
    if x_old is None or x_old.shape[0] == 0:
        return x_new, y_new, x_new.shape[0]
    check_inputs(x_old, what="x_old")
    if x_old.shape[1:] != x_new.shape[1:] or x_old.dtype != x_new.dtype:
        raise ValueError(f"x_old must match x_new in shape [*, {', '.join(map(str, x_new.shape[1:]))}] and "
                         f"dtype {x_new.dtype}, got {tuple(x_old.shape)} {x_old.dtype}")
    if not isinstance(y_old, Tensor) or not is_class_ids(y_old) or y_old.shape != (x_old.shape[0],):
        raise ValueError(f"y_old must be integer class ids of shape [{x_old.shape[0]}]")
    return torch.cat([x_new, x_old]), torch.cat([y_new, y_old.to(y_new.device)]), x_new.shape[0]


class EnMix(MixUp):
    """EnMix (Enhanced Mixup, DualMix): mixup of *augmented* stream and replay samples with their labels.

    ``enmix(x_new, y_new, x_old=None, y_old=None, generator=g) -> MixedBatch`` over ``[x_new; x_old]``
    (floating ``[B, ...]``, class ids ``[B]``); ``extras["num_stream"]`` is the number of stream rows.
    ``augment`` (optional) is a batched transform ``[B, ...] -> [B, ...]`` (e.g. random flips/crops applied
    on the device) run on the concatenated batch before mixing; the paper's point is that strongly augmented
    samples (less correlated with the originals) reduce forgetting, and mixing their labels as well keeps
    data and labels consistent. ``alpha``/``mode``/``prob`` are MixUp's; partners are a random permutation.

    Simplified relative to the paper: the augmentation policy is the caller's ``augment``; mixkit does not
    ship the paper's augmentation set. No authors' release was found; the defaults (``alpha=1``, one
    ``lam`` per batch, ``pairing="permute"``) are MixUp's.
    """

    name = "enmix"
    paper = _PAPER
    paper_url = _URL
    release = ""
    tasks = frozenset({"class_incremental"})

    def __init__(self, alpha: float = 1.0, augment: Callable[[Tensor], Tensor] | None = None, *,
                 mode: str = "batch", prob: float = 1.0, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing="permute", validate=validate)
        if augment is not None and not callable(augment):
            raise TypeError("augment must be a callable [B, ...] -> [B, ...] or None, got "
                            f"{type(augment).__name__}")
        self.augment = augment

    def forward(self, x_new: Tensor, y_new: Tensor, x_old: Tensor | None = None,  # type: ignore[override]
                y_old: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None) -> MixedBatch:
        g = cpu_generator(generator)
        x, y, n_new = concat_stream_replay(x_new, y_new, x_old, y_old)
        if self.augment is not None:
            aug = self.augment(x)
            if not isinstance(aug, Tensor) or aug.shape != x.shape:
                raise ValueError(f"augment must return a tensor of the input shape {tuple(x.shape)}")
            x = aug
        batch = super().forward(x, y, generator=g, out=out)
        batch.extras["num_stream"] = n_new
        return batch

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, augment={self.augment!r}"


class AdpMix(Mixer):
    """AdpMix (Adaptive Mixup, DualMix): old/new-class mixing with an adaptive label ratio.

    Every stream row gets a random replay partner and every replay row a random stream partner (drawn with
    replacement), so each mixed sample blends one new-class and one old-class image:
    ``x = lam x_own + (1 - lam) x_partner`` with ``lam ~ Beta(alpha, alpha)`` per row. The label weight of the
    own class is then moved toward the class that has been trained less:

        ``lam_y = lam * w_a / (lam * w_a + (1 - lam) * w_b)``,  ``w_c = (1 / count_c) ** gamma``

    where ``count_c`` counts the samples of class ``c`` this mixer has trained on so far (a running
    ``[num_classes]`` float64 buffer updated on every call with the stream and replay labels, on the device;
    pass ``class_counts=`` to use your own). Give ``num_classes`` when known: without it the table grows to
    the largest label seen, which reads ``y.max()`` (a host synchronisation on GPUs) on every call.
    ``gamma = 0`` gives plain mixup labels; larger ``gamma`` calibrates the boundary more strongly toward old
    classes.

    Call: ``adpmix(x_new, y_new, x_old=None, y_old=None, generator=g) -> MixedBatch`` over ``[x_new; x_old]``
    (floating ``[B, ...]``, class ids ``[B]``) with ``out.lam`` the label weight and
    ``out.extras["input_lam"]`` the pixel weight. Without replay data (first task) nothing is mixed
    (``lam = 1``, ``extras["mixing"] = False``).

    Simplified relative to the paper: the adaptive label-ratio rule above (inverse training frequency) is
    mixkit's formulation of "dynamically adjusting the label mixing ratio"; the paper's exact schedule is not
    reproduced. No authors' release was found; ``alpha=1`` and ``gamma=1`` are mixkit's defaults.
    """

    name = "adpmix"
    paper = _PAPER
    paper_url = _URL
    tasks = frozenset({"class_incremental"})

    def __init__(self, num_classes: int | None = None, alpha: float = 1.0, gamma: float = 1.0,
                 prob: float = 1.0, *, validate: bool = True) -> None:
        super().__init__(alpha, mode="elem", prob=prob, validate=validate)
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
            raise ValueError(f"num_classes must be an int >= 2 (or None), got {num_classes!r}")
        gamma = float(gamma)
        if not gamma >= 0 or gamma == float("inf"):
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
        self.num_classes, self.gamma = num_classes, gamma
        self.register_buffer("counts", torch.zeros(num_classes or 0, dtype=torch.float64))

    def reset_counts(self) -> None:
        """Forget the class counts (e.g. when a new run starts)."""
        self.counts.zero_()

    def draw(self, shape: torch.Size, generator: torch.Generator | None, num_stream: int | None = None
             ) -> MixParams:
        """Cross partners (stream rows -> replay rows, replay rows -> stream rows, with replacement) and
        ``lam`` per row for a batch of ``shape[0]`` rows whose first ``num_stream`` are the stream; without
        replay rows (``num_stream`` ``None`` or ``shape[0]``) nothing is drawn and nothing is mixed."""
        n = shape[0]
        n_new = n if num_stream is None else int(num_stream)
        if n_new >= n:
            return MixParams(Pairs(torch.arange(n)), torch.ones(n))
        n_old = n - n_new
        to_old = n_new + torch.randint(0, n_old, (n_new,), generator=generator)
        to_new = torch.randint(0, n_new, (n_old,), generator=generator)
        index = torch.cat([to_old, to_new])
        lam = sample_beta(self.alpha, n, generator)
        active = sample_active(self.prob, index, "elem", generator)
        if active is not None:
            lam = lam.masked_fill(~active, 1.0)
        return MixParams(Pairs(index), lam)

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``lam x + (1 - lam) x[index]`` and the pixel weight ``lam`` ([B] float32 on ``x``'s device)."""
        lam = params.lam.to(x.device, torch.float32, non_blocking=True)
        return blend_with_partner(x, params.pairs, weight_view(1.0 - lam, x), out), lam

    def forward(self, x_new: Tensor, y_new: Tensor, x_old: Tensor | None = None,  # type: ignore[override]
                y_old: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None, class_counts: Tensor | None = None) -> MixedBatch:
        g = cpu_generator(generator)
        x, y, n_new = concat_stream_replay(x_new, y_new, x_old, y_old)
        self.check_call(x, y, g, out)
        self.count(y)
        n = x.shape[0]
        if n == n_new:
            x_out = x if out is None else out.copy_(x)
            return MixedBatch(x=x_out, index=torch.arange(n, device=x.device),
                              lam=torch.ones(n, device=x.device), y=y,
                              extras={"mixing": False, "num_stream": n_new})
        params = self.draw(x.shape, g, n_new)
        x_out, lam_in = self.apply(x, params, out)
        index = params.pairs.index.to(x.device, non_blocking=True)
        lam_y = self.label_weights(y, index, lam_in, class_counts)
        return MixedBatch(x=x_out, index=index, lam=lam_y, y=y,
                          extras={"input_lam": lam_in, "num_stream": n_new, "mixing": True})

    def count(self, y: Tensor) -> None:
        """Add the labels ``y`` ``[B]`` to the class counts (growing the table without ``num_classes``)."""
        if self.num_classes is None:  # grow the count table to the largest label seen (reads y.max())
            if bool((y < 0).any()):
                raise ValueError("y_new / y_old: class ids must be >= 0")
            k = max(int(y.max()) + 1, self.counts.numel())
            if k > self.counts.numel():
                self.counts = torch.cat([self.counts, self.counts.new_zeros(k - self.counts.numel())])
        else:
            check_class_ids(y, self.num_classes)
        if self.counts.device != y.device:
            self.counts = self.counts.to(y.device)
        self.counts += torch.bincount(y, minlength=self.counts.numel()).to(self.counts.dtype)

    def label_weights(self, y: Tensor, index: Tensor, lam: Tensor, class_counts: Tensor | None = None
                      ) -> Tensor:
        """Own-label weight ``[B]`` float32 from the pixel weight ``lam`` and the class counts."""
        k = self.counts.numel()
        counts = self.counts if class_counts is None else _check_counts(class_counts, k, y.device)
        w = counts.clamp_min(1.0).reciprocal().pow(self.gamma).to(torch.float32)
        w_own, w_partner = w[y], w[y[index]]
        num = lam * w_own
        return num / (num + (1.0 - lam) * w_partner)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        counts = state_dict.get(prefix + "counts")
        if isinstance(counts, Tensor) and counts.shape != self.counts.shape:  # a grown table
            self.counts = torch.zeros_like(counts, device=self.counts.device)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, alpha={self.alpha}, gamma={self.gamma}, prob={self.prob}"


def _check_counts(counts: Tensor, k: int, device: torch.device) -> Tensor:
    if not isinstance(counts, Tensor) or counts.shape != (k,):
        raise ValueError(f"class_counts must be a tensor of shape [{k}]")
    return counts.to(device, torch.float64)
