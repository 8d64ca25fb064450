"""AdAutoMix (Qin et al., "Adversarial AutoMixup", ICLR 2024): a mask generator that mixes two or three
images and is trained adversarially against an EMA copy of the classifier.

Model protocol, training loop and state as :mod:`mixkit.sample.mixers.automix` (``forward_features``,
``head``, optionally ``forward_stages``; ``training_step`` then ``on_step_end``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..checks import is_class_ids
from ..lam import sample_lam
from ..pairing import Pairs, make_pairs
from .automix import AutoMix, _upsample, configure_mask_block, init_convs, logits_of, mask_features
from .mixer import MixParams
from .model_aware import StepOutput, check_step_labels

__all__ = ["AdAutoMix", "AdAutoMixParams", "AdaptiveMaskBlock", "GradientReversal", "multi_source_loss"]


class GradientReversal(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the gradient by ``-scale``:
    ``GradientReversal.apply(x, scale)``. A utility for adversarial set-ups of your own."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return -ctx.scale * grad, None


class AdaptiveMaskBlock(nn.Module):
    """AdAutoMix's mask generator, as the release's ``AdaptiveMask`` (JinXins/Adversarial-AutoMixup,
    ``openmixup/models/heads/Ada_mix_pine.py``) with its CIFAR configuration.

    Input: the feature maps of the ``S`` sources ``[S, B, C, h, w]``, their weights ``[S, B]`` and the output
    ``size``. Queries and keys are 1x1 convolutions with bias followed by a ReLU (``C -> C // reduction``),
    the value a one-channel 1x1 convolution. Source ``s``'s attention is
    ``softmax(sum_{j != s} q_s k_j^T / sqrt(d))`` ``[B, hw, hw]``, its mask logit that attention applied to
    its own value; the ``S`` logits are upsampled (``upsample``, bilinear in the CIFAR config) and a softmax
    over the sources gives the masks ``[B, S, H, W]`` (float32, summing to 1 at every pixel). ``lam_channel``
    appends each source's weight as a constant channel (the release's ``lam_concat``, off in its CIFAR
    config). Weights start ``normal(0, init_std)``, biases 0.
    """

    def __init__(self, in_channels: int, reduction: int = 2, *, lam_channel: bool = False,
                 upsample: str = "bilinear", init_std: float = 0.01) -> None:
        super().__init__()
        c = configure_mask_block(self, in_channels, reduction, lam_channel, upsample)
        self.conv_q = nn.Conv2d(c, self.hidden, 1)
        self.conv_k = nn.Conv2d(c, self.hidden, 1)
        self.conv_v = nn.Conv2d(c, 1, 1)
        init_convs((self.conv_q, self.conv_k, self.conv_v), init_std)

    def forward(self, feats: Tensor, weights: Tensor, size: tuple[int, int]) -> Tensor:
        """Masks ``[B, S, *size]`` (float32) from source maps ``[S, B, C, h, w]`` and weights ``[S, B]``."""
        s, n, c, h, w = feats.shape
        f = feats.float().reshape(s * n, c, h, w)
        if self.lam_channel:
            lam = weights.to(f.device, torch.float32).reshape(s * n, 1, 1, 1).expand(s * n, 1, h, w)
            f = torch.cat([f, lam], 1)
        with torch.autocast(f.device.type, enabled=False):
            q = F.relu(self.conv_q(f)).flatten(2).transpose(1, 2).reshape(s, n, h * w, self.hidden)
            k = F.relu(self.conv_k(f)).flatten(2).reshape(s, n, self.hidden, h * w)
            v = self.conv_v(f).flatten(2).transpose(1, 2).reshape(s, n, h * w, 1)
            others = k.sum(0, keepdim=True) - k  # sum of the other sources' keys: [S, B, d, hw]
            attn = torch.softmax(q @ others / math.sqrt(self.hidden), -1)  # [S, B, hw, hw]
            logits = (attn @ v).reshape(s, n, h, w).transpose(0, 1)  # [B, S, h, w]
            return torch.softmax(_upsample(logits, size, self.upsample), 1)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, hidden={self.hidden}, lam_channel={self.lam_channel}, "
                f"upsample={self.upsample!r}")


def multi_source_loss(logits: Tensor, y: Tensor, sources: Tensor, weights: Tensor) -> Tensor:
    """``mean_i sum_s weights[s, i] CE(logits[i], y[sources[s, i]])``; ``logits`` ``[B, K]``, ``y`` class
    ids ``[B]`` or soft labels ``[B, K]``, ``sources`` ``[S, B]`` int64, ``weights`` ``[S, B]``."""
    logp = F.log_softmax(logits.float(), -1)
    w = weights.to(logp.device, logp.dtype)
    src = sources.to(logp.device)
    if is_class_ids(y):
        nll = -logp.gather(1, y.long()[src].t())  # [B, S]
        return (nll * w.t()).sum(1).mean()
    target = (y.to(logp.dtype)[src] * w.unsqueeze(-1)).sum(0)  # [B, K]
    return -(target * logp).sum(-1).mean()


@dataclass(repr=False)
class AdAutoMixParams(MixParams):
    """:class:`MixParams` (``pairs`` = second source, ``lam`` = weight of each row itself) plus the sources
    ``[S, B]`` int64 (row 0: the row itself) and weights ``[S, B]`` float32 of the classifier's batch and of
    the generator's (``gen_sources``, ``gen_weights``), the feature maps the generator reads and the
    classifier's masks ``[B, S, H, W]`` that :meth:`AdAutoMix.apply` fills in."""

    sources: Tensor | None = None
    weights: Tensor | None = None
    gen_sources: Tensor | None = None
    gen_weights: Tensor | None = None
    features: Tensor | None = None
    mask: Tensor | None = None


class AdAutoMix(AutoMix):
    """AdAutoMix: ``S`` images mixed by generated masks, ``x_mix = sum_s m_s * x[src_s]``, labels mixed
    with the drawn weights; the generator (:class:`AdaptiveMaskBlock`) is trained against the EMA teacher.

    One training step, as the release: ``S = mix_samples`` (``random_count=True``: drawn in
    ``2..mix_samples`` each step). ``S > 2``: ``S`` draws of ``Beta(alpha, alpha)`` normalised to sum to 1,
    shared by generator and classifier, each with its own ``S - 1`` random partners; ``S = 2``: two
    independent ``lam`` and partners, as AutoMix. The teacher's stage-``mask_layer`` maps of the sources feed
    the generator. Generator loss with ``CE_t`` the teacher's mixed CE on the generator's sample: on even
    steps ``-adv_weight * CE_t + cos_weight * cos`` (``cos``: the weighted cosine similarity between the
    teacher's logits on the mixed image and on each source), on odd steps ``CE_t``; stepped by its own SGD
    as :class:`AutoMix`. Classifier loss: the mixed CE on its batch (masks detached; plain mixup of the
    sources when the row's own weight is within ``lam_margin`` of 0 or 1) plus, for ``S > 2``,
    ``(1 - mixup_ratio) * CE(model(x), y) + mixup_ratio *`` the CE of the plain ``S``-image mixup, for
    ``S = 2`` plus ``CE(model(x), y)``.

    Source 0 of every row is the row itself (the release draws ``S`` random permutations; relabelling the
    rows by the first one gives this form with the same distribution of mixed samples). ``lam`` of the
    returned batch is the own weight and ``index`` the second source; ``extras`` hold ``sources``,
    ``weights`` (use :func:`multi_source_loss` for ``S = 3``), ``mask`` ``[B, S, H, W]``, ``generator_loss``
    and ``generator_x``. Other arguments, inputs and state as :class:`AutoMix`.

    Release: JinXins/Adversarial-AutoMixup, ``openmixup/models/classifiers/AdAutoMix.py`` and
    ``openmixup/models/heads/Ada_mix_pine.py`` (``AdaptiveMask``); defaults from
    ``configs/classification/cifar100/basic/r18_adautomix_bilinear.py`` (alpha 1, mix_samples 3,
    is_random False, lam_margin 0.03, mixup_radio 0.5, beta_radio 0.3, reduction 2, bilinear, no lambda
    channel, mask from stage 3, momentum 0.999 -> 0.999999, SGD lr 0.1 momentum 0.9 wd 1e-4, cosine to
    0.05). Remaining deviations:
    - one classifier head serves the clean and the mixed CE (the release trains two heads, head_one/head_mix).
    - the teacher's logits of the sources come from one pass over ``x`` (the release runs one per source;
      same values in train mode, its BN running statistics move once instead of ``S`` times).
    - without ``total_steps`` the momentum and the generator's lr stay constant; with it they follow the
      schedule per step (the release's lr is cosine per epoch).
    - a model without ``forward_stages`` feeds ``forward_features`` to the generator (warned).
    """

    name = "adautomix"
    paper = "Adversarial AutoMixup (Qin et al., ICLR 2024)"
    paper_url = "https://arxiv.org/abs/2312.11954"
    release = "JinXins/Adversarial-AutoMixup"

    def __init__(self, alpha: float = 1.0, *, mix_samples: int = 3, random_count: bool = False,
                 mode: str = "batch", pairing: str = "permute", in_channels: int | None = None,
                 reduction: int = 2, lam_channel: bool = False, upsample: str = "bilinear",
                 mask_layer: int | None = 2, momentum: float = 0.999, end_momentum: float = 0.999999,
                 momentum_scope: tuple[float, float] = (0.1, 1.0), lam_margin: float = 0.03,
                 adv_weight: float = 0.3, cos_weight: float = 0.7, mixup_ratio: float = 0.5,
                 lr: float = 0.1, min_lr: float = 0.05, sgd_momentum: float = 0.9, weight_decay: float = 1e-4,
                 total_steps: int | None = None, own_optimizer: bool = True) -> None:
        if not isinstance(mix_samples, int) or mix_samples < 2:
            raise ValueError(f"mix_samples must be an int >= 2, got {mix_samples!r}")
        if not 0.0 <= float(mixup_ratio) <= 1.0:
            raise ValueError(f"mixup_ratio must be in [0, 1], got {mixup_ratio!r}")
        self.mix_samples, self.random_count = mix_samples, bool(random_count)
        self.adv_weight, self.cos_weight = float(adv_weight), float(cos_weight)
        self.mixup_ratio = float(mixup_ratio)
        super().__init__(alpha, mode=mode, pairing=pairing, in_channels=in_channels, reduction=reduction,
                         lam_channel=lam_channel, upsample=upsample, mask_layer=mask_layer, momentum=momentum,
                         end_momentum=end_momentum, momentum_scope=momentum_scope, mask_weight=0.0,
                         margin=0.0, lam_margin=lam_margin, clean_weight=1.0, lr=lr, min_lr=min_lr,
                         sgd_momentum=sgd_momentum, weight_decay=weight_decay, total_steps=total_steps,
                         own_optimizer=own_optimizer)
        self.iteration = 0  # the release alternates its generator objective by iteration parity

    def make_block(self, channels: int) -> nn.Module:
        return AdaptiveMaskBlock(channels, self.reduction, lam_channel=self.lam_channel,
                                 upsample=self.upsample)

    def block_channels(self, state_dict: dict[str, Any], prefix: str) -> int | None:
        weight = state_dict.get(prefix + "block.conv_q.weight")
        return int(weight.shape[1]) - int(self.lam_channel) if isinstance(weight, Tensor) else None

    # ----------------------------------------------------------------- draws and masks
    def _sources(self, n: int, count: int, generator: torch.Generator | None) -> tuple[Tensor, list[Pairs]]:
        pairs = [make_pairs(n, self.pairing, generator) for _ in range(count - 1)]
        return torch.stack([torch.arange(n)] + [p.index for p in pairs]), pairs

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> AdAutoMixParams:  # type: ignore[override]
        """Every random number of a step: the number of sources, the classifier's and the generator's
        sources ``[S, B]`` and weights ``[S, B]`` (float32, CPU)."""
        n = shape[0]
        count = self.mix_samples
        if self.random_count and self.mix_samples > 2:
            count = int(torch.randint(2, self.mix_samples + 1, (1,), generator=generator))
        gen_sources, gen_pairs = self._sources(n, count, generator)
        sources, pairs = self._sources(n, count, generator)
        if count == 2:
            gen_lam = sample_lam(self.alpha, gen_pairs[0].index, self.mode, generator)
            lam = sample_lam(self.alpha, pairs[0].index, self.mode, generator)
            gen_weights, weights = torch.stack([gen_lam, 1 - gen_lam]), torch.stack([lam, 1 - lam])
        else:
            draws = torch.stack([sample_lam(self.alpha, sources[0], self.mode, generator)
                                 for _ in range(count)])
            weights = draws / draws.sum(0, keepdim=True).clamp_min(1e-12)
            gen_weights = weights
        return AdAutoMixParams(Pairs(sources[1]), weights[0].contiguous(), sources=sources, weights=weights,
                               gen_sources=gen_sources, gen_weights=gen_weights)

    def masks(self, x: Tensor, feats: Tensor, sources: Tensor, weights: Tensor) -> Tensor:
        """The generator's masks ``[B, S, H, W]`` for ``sources`` ``[S, B]`` (device) and ``weights``."""
        block = self.generator_of(feats.shape[1], x.device)
        return block(feats[sources], weights, (x.shape[-2], x.shape[-1]))

    def with_margin(self, mask: Tensor, lam: Tensor) -> Tensor:  # type: ignore[override]
        """``mask`` ``[B, S, H, W]`` with plain mixup (the weights ``lam`` ``[S, B]``) on the rows whose own
        weight is within ``lam_margin`` of 0 or 1."""
        if self.lam_margin <= 0:
            return mask
        w = lam.to(mask.device, mask.dtype).t()[:, :, None, None]  # [B, S, 1, 1]
        own = w[:, :1]
        plain = (own <= self.lam_margin) | (own >= 1 - self.lam_margin)
        return torch.where(plain, w.expand_as(mask), mask)

    @staticmethod
    def combine(x: Tensor, sources: Tensor, mask: Tensor) -> Tensor:
        """``sum_s mask[:, s] * x[sources[s]]`` in ``x``'s dtype; ``mask``: ``[B, S, H, W]`` or
        ``[B, S, 1, 1]``."""
        return (mask.unsqueeze(2) * x.float()[sources].transpose(0, 1)).sum(1).to(x.dtype)

    # ----------------------------------------------------------------- the call
    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The classifier's mixture (no gradient, margin applied) and the own weight ``[B]``."""
        features = getattr(params, "features", None)
        if features is None:
            raise ValueError("params.features: AdAutoMix needs the feature maps [B, C, h, w] of x")
        assert isinstance(params, AdAutoMixParams)
        assert params.sources is not None and params.weights is not None
        src = params.sources.to(x.device, non_blocking=True)
        with torch.no_grad():
            mask = self.with_margin(self.masks(x, features, src, params.weights), params.weights)
            x_mix = self.combine(x, src, mask)
        params.mask = mask
        return (x_mix if out is None else out.copy_(x_mix)), params.lam

    def extras(self, params: MixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``mask`` ``[B, S, H, W]``, ``sources`` ``[S, B]`` and ``weights`` ``[S, B]`` of the mixed batch."""
        assert isinstance(params, AdAutoMixParams)
        assert params.sources is not None and params.weights is not None
        return {"mask": params.mask, "sources": params.sources.to(x_mixed.device, non_blocking=True),
                "weights": params.weights.to(x_mixed.device, non_blocking=True)}

    # ----------------------------------------------------------------- training
    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """The generator's step (its own optimizer; objective by step parity) and the classifier's loss."""
        g = self.check_step(model, x, y, generator)
        teacher = self.teacher_of(model)
        params = self.draw(x.shape, g)
        assert params.sources is not None and params.weights is not None
        assert params.gen_sources is not None and params.gen_weights is not None
        src = params.sources.to(x.device, non_blocking=True)
        gsrc = params.gen_sources.to(x.device, non_blocking=True)
        weights = params.weights.to(x.device, non_blocking=True)
        gweights = params.gen_weights.to(x.device, non_blocking=True)
        with torch.no_grad():
            feats = mask_features(teacher, x, self.mask_layer)
        gen_mask = self.masks(x, feats, gsrc, gweights)
        gen_x = self.combine(x, gsrc, gen_mask)
        with torch.no_grad():
            mask = self.with_margin(self.masks(x, feats, src, weights), weights)
            x_mix = self.combine(x, src, mask)
        t_mix = logits_of(teacher, gen_x)
        check_step_labels(y, t_mix)
        gen_loss = multi_source_loss(t_mix, y, gsrc, gweights)
        if self.iteration % 2 == 0:  # adversarial step of the release
            with torch.no_grad():
                t_src = logits_of(teacher, x).float()[gsrc]  # [S, B, K]
            cos = F.cosine_similarity(t_mix.float().unsqueeze(0), t_src, dim=-1)  # [S, B]
            gen_loss = -self.adv_weight * gen_loss + self.cos_weight * (cos * gweights).sum(0).mean()
        self.iteration += 1
        extra = self.step_generator(gen_loss)
        clean = logits_of(model, x)  # the release: clean pass, plain mixup pass, mixed pass
        loss_clean = F.cross_entropy(clean.float(), y) if is_class_ids(y) else multi_source_loss(
            clean, y, src[:1], torch.ones_like(weights[:1]))
        if src.shape[0] > 2:
            plain = self.combine(x, src, weights.t()[:, :, None, None])
            loss_plain = multi_source_loss(logits_of(model, plain), y, src, weights)
            regular = (1 - self.mixup_ratio) * loss_clean + self.mixup_ratio * loss_plain
        else:
            regular = loss_clean
        logits = logits_of(model, x_mix)
        loss = multi_source_loss(logits, y, src, weights) + regular
        if extra is not None:
            loss = loss + extra
        out = MixedBatch(x=x_mix, index=src[1], lam=weights[0].float(), y=y,
                         extras={"mask": mask, "sources": src, "weights": weights,
                                 "generator_loss": gen_loss.detach(), "generator_x": gen_x.detach()})
        return StepOutput(loss=loss, logits=logits, mixed=out)

    # ----------------------------------------------------------------- state
    def get_extra_state(self) -> dict[str, Any]:
        state = super().get_extra_state()
        state["iteration"] = self.iteration
        return state

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        if isinstance(state, dict) and "iteration" in state:
            self.iteration = int(state["iteration"])

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, mix_samples={self.mix_samples}, random_count={self.random_count}, "
                f"adv_weight={self.adv_weight}, cos_weight={self.cos_weight}, mixup_ratio={self.mixup_ratio}")
