"""AutoMix (Liu et al., "AutoMix: Unveiling the Power of Mixup for Stronger Classifiers", ECCV 2022): a
learned Mix Block generates the mixing mask, trained through an EMA (momentum) teacher.

Needs a model with ``forward_features(x) -> [B, C, h, w]`` and ``head(features) -> logits [B, K]``
(``requires = {"features"}``). Use it in any training loop::

    mixer = mixkit.AutoMix(alpha=2.0)                  # the generator is built at the first step
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    for step, (x, y) in enumerate(loader):
        out = mixer.training_step(model, x, y, generator=g)  # updates the generator with its own Adam
        opt.zero_grad()
        out.loss.backward()                                  # mixed CE of the classifier on the mixed batch
        opt.step()
        mixer.on_step_end(model, step)                       # EMA update of the momentum teacher

``out.mixed`` is the usual :class:`~mixkit.sample.batch.MixedBatch` (``lam`` = exact mask mean) and
``out.mixed.extras`` holds the mask and the generator's loss. With ``own_optimizer=False`` the generator is
not stepped inside ``training_step``; its loss is added to ``out.loss`` instead and ``mixer.parameters()``
must then be in your optimizer (give ``in_channels`` so the generator exists before the first step).

``mixer.state_dict()`` holds the generator, the teacher and the generator's optimizer state; it loads into
a fresh ``AutoMix()`` (the generator is rebuilt from the saved shapes, the teacher is restored at the next
step from the model it copies).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..pairing import partner_rows
from .attentivemix import features_of
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["AutoMix", "AutoMixParams", "MixBlock"]


class MixBlock(nn.Module):
    """AutoMix's Mix Block (Liu et al., ECCV 2022): a mask generator conditioned on ``lam``.

    Inputs: feature maps ``a``, ``b`` ``[B, C, h, w]`` of a sample and its partner and ``lam`` ``[B]`` (the
    weight of ``a``). Each map gets ``lam`` (resp. ``1 - lam``) appended as a constant channel (the paper's
    lambda embedding); 1x1 convolutions give queries of ``a``, keys of ``b`` and values of ``a``; the
    cross-attention ``P = softmax(q_a^T k_b / sqrt(d))`` ``[B, hw, hw]`` mixes the values, a 1x1 convolution
    gives one mask logit per cell, which is upsampled (bilinear) to ``size`` and squashed by a sigmoid.
    Returns the mask ``[B, 1, H, W]`` (float32, in (0, 1)): the weight of ``a`` at each pixel.

    mixkit's choice (not in the paper): ``logit(lam)`` is added to the mask logits and the output convolution
    starts at zero, so an untrained block produces plain mixup with weight ``lam`` and learns from there.
    """

    def __init__(self, in_channels: int, hidden: int | None = None) -> None:
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        d = hidden if hidden is not None else max(8, in_channels // 2)
        self.hidden = d
        self.query = nn.Conv2d(in_channels + 1, d, 1)
        self.key = nn.Conv2d(in_channels + 1, d, 1)
        self.value = nn.Conv2d(in_channels + 1, d, 1)
        self.out = nn.Conv2d(d, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, a: Tensor, b: Tensor, lam: Tensor, size: tuple[int, int]) -> Tensor:
        """The mask ``[B, 1, *size]`` (weight of ``a``) from feature maps ``a``, ``b`` and ``lam`` ``[B]``."""
        n, _, h, w = a.shape
        lam = lam.to(a.device, torch.float32).view(-1, 1, 1, 1)
        za = torch.cat([a.float(), lam.expand(n, 1, h, w)], 1)
        zb = torch.cat([b.float(), (1 - lam).expand(n, 1, h, w)], 1)
        q, k, v = self.query(za).flatten(2), self.key(zb).flatten(2), self.value(za).flatten(2)  # [B, d, hw]
        attn = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(self.hidden), -1)  # [B, hw(a), hw(b)]
        ctx = (v @ attn.transpose(1, 2)).view(n, self.hidden, h, w)
        logits = self.out(ctx) + torch.logit(lam.clamp(1e-4, 1 - 1e-4))
        return torch.sigmoid(F.interpolate(logits, size=size, mode="bilinear", align_corners=False))

    def extra_repr(self) -> str:
        return f"in_channels={self.query.in_channels - 1}, hidden={self.hidden}"


def mixed_cross_entropy(logits: Tensor, y: Tensor, index: Tensor, lam: Tensor) -> Tensor:
    """``MixedBatch.loss``: ``lam CE(logits, y) + (1 - lam) CE(logits, y[index])`` (mean)."""
    return MixedBatch(x=logits, index=index, lam=lam, y=y).loss(logits)


def classifier_head(model: nn.Module, feats: Tensor) -> Tensor:
    """``model.head(feats)``, with a clear error when the model has no ``head``."""
    head = getattr(model, "head", None)
    if not callable(head):
        raise TypeError(f"this mixer needs a model with head(features) -> logits; "
                        f"{type(model).__name__} has none")
    return head(feats)


@dataclass(repr=False)
class AutoMixParams(MixParams):
    """:class:`MixParams` plus the feature maps ``[B, C, h, w]`` of the call's ``x`` and the generated mask
    ``[B, 1, H, W]`` that :meth:`AutoMix.apply` fills in."""

    features: Tensor | None = None
    mask: Tensor | None = None


class AutoMix(ModelAwareMixer):
    """AutoMix: a learned Mix Block generates the mixing mask from the two samples' feature maps and
    ``lam ~ Beta(alpha, alpha)``; mixed input ``x = m * x_i + (1 - m) * x_j``.

    Momentum pipeline, as in the paper: the feature maps come from an EMA (momentum) copy of the model
    (``momentum``; updated in :meth:`on_step_end`). The generator is trained to minimise the teacher's mixed
    cross-entropy on the generated sample plus the mask-ratio loss ``max(|mean(m) - lam| - margin, 0)``
    (weight ``mask_weight``); the classifier is trained on the mixed sample with the generator detached.
    ``lam`` of the returned batch is the exact mask mean (the mask loss keeps it near the drawn ``lam``; the
    paper labels with the drawn ``lam``). ``x``: ``[B, C, H, W]`` floating; model: ``forward_features`` and
    ``head``. Calling the mixer, ``automix(x, y, generator=g, features=f)``, mixes with the current generator
    without training it.

    The generator has its own Adam (``lr``) stepped inside :meth:`training_step` unless
    ``own_optimizer=False`` (see the module docstring). ``in_channels`` (channels of ``forward_features``)
    builds the generator now; ``None`` builds it at the first step.

    Release: Westlake-AI/openmixup, ``openmixup/models/classifiers/automix_V1plus.py`` and
    ``openmixup/models/heads/pmix_block.py`` (``PixelMixBlock``); CIFAR recipe
    ``configs/classification/cifar100/automix/basic/r18_l2_a2_near_L1_01_mlr5e_2.py``. This class does not
    yet reproduce it; remaining deviations:
    - Mix Block: values come from the row's own features through a hidden-width value and an output
      convolution with a ``logit(lam)`` offset and bilinear upsampling; the release computes a one-channel
      value of the partner's features, shares the query convolution for queries and keys, upsamples
      nearest and has no lambda channel in its CIFAR config.
    - one ``lam`` and one pairing serve generator and classifier; the release draws two of each.
    - no clean cross-entropy term for the classifier (the release adds ``CE(model(x), y)``, weight 1) and no
      lambda margin (the release mixes plainly when ``lam`` or ``1 - lam`` <= 0.08).
    - labels use the mask mean; the release labels with the drawn ``lam``; the mask loss is per row here,
      on the batch mean in the release.
    - the generator has its own Adam (lr 1e-3); the release trains it with the model's SGD (lr 0.1,
      momentum 0.9, weight decay 1e-4, cosine schedule); ``momentum`` is constant (the release raises it
      from 0.999 to 0.999999 by a cosine schedule).
    - the Mix Block reads ``forward_features`` (the last map); the release reads stage 3 (``mask_layer=2``).
    """

    name = "automix"
    paper = "AutoMix: Unveiling the Power of Mixup for Stronger Classifiers (Liu et al., ECCV 2022)"
    paper_url = "https://arxiv.org/abs/2103.13027"
    release = "Westlake-AI/openmixup"
    requires = frozenset({"features"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 2.0, *, mode: str = "elem", pairing: str = "roll",
                 in_channels: int | None = None, hidden: int | None = None, momentum: float = 0.999,
                 mask_weight: float = 0.1, margin: float = 0.1, lr: float = 1e-3,
                 own_optimizer: bool = True) -> None:
        super().__init__(alpha, mode=mode, pairing=pairing)
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if not float(lr) > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.momentum, self.mask_weight = float(momentum), float(mask_weight)
        self.margin, self.lr = float(margin), float(lr)
        self.hidden, self.own_optimizer = hidden, bool(own_optimizer)
        if not self.own_optimizer and in_channels is None:
            raise ValueError("own_optimizer=False needs in_channels (the channels of forward_features), so "
                             "the generator's parameters exist when you build your optimizer")
        self.block: MixBlock | None = MixBlock(in_channels, hidden) if in_channels is not None else None
        self.teacher: nn.Module | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._pending_teacher: dict[str, Tensor] | None = None

    @property
    def owns_optimizer(self) -> bool:
        """True when the generator is stepped inside :meth:`training_step` (a training loop must then leave
        ``mixer.parameters()`` out of its own optimizer; ``mixkit.bench`` reads this flag)."""
        return self.own_optimizer

    # ----------------------------------------------------------------- pieces
    def teacher_of(self, model: nn.Module) -> nn.Module:
        """The EMA teacher (a frozen copy of ``model`` made at the first call, with a loaded teacher state
        applied to it)."""
        if self.teacher is None:
            teacher = copy.deepcopy(model)
            teacher.requires_grad_(False)
            if self._pending_teacher is not None:
                teacher.load_state_dict(self._pending_teacher)
                self._pending_teacher = None
            self.teacher = teacher
        return self.teacher

    def generator_of(self, channels: int, device: torch.device) -> MixBlock:
        """The Mix Block, built for ``channels`` feature channels on ``device`` at the first call."""
        if self.block is None:
            self.block = MixBlock(channels, self.hidden).to(device)
        return self.block

    def generate(self, x: Tensor, feats: Tensor, pairs: Any, lam: Tensor) -> tuple[Tensor, Tensor]:
        """Mixed batch ``[B, C, H, W]`` and mask ``[B, 1, H, W]`` (weight of each row itself) from the
        generator; ``pairs``: :class:`~mixkit.sample.pairing.Pairs`, ``lam``: ``[B]``."""
        block = self.generator_of(feats.shape[1], x.device)
        idx = pairs.index.to(x.device, non_blocking=True)
        mask = block(feats, feats[idx], lam, (x.shape[-2], x.shape[-1]))
        self_paired = (idx == torch.arange(x.shape[0], device=x.device)).view(-1, 1, 1, 1)
        mask = mask.masked_fill(self_paired, 1.0)
        partner = partner_rows(x, pairs, idx)
        return torch.lerp(partner, x, mask.to(x.dtype)), mask

    def generator_loss(self, model: nn.Module, teacher: nn.Module, x: Tensor, x_mix: Tensor, mask: Tensor,
                       y: Tensor, index: Tensor, lam: Tensor) -> Tensor:
        """AutoMix: the teacher's mixed CE on the generated batch plus the mask-ratio loss."""
        lam_true = mask.flatten(1).mean(1).detach()  # label weights are not a path for the generator
        logits = classifier_head(teacher, teacher.forward_features(x_mix))
        ce = mixed_cross_entropy(logits, y, index, lam_true)
        return ce + self.mask_weight * self.mask_ratio_loss(mask, lam)

    def mask_ratio_loss(self, mask: Tensor, lam: Tensor) -> Tensor:
        """``mean(max(|mean(mask) - lam| - margin, 0))`` over the batch."""
        gap = (mask.flatten(1).mean(1) - lam.to(mask.device, mask.dtype)).abs()
        return (gap - self.margin).clamp_min(0.0).mean()

    # ----------------------------------------------------------------- the call
    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None, features: Tensor | None = None) -> MixedBatch:
        """Mix with the current generator (no training); ``features``: the maps ``[B, C, h, w]`` of ``x``."""
        g = self.check_call(x, y, generator, out)
        if features is None:
            raise ValueError("features: pass the feature maps [B, C, h, w] of x, "
                             "or use training_step(model, x, y)")
        base = self.draw(x.shape, g)
        params = AutoMixParams(base.pairs, base.lam, features)
        x_mixed, lam = self.apply(x, params, out)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x_mixed.device, non_blocking=True),
                          lam=lam.to(x_mixed.device, torch.float32, non_blocking=True), y=y,
                          extras=self.extras(params, x_mixed))

    def apply(self, x: Tensor, params: AutoMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Generated mixture (no gradient) and the mask mean ``[B]`` float32."""
        if params.features is None:
            raise ValueError("params.features: AutoMix needs the feature maps [B, C, h, w] of x")
        with torch.no_grad():
            x_mix, mask = self.generate(x, params.features, params.pairs, params.lam)
        params.mask = mask
        return (x_mix if out is None else out.copy_(x_mix)), mask.flatten(1).mean(1)

    def extras(self, params: AutoMixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``mask``: the generated mask ``[B, 1, H, W]`` (weight of each row itself)."""
        return {"mask": params.mask}

    # ----------------------------------------------------------------- training
    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Generator update (own optimizer) then the classifier's mixed loss on a freshly generated batch."""
        g = self.check_call(x, y, generator)
        if y is None:
            raise ValueError("y: learned mixers need labels")
        teacher = self.teacher_of(model)
        params = self.draw(x.shape, g)
        pairs, lam = params.pairs, params.lam
        idx = pairs.index.to(x.device, non_blocking=True)
        with torch.no_grad():
            feats = features_of(teacher, x)
        x_mix, mask = self.generate(x, feats, pairs, lam)
        gen_loss = self.generator_loss(model, teacher, x, x_mix, mask, y, idx, lam)
        block = self.block
        assert block is not None
        if self.own_optimizer:
            optimizer = self.optimizer()
            params_ = list(block.parameters())
            grads = torch.autograd.grad(gen_loss, params_, allow_unused=True)
            for p, gr in zip(params_, grads):
                p.grad = gr
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                x_mix, mask = self.generate(x, feats, pairs, lam)
            extra_loss = None
        else:
            extra_loss = gen_loss
        lam_true = mask.detach().flatten(1).mean(1)
        out = MixedBatch(x=x_mix.detach(), index=idx, lam=lam_true, y=y,
                         extras={"mask": mask.detach(), "generator_loss": gen_loss.detach()})
        logits, loss = self.classifier_loss(model, out, x_mix)
        if extra_loss is not None:
            loss = loss + extra_loss
        return StepOutput(loss=loss, logits=logits, mixed=out)

    def classifier_loss(self, model: nn.Module, out: MixedBatch, x_mix: Tensor) -> tuple[Tensor, Tensor]:
        """Logits of the mixed batch and the classifier's mixed CE."""
        logits = model(out.x)
        return logits, out.loss(logits)

    @torch.no_grad()
    def on_step_end(self, model: nn.Module, step: int) -> None:
        """EMA update of the teacher: ``t = momentum * t + (1 - momentum) * model`` (buffers copied)."""
        if self.teacher is None:
            return
        for t, p in zip(self.teacher.parameters(), model.parameters()):
            t.lerp_(p.detach(), 1.0 - self.momentum)
        for t, b in zip(self.teacher.buffers(), model.buffers()):
            t.copy_(b)

    # ----------------------------------------------------------------- state
    def optimizer(self) -> torch.optim.Optimizer:
        """The generator's own Adam (built with the generator's parameters at the first use)."""
        if self._optimizer is None:
            if self.block is None:
                raise RuntimeError("the generator does not exist yet (no step taken, no in_channels)")
            self._optimizer = torch.optim.Adam(self.block.parameters(), lr=self.lr)
        return self._optimizer

    def get_extra_state(self) -> dict[str, Any]:
        """The generator's optimizer state (``None`` before the first update)."""
        return {"optimizer": None if self._optimizer is None else self._optimizer.state_dict()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore the generator's optimizer state saved by :meth:`get_extra_state`."""
        saved = state.get("optimizer") if isinstance(state, dict) else None
        if saved is None:
            self._optimizer = None
        else:  # a copy: Adam would otherwise share (and step) the saved state tensors in place
            self.optimizer().load_state_dict(copy.deepcopy(saved))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        weight = state_dict.get(prefix + "block.query.weight")
        if self.block is None and isinstance(weight, Tensor):  # rebuild the lazily built generator
            self.block = MixBlock(int(weight.shape[1]) - 1, int(weight.shape[0])).to(weight.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        if self.teacher is None:  # the teacher is a copy of the model: restored at the next step
            head = prefix + "teacher."
            teacher_state = {k[len(head):]: v for k, v in state_dict.items() if k.startswith(head)}
            if teacher_state:
                self._pending_teacher = teacher_state
                unexpected_keys[:] = [k for k in unexpected_keys if not k.startswith(head)]

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, mode={self.mode!r}, pairing={self.pairing!r}, "
                f"momentum={self.momentum}, mask_weight={self.mask_weight}, margin={self.margin}, "
                f"lr={self.lr}, own_optimizer={self.own_optimizer}")
