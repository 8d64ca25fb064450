"""MixUp and the identity (no mixing) baseline."""

from __future__ import annotations

import torch
from torch import Tensor

from ..pairing import Pairs, blend_with_partner, partner_rows, weight_view
from .mixer import Mixer, MixParams

__all__ = ["MixUp", "NoMix"]


class MixUp(Mixer):
    """MixUp (Zhang et al., ICLR 2018): ``x = lam * x_i + (1 - lam) * x_j``, ``lam ~ Beta(alpha, alpha)``.

    ``x``: any floating tensor ``[B, ...]`` (images, sequences, features). ``lam`` is the interpolation
    weight of the row's own sample. One ``lerp`` pass over the batch; with the default ``roll`` pairing
    the partner rows are read in place (no permuted copy).

    Matches ``facebookresearch/mixup-cifar10: train.py`` (``mixup_data``, ``mixup_criterion``). Defaults
    from the release: ``alpha=1``, one ``lam`` per batch (``mode="batch"``), every batch mixed.

    Deviations:
        * partners are a random cyclic shift of the (shuffled) batch (``pairing="roll"``); the release
          uses ``torch.randperm`` (``pairing="permute"``). Rows a permutation pairs with themselves are
          unchanged either way; mixkit reports ``lam = 1`` for them.
    """

    name = "mixup"
    paper = "mixup: Beyond Empirical Risk Minimization (Zhang et al., ICLR 2018)"
    paper_url = "https://arxiv.org/abs/1710.09412"
    release = "facebookresearch/mixup-cifar10: train.py"

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        pairs, lam = params.pairs, params.lam
        shared = self.uniform_lam(lam)
        if shared is not None:
            return _lerp_scalar(x, pairs, 1.0 - shared, out), lam
        return blend_with_partner(x, pairs, weight_view(1.0 - lam, x), out), lam


def _lerp_scalar(x: Tensor, pairs: Pairs, weight: float, out: Tensor | None = None) -> Tensor:
    """``lerp(x, x[index], weight)`` with one Python-float weight (the cheapest kernel), into ``out``.

    When autograd records (``x`` requires grad: hidden features, embeddings) one differentiable ``lerp``
    is taken instead of the ``out=`` kernels, which autograd refuses.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        blended = torch.lerp(x, partner_rows(x, pairs), weight)
        return blended if out is None else out.copy_(blended)
    n, s = x.shape[0], pairs.shift
    if s is not None:
        out = torch.empty_like(x) if out is None else out
        if s == 0:
            return out.copy_(x)
        torch.lerp(x[: n - s], x[s:], weight, out=out[: n - s])
        torch.lerp(x[n - s:], x[:s], weight, out=out[n - s:])
        return out
    partner = partner_rows(x, pairs)
    if out is None:
        # index_select does not keep channels-last; write into the gathered copy only when its layout matches
        out = partner if partner.stride() == x.stride() else torch.empty_like(x)
    return torch.lerp(x, partner, weight, out=out)


class NoMix(Mixer):
    """No mixing (the baseline): returns ``x`` itself, ``index = arange(B)``, ``lam = 1``.

    ``out`` (optional, see :class:`Mixer`): when given, ``x`` is copied into it and returned. Nothing is
    drawn from the generator.
    """

    name = "none"
    aliases = ("baseline", "identity")
    paper = "baseline without mixing"

    def __init__(self, **_: object) -> None:
        super().__init__(alpha=1.0)

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> MixParams:
        n = shape[0]
        return MixParams(Pairs(torch.arange(n)), torch.ones(n))

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return (x if out is None else out.copy_(x)), params.lam

    def extra_repr(self) -> str:
        return ""
