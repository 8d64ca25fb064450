"""Learned mixers: AutoMix's Mix Block generator with an EMA (momentum) teacher, and AdAutoMix's adversarial
training of that generator.

Both need a model with ``forward_features(x) -> [B, C, h, w]`` and ``head(features) -> logits [B, K]``
(``requires = {"features"}``). Use them in any training loop::

    mixer = mixkit.AutoMix(alpha=2.0)                  # or mixkit.AdAutoMix(); the generator is built lazily
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
must
then be in your optimizer (give ``in_channels`` so the generator exists before the first step).
"""

from __future__ import annotations

import copy
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import check_alpha, check_mode, cpu_generator, sample_lam
from ..pairing import Pairs, check_pairing, make_pairs, partner_rows
from ..registry import register
from ..step import StepOutput
from ..validate import check_inputs, check_labels
from .saliency import features_of


class MixBlock(nn.Module):
    """AutoMix's Mix Block (Liu et al., ECCV 2022): a mask generator conditioned on ``lam``.

    Inputs: feature maps ``a``, ``b`` ``[B, C, h, w]`` of a sample and its partner and ``lam`` ``[B]`` (the
    weight
    of ``a``). Each map gets ``lam`` (resp. ``1 - lam``) appended as a constant channel (the paper's lambda
    embedding); 1x1 convolutions give queries of ``a``, keys of ``b`` and values of ``a``; the cross-attention
    ``P = softmax(q_a^T k_b / sqrt(d))`` ``[B, hw, hw]`` mixes the values, a 1x1 convolution gives one mask
    logit
    per cell, which is upsampled (bilinear) to ``size`` and squashed by a sigmoid. Returns the mask
    ``[B, 1, H, W]`` (float32, in (0, 1)): the weight of ``a`` at each pixel.

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
        n, _, h, w = a.shape
        lam = lam.to(a.device, torch.float32).view(-1, 1, 1, 1)
        za = torch.cat([a.float(), lam.expand(n, 1, h, w)], 1)
        zb = torch.cat([b.float(), (1 - lam).expand(n, 1, h, w)], 1)
        q, k, v = self.query(za).flatten(2), self.key(zb).flatten(2), self.value(za).flatten(2)  # [B, d, hw]
        attn = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(self.hidden), -1)  # [B, hw(a), hw(b)]
        ctx = (v @ attn.transpose(1, 2)).view(n, self.hidden, h, w)
        logits = self.out(ctx) + torch.logit(lam.clamp(1e-4, 1 - 1e-4))
        return torch.sigmoid(F.interpolate(logits, size=size, mode="bilinear", align_corners=False))


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return -ctx.scale * grad, None


def _mixed_ce(logits: Tensor, y: Tensor, index: Tensor, lam: Tensor) -> Tensor:
    return MixedBatch(x=logits, index=index, lam=lam, y=y).loss(logits)


def _head(model: nn.Module, feats: Tensor) -> Tensor:
    head = getattr(model, "head", None)
    if not callable(head):
        raise TypeError(f"this mixer needs a model with head(features) -> logits; "
                        f"{type(model).__name__} has none")
    return head(feats)


@register("automix")
class AutoMix(nn.Module):
    """AutoMix (Liu et al., ECCV 2022): a learned Mix Block generates the mixing mask from the two samples'
    feature maps and ``lam ~ Beta(alpha, alpha)``; mixed input ``x = m * x_i + (1 - m) * x_j``.

    Momentum pipeline, as in the paper: the feature maps come from an EMA (momentum) copy of the model
    (``momentum``; updated in :meth:`on_step_end`). The generator is trained to minimise the teacher's mixed
    cross-entropy on the generated sample plus the mask-ratio loss ``max(|mean(m) - lam| - margin, 0)``
    (weight ``mask_weight``); the classifier is trained on the mixed sample with the generator detached.
    ``lam`` of the returned batch is the exact mask mean (the mask loss keeps it near the drawn ``lam``; the
    paper
    labels with the drawn ``lam``). ``x``: ``[B, C, H, W]``; model: ``forward_features`` and ``head``.

    The generator has its own Adam (``lr``) stepped inside :meth:`training_step` unless
    ``own_optimizer=False``
    (see the module docstring). ``in_channels`` (channels of ``forward_features``) builds the generator now;
    ``None`` builds it at the first step. Simplification: the paper's AutoMix can also add a clean-sample
    loss and
    schedules the momentum; here both are left to the user (``momentum`` is a constant).
    """

    name = "automix"
    paper = "AutoMix: Unveiling the Power of Mixup for Stronger Classifiers (Liu et al., ECCV 2022)"
    paper_url = "https://arxiv.org/abs/2103.13027"
    requires: ClassVar[frozenset[str]] = frozenset({"features"})

    def __init__(self, alpha: float = 2.0, *, mode: str = "elem", pairing: str = "roll",
                 in_channels: int | None = None, hidden: int | None = None, momentum: float = 0.999,
                 mask_weight: float = 0.1, margin: float = 0.1, lr: float = 1e-3,
                 own_optimizer: bool = True) -> None:
        super().__init__()
        self.alpha = check_alpha(alpha)
        self.mode = check_mode(mode)
        self.pairing = check_pairing(pairing)
        if self.mode == "pair" and self.pairing != "flip":
            raise ValueError("mode='pair' needs pairing='flip'")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if not float(lr) > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.momentum, self.mask_weight, self.margin, self.lr = float(momentum), float(mask_weight), \
            float(margin), float(lr)
        self.hidden, self.own_optimizer = hidden, bool(own_optimizer)
        if not self.own_optimizer and in_channels is None:
            raise ValueError("own_optimizer=False needs in_channels (the channels of forward_features), so "
                             "the generator's parameters exist when you build your optimizer")
        self.block: MixBlock | None = MixBlock(in_channels, hidden) if in_channels is not None else None
        self.teacher: nn.Module | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    @property
    def owns_optimizer(self) -> bool:
        """True when the generator is stepped inside :meth:`training_step` (a training loop must then leave
        ``mixer.parameters()`` out of its own optimizer; ``mixkit.bench`` reads this flag)."""
        return self.own_optimizer

    # ----------------------------------------------------------------- pieces
    def teacher_of(self, model: nn.Module) -> nn.Module:
        """The EMA teacher (a frozen copy of ``model`` made at the first call)."""
        if self.teacher is None:
            teacher = copy.deepcopy(model)
            teacher.requires_grad_(False)
            self.teacher = teacher
        return self.teacher

    def generator_of(self, channels: int, device: torch.device) -> MixBlock:
        if self.block is None:
            self.block = MixBlock(channels, self.hidden).to(device)
        return self.block

    def draw(self, batch_size: int, generator: torch.Generator | None) -> tuple[Pairs, Tensor]:
        pairs = make_pairs(batch_size, self.pairing, generator)
        lam = sample_lam(self.alpha, pairs.index, self.mode, generator)
        fixed = pairs.fixed_points()
        return pairs, (lam if fixed is None else lam.masked_fill(fixed, 1.0))

    def generate(self, x: Tensor, feats: Tensor, pairs: Pairs, lam: Tensor) -> tuple[Tensor, Tensor]:
        """Mixed batch ``[B, C, H, W]`` and mask ``[B, 1, H, W]`` (weight of each row itself) from the
        generator."""
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
        ce = _mixed_ce(_head(teacher, teacher.forward_features(x_mix)), y, index, lam_true)
        return ce + self.mask_weight * self.mask_ratio_loss(mask, lam)

    def mask_ratio_loss(self, mask: Tensor, lam: Tensor) -> Tensor:
        gap = (mask.flatten(1).mean(1) - lam.to(mask.device, mask.dtype)).abs()
        return (gap - self.margin).clamp_min(0.0).mean()

    # ----------------------------------------------------------------- protocol
    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Generator update (own optimizer) then the classifier's mixed loss on a freshly generated batch."""
        g = cpu_generator(generator)
        check_inputs(x, 4, 4)
        check_labels(y, x.shape[0])
        if y is None:
            raise ValueError("y: learned mixers need labels")
        teacher = self.teacher_of(model)
        pairs, lam = self.draw(x.shape[0], g)
        idx = pairs.index.to(x.device, non_blocking=True)
        with torch.no_grad():
            feats = features_of(teacher, x)
        x_mix, mask = self.generate(x, feats, pairs, lam)
        gen_loss = self.generator_loss(model, teacher, x, x_mix, mask, y, idx, lam)
        block = self.block
        assert block is not None
        if self.own_optimizer:
            if self._optimizer is None:
                self._optimizer = torch.optim.Adam(block.parameters(), lr=self.lr)
            params = list(block.parameters())
            grads = torch.autograd.grad(gen_loss, params, allow_unused=True)
            for p, gr in zip(params, grads):
                p.grad = gr
            self._optimizer.step()
            self._optimizer.zero_grad(set_to_none=True)
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

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                features: Tensor | None = None) -> MixedBatch:
        """Mix with the current generator (no training); ``features``: the maps ``[B, C, h, w]`` of ``x``."""
        g = cpu_generator(generator)
        check_inputs(x, 4, 4)
        check_labels(y, x.shape[0])
        if features is None:
            raise ValueError("features: pass the feature maps [B, C, h, w] of x, "
                             "or use training_step(model, x, y)")
        pairs, lam = self.draw(x.shape[0], g)
        with torch.no_grad():
            x_mix, mask = self.generate(x, features, pairs, lam)
        return MixedBatch(x=x_mix, index=pairs.index.to(x.device), lam=mask.flatten(1).mean(1), y=y,
                          extras={"mask": mask})

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, mode={self.mode!r}, pairing={self.pairing!r}, "
                f"momentum={self.momentum}, "
                f"mask_weight={self.mask_weight}, margin={self.margin}, lr={self.lr}")


@register("adautomix")
class AdAutoMix(AutoMix):
    """AdAutoMix (Qin et al., ICLR 2024): AutoMix's generator trained adversarially against the classifier.

    Alternating steps, as in the paper: first the generator is updated to *maximise* the classifier's mixed
    cross-entropy on the generated batch (hard mixed samples; weight ``adv_weight``) while two regularisers
    keep the mixed samples meaningful: the EMA teacher's mixed cross-entropy on the generated batch
    (minimised)
    and the cosine term ``1 - cos(f_t(x_mix), lam f_t(x_i) + (1 - lam) f_t(x_j))`` between the teacher's
    pooled
    features of the mixed sample and the ``lam``-weighted features of its two sources (weight ``cos_weight``),
    plus the mask-ratio loss. Then the classifier minimises its mixed cross-entropy on a batch generated by
    the
    updated (detached) generator. The classifier's gradients are never touched by the generator update
    (``torch.autograd.grad`` on the generator's parameters only).

    With ``own_optimizer=False`` the two steps become one simultaneous step: the classifier sees the mixed
    batch
    through a gradient-reversal layer, so one backward pass trains the classifier down and the generator up.

    Simplifications: two images per mixed sample (the paper also mixes three); constant weights (no schedule).
    """

    name = "adautomix"
    paper = "Adversarial AutoMixup (Qin et al., ICLR 2024)"
    paper_url = "https://arxiv.org/abs/2312.11954"

    def __init__(self, alpha: float = 1.0, *, adv_weight: float = 1.0, cos_weight: float = 1.0,
                 **kwargs) -> None:
        super().__init__(alpha, **kwargs)
        self.adv_weight, self.cos_weight = float(adv_weight), float(cos_weight)

    def generator_loss(self, model: nn.Module, teacher: nn.Module, x: Tensor, x_mix: Tensor, mask: Tensor,
                       y: Tensor, index: Tensor, lam: Tensor) -> Tensor:
        lam_true = mask.flatten(1).mean(1).detach()
        t_feats = teacher.forward_features(x_mix)
        teacher_ce = _mixed_ce(_head(teacher, t_feats), y, index, lam_true)
        with torch.no_grad():
            src = teacher.forward_features(x).float().mean((2, 3))
        target = torch.lerp(src[index], src, lam_true.view(-1, 1))
        cos = 1.0 - F.cosine_similarity(t_feats.float().mean((2, 3)), target, dim=1).mean()
        loss = teacher_ce + self.cos_weight * cos + self.mask_weight * self.mask_ratio_loss(mask, lam)
        if self.own_optimizer:
            adv = _mixed_ce(model(x_mix), y, index, lam_true)
            loss = loss - self.adv_weight * adv
        return loss

    def classifier_loss(self, model: nn.Module, out: MixedBatch, x_mix: Tensor) -> tuple[Tensor, Tensor]:
        if self.own_optimizer:
            return super().classifier_loss(model, out, x_mix)
        logits = model(_ReverseGrad.apply(x_mix, self.adv_weight))
        return logits, out.loss(logits)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, adv_weight={self.adv_weight}, cos_weight={self.cos_weight}"
