"""Interpolation mixers: MixUp and the identity (no mixing) baseline."""

from __future__ import annotations

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..lam import cpu_generator
from ..pairing import Pairs, blend_with_partner, partner_rows
from ..registry import register
from ..validate import check_inputs, check_labels
from .base import Mixer, check_out, weight_view


@register("mixup")
class MixUp(Mixer):
    """MixUp (Zhang et al., ICLR 2018): ``x = lam * x_i + (1 - lam) * x_j``, ``lam ~ Beta(alpha, alpha)``.

    ``x``: any floating tensor ``[B, ...]`` (images, sequences, features). ``lam`` is the interpolation
    weight of the row's own sample. One ``lerp`` pass over the batch; with the default ``roll`` pairing
    the partner rows are read in place (no permuted copy).
    """

    name = "mixup"
    paper = "mixup: Beyond Empirical Risk Minimization (Zhang et al., ICLR 2018)"
    paper_url = "https://arxiv.org/abs/1710.09412"

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None,
            out: Tensor | None = None) -> tuple[Tensor, Tensor]:
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


@register("none", "baseline", "identity")
class NoMix(Mixer):
    """No mixing (the baseline): returns ``x`` itself, ``index = arange(B)``, ``lam = 1``."""

    name = "none"
    paper = "baseline without mixing"
    paper_url = ""

    def __init__(self, **_: object) -> None:
        super().__init__(alpha=1.0)

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None) -> MixedBatch:
        """``out`` (optional, see :class:`Mixer`): when given, ``x`` is copied into it and returned."""
        cpu_generator(generator)
        check_inputs(x)
        check_labels(y, x.shape[0])
        if out is not None:
            check_out(out, x)
            x = out.copy_(x)
        n = x.shape[0]
        return MixedBatch(x=x, index=torch.arange(n, device=x.device),
                          lam=torch.ones(n, device=x.device), y=y)

    def extra_repr(self) -> str:
        return ""
