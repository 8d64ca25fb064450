"""AdaMixup: a learned mixing policy kept off the data manifold by an intrusion discriminator."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..model_capabilities import head_logits
from ..pairing import make_pairs
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput, check_step_labels

__all__ = ["AdaMixup", "AdaMixupParams", "PolicyRegionGenerator", "truncated_normal"]

_SQRT2 = 2.0 ** 0.5


def truncated_normal(shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
    """Standard normal draws truncated to ``[-2, 2]`` (TensorFlow's ``truncated_normal``), float32 on the CPU,
    by the inverse CDF of a uniform draw on ``[Phi(-2), Phi(2)]`` (one uniform per value)."""
    lo = 0.5 * (1 + torch.erf(torch.tensor(-2.0, dtype=torch.float64) / _SQRT2))
    u = lo + (1 - 2 * lo) * torch.rand(shape, generator=generator, dtype=torch.float64)
    return torch.special.ndtri(u).float()


class PolicyRegionGenerator(nn.Module):
    """The policy region generator: an image ``[B, C, H, W]`` -> ``[B, 3]`` softmax ``(a, b, c)``; the
    mixing weight is ``a + u * b`` with ``u ~ U(0, 1)``, so the policy region is ``[a, a + b]`` inside
    ``[0, 1]``. Four 3x3 conv-ReLU layers of ``width`` channels with two 2x2 max-pools (the release's MNIST
    trunk), global average pooling, then two linear layers (``width -> 100 -> 3``, weights ``N(0, 1e-3)``
    as the release's ``gate_linear``/``gate_linear2``)."""

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        if in_channels < 1 or width < 1:
            raise ValueError(f"in_channels and width must be >= 1, got {in_channels}, {width}")
        self.in_channels, self.width = in_channels, width
        self.trunk = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.gate = nn.Linear(width, 100)
        self.gate2 = nn.Linear(100, 3)
        for layer in (self.gate, self.gate2):
            nn.init.normal_(layer.weight, std=1e-3)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, 3]`` softmax (float32)."""
        h = self.trunk(x).mean(dim=(2, 3))
        return torch.softmax(self.gate2(self.gate(h)).float(), dim=1)


@dataclass(repr=False)
class AdaMixupParams(MixParams):
    """AdaMixup's draw: ``pairs`` (a permutation of the batch), ``lam`` (1: the learned weights come from
    the policy in :meth:`AdaMixup.apply`), ``u`` (``[h]`` uniform, the reparameterisation draw) and the
    truncated-normal pixel weights ``m1``, ``m2`` (``[h, C, H, W]``) of the policy's input; ``h = B // 2``
    rows are mixed, the other rows are the discriminator's unseen examples."""

    u: Tensor | None = None
    m1: Tensor | None = None
    m2: Tensor | None = None


class AdaMixup(ModelAwareMixer):
    """AdaMixup (Guo, Mao & Zhang, AAAI 2019): mixup whose weight is drawn from a learned policy region,
    trained with an intrusion discriminator that tells mixed images from real ones.

    Per step on a batch of ``B`` images (``x`` ``[B, C, H, W]``, ``y`` ``[B]`` class ids), as the release:

    * the first ``h = B // 2`` rows ``x1`` are mixed with partners ``x2`` from a permutation of the whole
      batch; the other rows are "unseen" real examples for the discriminator;
    * the policy region generator sees ``(m1 * x1 + m2 * x2) / 2`` (``m1, m2`` truncated normal per pixel)
      and outputs ``(a, b, c)`` (softmax); ``lam = a + u * b``, ``u ~ U(0, 1)`` (reparameterised, so the
      losses' gradients reach the generator);
    * the classifier trains on ``lam x1 + (1 - lam) x2`` (soft label ``lam y1 + (1 - lam) y2``) and on
      ``x1``;
    * the intrusion discriminator (the classifier's trunk, pooled, then a linear layer to ``disc_hidden``
      and one to 2 logits) labels the mixed images 0 and ``x1`` and the unseen rows 1;
    * the loss is the classifier's cross-entropy plus the discriminator's, minimised by all three jointly.

    The model needs ``forward_features(x) -> [B, C', h, w]`` and ``head(features) -> logits`` (or timm's
    ``forward_head``; a timm ViT's tokens are pooled by their mean)
    (``requires = {"features"}``). The generator and the discriminator head are the mixer's; with
    ``own_optimizer=True`` (default) an Adam optimizer of the mixer steps them in :meth:`on_step_end` from
    the gradients the training loop's ``loss.backward()`` left on them (so call ``on_step_end`` after
    every optimizer step); with ``own_optimizer=False`` give ``in_channels`` and ``feature_channels`` so
    they exist when you build your optimizer, and put ``mixer.parameters()`` into it.

    Paper: https://arxiv.org/abs/1809.02499. Release: ``SITE5039/AdaMixUp:
    GitHub.AdaMixup.AAAI.MNIST.Cifar.py`` (TensorFlow/tensorpack). Defaults from it: ``disc_hidden=10``
    (its ``CLASS_NUM``), Adam with ``lr=1e-3`` (its MNIST optimizer), weight decay ``1e-4``.

    Deviations:
        * one forward of the trunk on ``[mixed, x1, unseen]`` serves the classifier and the discriminator
          (the release runs two, so batch-norm statistics and dropout masks differ);
        * the generator is a small conv net of its own, not a copy of the classifier's architecture (the
          release's MNIST generator ends in a 512-unit dense layer with dropout; here global pooling);
        * no shuffle of the classifier's batch (it does not change the mean loss).
    """

    name = "adamixup"
    aliases = ("ada_mixup",)
    paper = "MixUp as Locally Linear Out-Of-Manifold Regularization (Guo, Mao & Zhang, AAAI 2019)"
    paper_url = "https://arxiv.org/abs/1809.02499"
    release = "SITE5039/AdaMixUp: GitHub.AdaMixup.AAAI.MNIST.Cifar.py"
    requires = frozenset({"features"})
    min_rank = 4
    max_rank = 4

    def __init__(self, *, in_channels: int | None = None, feature_channels: int | None = None,
                 disc_hidden: int = 10, policy_width: int = 32, lr: float = 1e-3, weight_decay: float = 1e-4,
                 own_optimizer: bool = True) -> None:
        super().__init__(1.0, mode="elem", pairing="permute")
        for name, v in (("in_channels", in_channels), ("feature_channels", feature_channels)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive int or None, got {v!r}")
        for name, v in (("disc_hidden", disc_hidden), ("policy_width", policy_width)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not float(lr) > 0 or not float(weight_decay) >= 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got lr={lr!r}, "
                             f"weight_decay={weight_decay!r}")
        self.own_optimizer = bool(own_optimizer)
        if not self.own_optimizer and (in_channels is None or feature_channels is None):
            raise ValueError("own_optimizer=False needs in_channels and feature_channels, so the generator "
                             "and the discriminator head exist when you build your optimizer")
        self.disc_hidden, self.policy_width = disc_hidden, policy_width
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.policy: PolicyRegionGenerator | None = (
            PolicyRegionGenerator(in_channels, policy_width) if in_channels is not None else None)
        self.discriminator: nn.Sequential | None = (
            self.make_discriminator(feature_channels) if feature_channels is not None else None)
        self._optimizer: torch.optim.Optimizer | None = None

    @property
    def owns_optimizer(self) -> bool:
        return self.own_optimizer

    def make_discriminator(self, channels: int) -> nn.Sequential:
        """The intrusion discriminator's head on pooled trunk features: ``channels -> disc_hidden -> 2``."""
        return nn.Sequential(nn.Linear(channels, self.disc_hidden), nn.Linear(self.disc_hidden, 2))

    def _policy_for(self, x: Tensor) -> PolicyRegionGenerator:
        if self.policy is None:
            self.policy = PolicyRegionGenerator(x.shape[1], self.policy_width).to(x.device)
        return self.policy

    def _discriminator_for(self, feats: Tensor) -> nn.Sequential:
        if self.discriminator is None:
            self.discriminator = self.make_discriminator(feats.shape[1]).to(feats.device)
        return self.discriminator

    # ----------------------------------------------------------------- the mixing
    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> AdaMixupParams:
        n = shape[0]
        h = n // 2
        pairs = make_pairs(n, "permute", generator)
        u = torch.rand(h, generator=generator)
        m1 = truncated_normal((h, *shape[1:]), generator)
        m2 = truncated_normal((h, *shape[1:]), generator)
        return AdaMixupParams(pairs, torch.ones(n), u=u, m1=m1, m2=m2)

    def policy_lam(self, x: Tensor, params: AdaMixupParams) -> tuple[Tensor, Tensor]:
        """The policy's ``(a, b, c)`` (``[h, 3]``) and ``lam = a + u * b`` (``[h]``, differentiable)."""
        h = params.u.shape[0]
        idx = params.pairs.index[:h].to(x.device, non_blocking=True)
        x1, x2 = x[:h], x[idx]
        m1 = params.m1.to(x.device, x.dtype, non_blocking=True)
        m2 = params.m2.to(x.device, x.dtype, non_blocking=True)
        region = self._policy_for(x)((m1 * x1 + m2 * x2) / 2)
        u = params.u.to(x.device, non_blocking=True)
        return region, region[:, 0] + u * region[:, 1]

    def apply(self, x: Tensor, params: AdaMixupParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``lam x1 + (1 - lam) x2`` in the first ``h`` rows, the other rows as they are; ``lam`` ``[B]``
        (1 for the unmixed rows; differentiable through the policy)."""
        h = params.u.shape[0]
        _, lam = self.policy_lam(x, params)
        idx = params.pairs.index[:h].to(x.device, non_blocking=True)
        w = lam.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        mixed = torch.cat([w * x[:h] + (1 - w) * x[idx], x[h:]])
        full_lam = torch.cat([lam, lam.new_ones(x.shape[0] - h)])
        if out is not None:
            out.copy_(mixed.detach())
            return out, full_lam
        return mixed, full_lam

    # ----------------------------------------------------------------- training
    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """The joint loss: mixed cross-entropy of the classifier plus the discriminator's cross-entropy."""
        g = self.check_step(model, x, y, generator)
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"x: AdaMixup needs a batch of at least 2 rows, got {n}")
        params = self.draw(x.shape, g)
        h = n // 2
        region, lam = self.policy_lam(x, params)
        idx = params.pairs.index.to(x.device, non_blocking=True)
        w = lam.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        x_mix = w * x[:h] + (1 - w) * x[idx[:h]]
        feats = model.forward_features(torch.cat([x_mix, x]))             # [mixed, x1, unseen]
        logits = head_logits(model, feats[: 2 * h]).float()
        check_step_labels(y, logits)
        y1, y2 = y[:h], y[idx[:h]]
        mixed_ce = (lam * F.cross_entropy(logits[:h], y1, reduction="none")
                    + (1 - lam) * F.cross_entropy(logits[:h], y2, reduction="none"))
        clean_ce = F.cross_entropy(logits[h:], y1, reduction="none")
        loss_cls = torch.cat([mixed_ce, clean_ce]).mean()
        if feats.dim() == 3 and hasattr(model, "patch_embed"):  # a timm ViT's tokens [B, N, D]: mean token
            pooled = feats.mean(dim=1)
        else:  # a feature map [B, C, *spatial]: the spatial mean
            pooled = feats.mean(dim=tuple(range(2, feats.dim()))) if feats.dim() > 2 else feats
        disc_logits = self._discriminator_for(pooled)(pooled).float()
        real = torch.ones(n + h, dtype=torch.long, device=x.device)
        real[:h] = 0
        loss_disc = F.cross_entropy(disc_logits, real)
        lam_full = torch.cat([lam.detach(), lam.new_ones(n - h)]).float()
        index = torch.cat([idx[:h], torch.arange(h, n, device=x.device)])
        mixed = MixedBatch(x=torch.cat([x_mix.detach(), x[h:]]), index=index, lam=lam_full, y=y,
                           extras={"policy": region.detach(), "classifier_loss": loss_cls.detach(),
                                   "discriminator_loss": loss_disc.detach()})
        return StepOutput(loss=loss_cls + loss_disc, logits=None, mixed=mixed)

    def optimizer(self) -> torch.optim.Optimizer:
        """The mixer's own Adam over the generator and the discriminator head (built at first use)."""
        if self._optimizer is None:
            if self.policy is None or self.discriminator is None:
                raise RuntimeError("the generator does not exist yet (no step taken, no in_channels)")
            self._optimizer = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return self._optimizer

    @torch.no_grad()
    def on_step_end(self, model: nn.Module, step: int) -> None:
        """With its own optimizer: one Adam step of the generator and the discriminator head on the
        gradients the loop's backward pass left on them, then clear them."""
        if not self.own_optimizer or self.policy is None or self.discriminator is None:
            return
        if all(p.grad is None for p in self.parameters()):
            return
        opt = self.optimizer()
        opt.step()
        opt.zero_grad(set_to_none=True)

    # ----------------------------------------------------------------- state
    def get_extra_state(self) -> dict[str, Any]:
        return {"optimizer": None if self._optimizer is None else self._optimizer.state_dict()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        saved = state.get("optimizer") if isinstance(state, dict) else None
        if saved is None:
            self._optimizer = None
        else:
            self.optimizer().load_state_dict(copy.deepcopy(saved))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        conv = state_dict.get(prefix + "policy.trunk.0.weight")
        if self.policy is None and isinstance(conv, Tensor):
            self.policy = PolicyRegionGenerator(int(conv.shape[1]), int(conv.shape[0])).to(conv.device)
        lin = state_dict.get(prefix + "discriminator.0.weight")
        if self.discriminator is None and isinstance(lin, Tensor):
            self.discriminator = self.make_discriminator(int(lin.shape[1])).to(lin.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (f"disc_hidden={self.disc_hidden}, policy_width={self.policy_width}, lr={self.lr}, "
                f"weight_decay={self.weight_decay}, own_optimizer={self.own_optimizer}")
