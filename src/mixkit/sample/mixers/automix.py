"""AutoMix (Liu et al., "AutoMix: Unveiling the Power of Mixup for Stronger Classifiers", ECCV 2022): a
learned Mix Block generates the mixing mask from the feature maps of an EMA (momentum) copy of the model.

Model protocol: ``forward_features(x) -> [B, C, h, w]`` and ``head(features) -> logits [B, K]``
(``requires = {"features"}``); for the release's ``mask_layer`` the model also exposes
``forward_stages(x) -> sequence of stage maps [B, C_s, h_s, w_s]`` (stage 1 first; the Mix Block reads
``stages[mask_layer]``). A model without ``forward_stages`` is read through ``forward_features`` (a warning
says so once). Use it in any training loop::

    mixer = mixkit.AutoMix(total_steps=epochs * steps_per_epoch)  # schedules of the release
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    for step, (x, y) in enumerate(loader):
        out = mixer.training_step(model, x, y, generator=g)  # steps the Mix Block with its own SGD
        opt.zero_grad()
        out.loss.backward()              # the classifier's mixed CE + clean CE
        opt.step()
        mixer.on_step_end(model, step)   # EMA teacher; momentum and Mix Block lr schedules

With ``own_optimizer=False`` the Mix Block is not stepped inside ``training_step``: its loss is added to
``out.loss`` (one backward pass, as the release) and ``mixer.parameters()`` must be in your optimizer (give
``in_channels`` so the block exists before the first step).

``mixer.state_dict()`` holds the Mix Block, the teacher and the block's optimizer state; it loads into a
fresh instance built with the same arguments (the block is rebuilt from the saved shapes, the teacher is
restored at the next step from the model it copies).
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import sample_lam
from ..model_capabilities import classify, stage_map
from ..pairing import Pairs, make_pairs
from .attentivemix import features_of
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["AutoMix", "AutoMixParams", "MixBlock", "mask_features"]

_UPSAMPLE = ("nearest", "bilinear", "bicubic")


def _check_upsample(mode: str) -> str:
    if mode not in _UPSAMPLE:
        raise ValueError(f"upsample must be one of {_UPSAMPLE}, got {mode!r}")
    return mode


def configure_mask_block(block: nn.Module, in_channels: int, reduction: int, lam_channel: bool,
                         upsample: str) -> int:
    """Check and store the settings shared by the learned mask blocks (AutoMix's ``MixBlock``, AdAutoMix's
    ``AdaptiveMaskBlock``); returns the input channels of their 1x1 convolutions."""
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    if not isinstance(reduction, int) or reduction < 1:
        raise ValueError(f"reduction must be a positive int, got {reduction!r}")
    block.in_channels, block.reduction = in_channels, reduction
    block.lam_channel, block.upsample = bool(lam_channel), _check_upsample(upsample)
    block.hidden = max(in_channels // reduction, 1)
    return in_channels + int(block.lam_channel)


def init_convs(convs: tuple[nn.Conv2d, ...], std: float) -> None:
    """The release's initialisation of the mask blocks: weights ``normal(0, std)``, biases 0."""
    for conv in convs:
        nn.init.normal_(conv.weight, 0.0, std)
        nn.init.zeros_(conv.bias)


def _upsample(t: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    if mode == "nearest":
        return F.interpolate(t, size=size, mode=mode)
    return F.interpolate(t, size=size, mode=mode, align_corners=False)


class MixBlock(nn.Module):
    """AutoMix's Mix Block, as the release's ``PixelMixBlock`` (Westlake-AI/openmixup,
    ``openmixup/models/heads/pmix_block.py``) with the CIFAR configuration.

    Inputs: feature maps ``a``, ``b`` ``[B, C, h, w]`` of a sample and its partner, ``lam`` ``[B]`` (weight of
    ``a``) and the output ``size`` ``(H, W)``. One 1x1 convolution ``query`` (``C -> C // reduction``, with
    bias) embeds both maps (queries of ``a``, keys of ``b``); ``P = softmax(q_a k_b^T / sqrt(d))``
    ``[B, hw, hw]``; the value is a one-channel 1x1 convolution of the partner ``b``; the partner's mask logit
    is ``P @ v_b`` ``[B, 1, h, w]``, upsampled (``upsample``, nearest in the release's CIFAR config) to
    ``size`` and squashed by a sigmoid. Returns the weight of ``a``: ``1 - sigmoid(...)`` ``[B, 1, H, W]``
    float32. With ``lam_channel=True`` ``lam`` (``1 - lam`` for ``b``) is appended as a constant channel
    (the release's ``lam_concat``, off in its CIFAR config). Weights start ``normal(0, init_std)``, biases 0.
    """

    def __init__(self, in_channels: int, reduction: int = 2, *, lam_channel: bool = False,
                 upsample: str = "nearest", init_std: float = 0.01) -> None:
        super().__init__()
        c = configure_mask_block(self, in_channels, reduction, lam_channel, upsample)
        self.query = nn.Conv2d(c, self.hidden, 1)
        self.value = nn.Conv2d(c, 1, 1)
        init_convs((self.query, self.value), init_std)

    def forward(self, a: Tensor, b: Tensor, lam: Tensor, size: tuple[int, int]) -> Tensor:
        """The weight of ``a`` ``[B, 1, *size]`` (float32) from maps ``a``, ``b`` and ``lam`` ``[B]``."""
        n, _, h, w = a.shape
        a, b = a.float(), b.float()
        if self.lam_channel:
            lam = lam.to(a.device, torch.float32).view(-1, 1, 1, 1).expand(n, 1, h, w)
            a, b = torch.cat([a, lam], 1), torch.cat([b, 1 - lam], 1)
        with torch.autocast(a.device.type, enabled=False):
            q = self.query(a).flatten(2).transpose(1, 2)  # [B, hw, d]
            k = self.query(b).flatten(2)  # [B, d, hw]
            v = self.value(b).flatten(2).transpose(1, 2)  # [B, hw, 1]
            attn = torch.softmax(q @ k / math.sqrt(self.hidden), -1)  # [B, hw(a), hw(b)]
            logit = (attn @ v).view(n, 1, h, w)
            partner = torch.sigmoid(_upsample(logit, size, self.upsample))
        return 1.0 - partner

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, hidden={self.hidden}, lam_channel={self.lam_channel}, "
                f"upsample={self.upsample!r}")


_WARNED: set[str] = set()


def mask_features(model: nn.Module, x: Tensor, layer: int | None) -> Tensor:
    """The feature map the Mix Block reads: stage ``layer`` ``[B, C, h, w]`` (``model.forward_stages(x)``,
    or timm's ``forward_intermediates``; see :func:`mixkit.sample.model_capabilities.stage_map`), or
    ``model.forward_features(x)`` when ``layer`` is ``None`` or the model exposes no stages (then a
    warning, once per model class)."""
    feats = None if layer is None else stage_map(model, x, layer)
    if feats is None:
        if layer is not None and type(model).__name__ not in _WARNED:
            _WARNED.add(type(model).__name__)
            warnings.warn(f"{type(model).__name__} has no forward_stages(x) (nor timm's "
                          "forward_intermediates); the mask generator reads forward_features instead of "
                          f"stage {layer + 1} (mask_layer={layer})", stacklevel=3)
        return features_of(model, x)
    return feats


def mixed_cross_entropy(logits: Tensor, y: Tensor, index: Tensor, lam: Tensor) -> Tensor:
    """``MixedBatch.loss``: ``lam CE(logits, y) + (1 - lam) CE(logits, y[index])`` (mean)."""
    return MixedBatch(x=logits, index=index, lam=lam, y=y).loss(logits)


def logits_of(model: nn.Module, x: Tensor) -> Tensor:
    """``model.forward_head(model.forward_features(x))`` (timm) or ``model.head(model.forward_features(x))``;
    see :func:`mixkit.sample.model_capabilities.classify`."""
    return classify(model, x)


@dataclass(repr=False)
class AutoMixParams(MixParams):
    """:class:`MixParams` (``pairs``, ``lam``: the classifier's batch) plus the Mix Block's own draw
    (``gen_pairs``, ``gen_lam`` ``[B]``), the feature maps ``[B, C, h, w]`` the block reads and the
    classifier's mask ``[B, 1, H, W]`` that :meth:`AutoMix.apply` fills in."""

    gen_pairs: Pairs | None = None
    gen_lam: Tensor | None = None
    features: Tensor | None = None
    mask: Tensor | None = None


class AutoMix(ModelAwareMixer):
    """AutoMix: a Mix Block (:class:`MixBlock`) generates the mixing mask ``m`` from EMA-teacher feature maps;
    mixed input ``x_mix = m * x + (1 - m) * x[index]``, labels mixed with the drawn ``lam``.

    One training step, as the release: two independent draws, ``(lam_g, index_g)`` for the Mix Block and
    ``(lam_c, index_c)`` for the classifier (``lam ~ Beta(alpha, alpha)``, one per batch, random
    permutations). The teacher's stage-``mask_layer`` maps of ``x`` feed the block for both masks, computed
    before the block's update. The block minimises the teacher's mixed CE on its sample (labels ``lam_g``)
    plus ``mask_weight * max(|mean(m_g) - lam_g| - margin, 0)`` (batch mean); it is stepped by its own SGD
    (``lr``, ``momentum`` 0.9, ``weight_decay``; cosine to ``min_lr`` over ``total_steps``) unless
    ``own_optimizer=False``. The classifier gets ``CE_mix(model(x_mix_c); lam_c) + clean_weight *
    CE(model(x), y)`` with the block's mask detached; when ``lam_c <= lam_margin`` or ``>= 1 - lam_margin``
    it mixes plainly (``m = lam_c``). :meth:`on_step_end` updates the teacher's parameters by EMA with a
    momentum that rises from ``momentum`` to ``end_momentum`` on the release's cosine schedule (constant
    over the first ``momentum_scope[0]`` of ``total_steps``).

    ``x``: ``[B, C, H, W]`` floating; ``lam`` of the returned batch is the drawn ``lam_c``; ``extras`` hold
    ``mask`` (the classifier's mask, weight of each row itself), ``generator_loss`` and ``generator_x`` (the
    block's training sample). Calling the mixer, ``automix(x, y, generator=g, features=f)``, mixes with the
    current block (classifier side, margin applied) without training it.

    Release: Westlake-AI/openmixup, ``openmixup/models/classifiers/automix.py`` (``AutoMixup``) and
    ``openmixup/models/heads/pmix_block.py`` (``PixelMixBlock``); defaults from
    ``configs/classification/cifar100/automix/basic/r18_l2_a2_near_L1_01_mlr5e_2.py`` (alpha 2, momentum
    0.999 -> 0.999999 over scope [0.1, 1], mask_layer 2, mask loss 0.1 with margin 0.1, lam_margin 0.08,
    reduction 2, nearest, no lambda channel, SGD lr 0.1 momentum 0.9 wd 1e-4, cosine to 0.05).
    Remaining deviations:
    - one classifier head serves the clean and the mixed CE (the release trains two heads, head_one/head_mix).
    - without ``total_steps`` the momentum and the block's lr stay constant; with it they follow the
      schedule per step (the release's lr is cosine per epoch).
    - a model without ``forward_stages`` feeds ``forward_features`` to the block (warned).
    - ``mode="elem"`` (per-row ``lam``, ours) compares the batch-mean mask with the mean ``lam``.
    """

    name = "automix"
    paper = "AutoMix: Unveiling the Power of Mixup for Stronger Classifiers (Liu et al., ECCV 2022)"
    paper_url = "https://arxiv.org/abs/2103.13027"
    release = "Westlake-AI/openmixup"
    requires = frozenset({"features"})
    min_rank = 4
    max_rank = 4

    def __init__(self, alpha: float = 2.0, *, mode: str = "batch", pairing: str = "permute",
                 in_channels: int | None = None, reduction: int = 2, lam_channel: bool = False,
                 upsample: str = "nearest", mask_layer: int | None = 2, momentum: float = 0.999,
                 end_momentum: float = 0.999999, momentum_scope: tuple[float, float] = (0.1, 1.0),
                 mask_weight: float = 0.1, margin: float = 0.1, lam_margin: float = 0.08,
                 clean_weight: float = 1.0, lr: float = 0.1, min_lr: float = 0.05, sgd_momentum: float = 0.9,
                 weight_decay: float = 1e-4, total_steps: int | None = None,
                 own_optimizer: bool = True) -> None:
        super().__init__(alpha, mode=mode, pairing=pairing)
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if not float(momentum) <= float(end_momentum) <= 1.0:
            raise ValueError(f"end_momentum must be in [momentum, 1], got {end_momentum!r}")
        scope = tuple(float(s) for s in momentum_scope)
        if len(scope) != 2 or not 0.0 <= scope[0] <= scope[1] <= 1.0:
            raise ValueError(f"momentum_scope must be (start, end) with 0 <= start <= end <= 1, got "
                             f"{momentum_scope!r}")
        if not float(lr) > 0 or not 0 <= float(min_lr) <= float(lr):
            raise ValueError(f"lr must be > 0 and min_lr in [0, lr], got lr={lr!r}, min_lr={min_lr!r}")
        if not 0.0 <= float(lam_margin) < 0.5:
            raise ValueError(f"lam_margin must be in [0, 0.5), got {lam_margin!r}")
        if mask_layer is not None and (not isinstance(mask_layer, int) or mask_layer < 0):
            raise ValueError(f"mask_layer must be None or an int >= 0, got {mask_layer!r}")
        if total_steps is not None and (not isinstance(total_steps, int) or total_steps < 1):
            raise ValueError(f"total_steps must be None or a positive int, got {total_steps!r}")
        self.base_momentum, self.end_momentum = float(momentum), float(end_momentum)
        self.momentum = self.base_momentum  # the current value, moved by on_step_end
        self.momentum_scope = scope
        self.mask_weight, self.margin = float(mask_weight), float(margin)
        self.lam_margin, self.clean_weight = float(lam_margin), float(clean_weight)
        self.lr, self.min_lr = float(lr), float(min_lr)
        self.sgd_momentum, self.weight_decay = float(sgd_momentum), float(weight_decay)
        self.total_steps, self.mask_layer = total_steps, mask_layer
        self.reduction, self.lam_channel = int(reduction), bool(lam_channel)
        self.upsample = _check_upsample(upsample)
        self.own_optimizer = bool(own_optimizer)
        if not self.own_optimizer and in_channels is None:
            raise ValueError("own_optimizer=False needs in_channels (the channels of the mask layer), so "
                             "the generator's parameters exist when you build your optimizer")
        self.block: nn.Module | None = self.make_block(in_channels) if in_channels is not None else None
        self.teacher: nn.Module | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._pending_teacher: dict[str, Tensor] | None = None

    @property
    def owns_optimizer(self) -> bool:
        """True when the block is stepped inside :meth:`training_step` (a training loop must then leave
        ``mixer.parameters()`` out of its own optimizer; ``mixkit.bench`` reads this flag)."""
        return self.own_optimizer

    # ----------------------------------------------------------------- pieces
    def make_block(self, channels: int) -> nn.Module:
        """A new mask generator for ``channels`` feature channels."""
        return MixBlock(channels, self.reduction, lam_channel=self.lam_channel, upsample=self.upsample)

    def block_channels(self, state_dict: dict[str, Any], prefix: str) -> int | None:
        """Feature channels of a saved block (``None`` when the state holds none)."""
        weight = state_dict.get(prefix + "block.query.weight")
        return int(weight.shape[1]) - int(self.lam_channel) if isinstance(weight, Tensor) else None

    def teacher_of(self, model: nn.Module) -> nn.Module:
        """The EMA teacher: a frozen copy of ``model`` made at the first call (a loaded teacher state applied
        to it), in ``model``'s train/eval mode."""
        if self.teacher is None:
            teacher = copy.deepcopy(model)
            teacher.requires_grad_(False)
            if self._pending_teacher is not None:
                teacher.load_state_dict(self._pending_teacher)
                self._pending_teacher = None
            self.teacher = teacher
        if self.teacher.training != model.training:
            self.teacher.train(model.training)
        return self.teacher

    def generator_of(self, channels: int, device: torch.device) -> nn.Module:
        """The mask generator, built for ``channels`` feature channels on ``device`` at the first call."""
        if self.block is None:
            self.block = self.make_block(channels).to(device)
        return self.block

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> AutoMixParams:
        """Both draws of a step: the classifier's ``pairs``/``lam`` and the block's ``gen_pairs``/``gen_lam``
        (``[B]`` float32, CPU; the drawn values, self-paired rows included)."""
        n = shape[0]
        pairs = make_pairs(n, self.pairing, generator)
        gen_pairs = make_pairs(n, self.pairing, generator)
        gen_lam = sample_lam(self.alpha, gen_pairs.index, self.mode, generator)
        lam = sample_lam(self.alpha, pairs.index, self.mode, generator)
        return AutoMixParams(pairs, lam, gen_pairs=gen_pairs, gen_lam=gen_lam)

    def own_weight(self, x: Tensor, feats: Tensor, index: Tensor, lam: Tensor) -> Tensor:
        """The block's weight of each row itself ``[B, 1, H, W]`` for partners ``index`` (device)."""
        block = self.generator_of(feats.shape[1], x.device)
        return block(feats, feats.index_select(0, index), lam, (x.shape[-2], x.shape[-1]))

    def with_margin(self, mask: Tensor, lam: Tensor) -> Tensor:
        """``mask`` with the rows whose ``lam`` is within ``lam_margin`` of 0 or 1 set to plain mixup."""
        if self.lam_margin <= 0:
            return mask
        lam = lam.to(mask.device, mask.dtype).view(-1, 1, 1, 1)
        plain = (lam <= self.lam_margin) | (lam >= 1 - self.lam_margin)
        return torch.where(plain, lam.expand_as(mask), mask)

    @staticmethod
    def blend(x: Tensor, index: Tensor, weight: Tensor) -> Tensor:
        """``weight * x + (1 - weight) * x[index]`` in ``x``'s dtype."""
        return torch.lerp(x.index_select(0, index).float(), x.float(), weight).to(x.dtype)

    def mask_ratio_loss(self, mask: Tensor, lam: Tensor) -> Tensor:
        """``max(|mean(mask) - mean(lam)| - margin, 0)``: the release's L1 mask loss on the batch mean."""
        gap = (mask.mean() - lam.to(mask.device, mask.dtype).mean()).abs()
        return (gap - self.margin).clamp_min(0.0)

    # ----------------------------------------------------------------- the call
    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None, features: Tensor | None = None) -> MixedBatch:
        """Mix with the current block (no training); ``features``: the maps ``[B, C, h, w]`` of ``x`` that
        the block reads."""
        g = self.check_call(x, y, generator, out)
        if features is None:
            raise ValueError("features: pass the feature maps [B, C, h, w] of x, "
                             "or use training_step(model, x, y)")
        params = self.draw(x.shape, g)
        params.features = features
        x_mixed, lam = self.apply(x, params, out)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x_mixed.device, non_blocking=True),
                          lam=lam.to(x_mixed.device, torch.float32, non_blocking=True), y=y,
                          extras=self.extras(params, x_mixed))

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The classifier's mixture (no gradient, margin applied) and its label weight: the drawn ``lam``."""
        features = getattr(params, "features", None)
        if features is None:
            raise ValueError("params.features: AutoMix needs the feature maps [B, C, h, w] of x")
        idx = params.pairs.index.to(x.device, non_blocking=True)
        with torch.no_grad():
            mask = self.with_margin(self.own_weight(x, features, idx, params.lam), params.lam)
            x_mix = self.blend(x, idx, mask)
        params.mask = mask  # type: ignore[attr-defined]
        return (x_mix if out is None else out.copy_(x_mix)), params.lam

    def extras(self, params: MixParams, x_mixed: Tensor) -> dict[str, Any]:
        """``mask``: the mask ``[B, 1, H, W]`` of the mixed batch (weight of each row itself)."""
        return {"mask": getattr(params, "mask", None)}

    # ----------------------------------------------------------------- training
    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """The block's step (its own optimizer) and the classifier's loss on the pre-update mask."""
        g = self.check_step(model, x, y, generator)
        teacher = self.teacher_of(model)
        params = self.draw(x.shape, g)
        assert params.gen_pairs is not None and params.gen_lam is not None
        idx = params.pairs.index.to(x.device, non_blocking=True)
        gidx = params.gen_pairs.index.to(x.device, non_blocking=True)
        with torch.no_grad():
            feats = mask_features(teacher, x, self.mask_layer)
        gen_mask = self.own_weight(x, feats, gidx, params.gen_lam)
        gen_x = self.blend(x, gidx, gen_mask)
        with torch.no_grad():
            mask = self.with_margin(self.own_weight(x, feats, idx, params.lam), params.lam)
            x_mix = self.blend(x, idx, mask)
        gen_lam = params.gen_lam.to(x.device, non_blocking=True)
        gen_loss = mixed_cross_entropy(logits_of(teacher, gen_x), y, gidx, gen_lam)
        if self.mask_weight:
            gen_loss = gen_loss + self.mask_weight * self.mask_ratio_loss(gen_mask, gen_lam)
        extra = self.step_generator(gen_loss)
        lam = params.lam.to(x.device, torch.float32, non_blocking=True)
        out = MixedBatch(x=x_mix, index=idx, lam=lam, y=y,
                         extras={"mask": mask, "generator_loss": gen_loss.detach(),
                                 "generator_x": gen_x.detach()})
        clean = logits_of(model, x) if self.clean_weight else None  # the release: clean pass first
        logits = logits_of(model, x_mix)
        loss = out.loss(logits)
        if clean is not None:
            loss = loss + self.clean_weight * F.cross_entropy(clean.float(), y)
        if extra is not None:
            loss = loss + extra
        return StepOutput(loss=loss, logits=logits, mixed=out)

    def step_generator(self, gen_loss: Tensor) -> Tensor | None:
        """With its own optimizer: one SGD step of the block on ``gen_loss`` (returns ``None``); otherwise
        ``gen_loss``, to be added to the classifier's loss."""
        if not self.own_optimizer:
            return gen_loss
        block = self.block
        assert block is not None
        params = [p for p in block.parameters() if p.requires_grad]
        grads = torch.autograd.grad(gen_loss, params, allow_unused=True)
        for p, gr in zip(params, grads):
            p.grad = gr
        optimizer = self.optimizer()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return None

    def momentum_at(self, step: int) -> float:
        """The release's EMA momentum after step ``step`` (0-based) of ``total_steps``: ``momentum`` before
        ``momentum_scope[0] * total_steps``, then ``end - (end - base) * (cos(pi k / K) + 1) / 2`` up to
        ``K = momentum_scope[1] * total_steps``; constant without ``total_steps``."""
        if self.total_steps is None:
            return self.momentum
        total = self.total_steps
        k_end = int(total * self.momentum_scope[1]) if self.momentum_scope[1] < 1 else total
        k_start = int(total * self.momentum_scope[0]) if self.momentum_scope[0] > 0 else 0
        if step < k_start:
            return self.base_momentum
        if step > k_end:
            return self.momentum
        return self.end_momentum - (self.end_momentum - self.base_momentum) * (
            math.cos(math.pi * step / float(k_end)) + 1) / 2

    def lr_at(self, step: int) -> float:
        """The block's lr for step ``step``: cosine from ``lr`` to ``min_lr`` over ``total_steps``."""
        if self.total_steps is None:
            return self.lr
        t = min(max(step, 0), self.total_steps) / self.total_steps
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * t)) / 2

    @torch.no_grad()
    def on_train_start(self, total_steps: int) -> None:
        """Turn on the release's momentum and lr schedules over ``total_steps`` unless ``total_steps`` was
        given at construction."""
        if self.total_steps is None:
            if not isinstance(total_steps, int) or total_steps < 1:
                raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
            self.total_steps = total_steps

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """EMA of the teacher's parameters, ``t = m t + (1 - m) p`` with ``m = momentum_at(step)`` (its
        buffers are its own, as the release's momentum encoder), and the block's lr for the next step."""
        self.momentum = self.momentum_at(step)
        if self.teacher is not None:
            for t, p in zip(self.teacher.parameters(), model.parameters()):
                t.lerp_(p.detach(), 1.0 - self.momentum)
        if self._optimizer is not None:
            for group in self._optimizer.param_groups:
                group["lr"] = self.lr_at(step + 1)

    # ----------------------------------------------------------------- state
    def optimizer(self) -> torch.optim.Optimizer:
        """The block's own SGD (built with the block's parameters at the first use)."""
        if self._optimizer is None:
            if self.block is None:
                raise RuntimeError("the generator does not exist yet (no step taken, no in_channels)")
            self._optimizer = torch.optim.SGD(self.block.parameters(), lr=self.lr, momentum=self.sgd_momentum,
                                              weight_decay=self.weight_decay)
        return self._optimizer

    def get_extra_state(self) -> dict[str, Any]:
        """The block's optimizer state (``None`` before the first update) and the current momentum."""
        return {"optimizer": None if self._optimizer is None else self._optimizer.state_dict(),
                "momentum": self.momentum}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_extra_state` saved."""
        saved = state.get("optimizer") if isinstance(state, dict) else None
        if isinstance(state, dict) and "momentum" in state:
            self.momentum = float(state["momentum"])
        if saved is None:
            self._optimizer = None
        else:  # a copy: the optimizer would otherwise share (and step) the saved state tensors in place
            self.optimizer().load_state_dict(copy.deepcopy(saved))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        channels = self.block_channels(state_dict, prefix)
        if self.block is None and channels is not None:  # rebuild the lazily built generator
            device = next(v.device for k, v in state_dict.items() if k.startswith(prefix + "block."))
            self.block = self.make_block(channels).to(device)
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
                f"mask_layer={self.mask_layer}, momentum={self.base_momentum}->{self.end_momentum}, "
                f"mask_weight={self.mask_weight}, margin={self.margin}, lam_margin={self.lam_margin}, "
                f"lr={self.lr}->{self.min_lr}, total_steps={self.total_steps}, "
                f"own_optimizer={self.own_optimizer}")
