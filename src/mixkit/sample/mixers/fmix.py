"""FMix: mix with a binary mask cut from low-frequency Fourier noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..functional.fourier_noise import (
    BAND_TOLERANCE,
    band_limited_noise,
    top_k_weight,
    top_k_weight_histogram,
)
from ..pairing import blend_with_partner
from .cutmix import copy_of
from .mixer import Mixer, MixParams

__all__ = ["FMix", "FourierParams"]


@dataclass(repr=False)
class FourierParams(MixParams):
    """FMix's draw: ``counts`` ([B] int64, CPU) of pixels each row takes from its partner, and the
    ``seed`` of the device generator the noise is made with (``None`` when no row is mixed)."""

    counts: Tensor | None = None
    seed: int | None = None


class FMix(Mixer):
    """FMix (Harris et al., 2020): mix with a binary mask cut from low-frequency Fourier noise.

    Matches ``ecs-vlc/FMix: fmix.py`` (``sample_mask``, ``binarise_mask``). For each mask, complex Gaussian
    coefficients scaled by ``1 / max(|f|, 1/max(S)) ** decay_power`` are inverse-FFT'd into a smooth random
    field; the row keeps its own pixels at the ``n_own`` largest of the ``N`` field values and takes the
    partner's elsewhere, with ``n_own = ceil(lam N)`` or ``floor(lam N)`` on a fair coin (the release's
    rounding). ``out.lam`` is the exact fraction kept (the mask's mean, ``n_own / N`` barring exact ties
    in the noise).

    ``x``: ``[B, C, *S]`` with 1, 2 or 3 spatial axes (signals, images, volumes). ``batch`` mode draws one
    mask for the batch (as the release); ``pair``/``elem`` draw one mask per row. The noise is generated
    on ``x``'s device from a device generator seeded from the CPU ``generator`` (so seeded calls
    reproduce per device) and thresholded exactly: with one ``kthvalue`` on CUDA (nothing goes to the
    host), with a per-row histogram pass on CPU (same result, faster there).

    Defaults from the release: ``alpha=1``, ``decay_power=3``, one mask and one ``lam`` per batch,
    ``max_soft=0`` (binary masks), ``reformulate=False``.

    Deviations:
        * the partner's pixels are the ``N - n_own`` *largest* field values (the release keeps the
          row's own at the largest); the field is symmetric in distribution, so the masks are too.
        * the noise keeps only the low-frequency box of coefficients that carries all but ``1e-7`` of its
          variance (:func:`~mixkit.sample.functional.band_limited_noise`; nothing is dropped at 32 x 32,
          about 1.5e-4 of the mask pixels change at 224 x 224), for speed.
        * partners are a random cyclic shift (``pairing="roll"``); the release permutes
          (``pairing="permute"``).
        * soft masks (``max_soft > 0``) and the reformulated ``Beta(alpha + 1, alpha)`` are not offered.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` (release: 1.0).
        decay_power: spectral decay ``delta`` (release default 3; larger -> smoother, blobbier masks).
        mode, prob, pairing, validate: see :class:`~mixkit.sample.Mixer`.
    """

    name = "fmix"
    paper = "FMix: Enhancing Mixed Sample Data Augmentation (Harris et al., 2020)"
    paper_url = "https://arxiv.org/abs/2002.12047"
    release = "ecs-vlc/FMix: fmix.py"
    min_rank = 3
    max_rank = 5

    def __init__(self, alpha: float = 1.0, *, decay_power: float = 3.0, mode: str = "batch",
                 prob: float = 1.0, pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        try:
            decay = float(decay_power)
        except (TypeError, ValueError):
            raise ValueError(f"decay_power must be a number > 0, got {decay_power!r}") from None
        if not (decay > 0 and math.isfinite(decay)):
            raise ValueError(f"decay_power must be a finite number > 0, got {decay_power!r}")
        self.decay_power = decay

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> FourierParams:
        base = super().draw(shape, generator)
        numel = math.prod(shape[2:])
        n = base.lam.numel()
        coin = torch.rand(1 if self.mode == "batch" else n, generator=generator, dtype=torch.float64)
        if self.mode == "pair":  # both members of a pair share the coin (and so their share)
            coin = coin[torch.minimum(torch.arange(n), base.pairs.index)]
        own = (base.lam.double() * numel).clamp(0.0, numel)
        own = torch.where(coin.expand(n) > 0.5, own.ceil(), own.floor())  # the release's rounding
        counts = numel - own.long()
        if int(counts.max()) == 0:
            return FourierParams(base.pairs, base.lam, counts=counts)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return FourierParams(base.pairs, base.lam, counts=counts, seed=seed)

    def apply(self, x: Tensor, params: FourierParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, size = x.shape[0], tuple(x.shape[2:])
        if params.seed is None:
            return copy_of(x, out), torch.ones(n)
        numel, counts = math.prod(size), params.counts
        device_gen = torch.Generator(device=x.device)
        device_gen.manual_seed(params.seed)
        shared = self.mode == "batch"
        masks = 1 if shared else n
        noise = band_limited_noise(masks, size, self.decay_power, device_gen, x.device,
                                   BAND_TOLERANCE).view(masks, numel)
        top_k = top_k_weight_histogram if x.device.type == "cpu" and masks > 1 else top_k_weight
        if shared:
            k = counts.max().view(1)
            weight = top_k_weight(noise, k, x.dtype)  # [1, N]
            if not bool((counts == k).all()):  # rows left alone (prob < 1, self-paired rows)
                weight = weight * (counts > 0).to(x.device, x.dtype, non_blocking=True).view(-1, 1)
        else:
            weight = top_k(noise, counts, x.dtype)
        kept = 1.0 - weight.float().mean(1)
        out = blend_with_partner(x, params.pairs, weight.view(-1, 1, *size), out)
        return out, kept.expand(n) if kept.numel() == 1 else kept

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, decay_power={self.decay_power}"
