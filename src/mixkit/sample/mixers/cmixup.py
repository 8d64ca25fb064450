"""C-Mixup: mixup for regression with label-similar partners, and the shared call of the partner mixers.

The partner mixers interpolate inputs and targets with one ``lam`` (``x = lam * x_i + (1 - lam) * x_j`` and
``out.mix_targets()`` gives ``lam * y_i + (1 - lam) * y_j``); what they change is *who* ``j`` is.

Read this if you consume ``MixedBatch.index``: for these mixers ``index`` is the partner of each row, drawn
**with replacement**. It is not a permutation: two rows may share a partner and some rows are nobody's
partner. Everything in :class:`~mixkit.sample.MixedBatch` (``loss``, ``mix_targets``, ``soft_targets``)
only gathers ``y[index]`` and therefore works unchanged; code that inverts ``index`` or assumes each row
appears once as a partner must not be used with these mixers. The partner kernels are in
:mod:`mixkit.sample.functional` (:func:`~mixkit.sample.functional.kernel_partners`, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..functional.partners import check_chunk_size, kernel_partners, window_kernel_partners
from ..lam import sample_active, sample_lam
from ..pairing import Pairs, blend_with_partner, weight_view
from .mixer import Mixer, MixParams

__all__ = ["CMixup", "PartnerMixer", "PartnerParams"]


@dataclass(repr=False)
class PartnerParams(MixParams):
    """A partner mixer's draw: ``uniforms`` ([B] float64, CPU), one per row, that pick each row's partner
    from the data. ``pairs`` is the identity until :meth:`PartnerMixer.forward` has chosen the partners."""

    uniforms: Tensor | None = None


class PartnerMixer(Mixer):
    """Shared call of the regression mixers: draw ``lam``, choose partners from the data, blend ``x``.

    ``tasks = {"regression"}``. Subclasses implement :meth:`partners`.
    """

    tasks = frozenset({"regression"})

    def partners(self, x: Tensor, y: Tensor, uniforms: Tensor, k: int | Tensor | None) -> Tensor:
        """``[B]`` int64 partner of each row on ``x``'s device (with replacement)."""
        raise NotImplementedError

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> PartnerParams:
        n = shape[0]
        uniforms = torch.rand(n, generator=generator, dtype=torch.float64)
        # lambda per batch / per row; 'pair' mode needs an involution, which kernel sampling is not
        lam = sample_lam(self.alpha, torch.arange(n), "elem" if self.mode == "pair" else self.mode, generator)
        active = sample_active(self.prob, torch.arange(n), "elem", generator)
        if active is not None:
            lam = lam.masked_fill(~active, 1.0)
        return PartnerParams(Pairs(torch.arange(n)), lam, uniforms=uniforms)

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lam_dev = params.lam.to(x.device, torch.float32, non_blocking=True)
        if x.shape[0] == 1:
            lam_dev = torch.ones_like(lam_dev)
        return blend_with_partner(x, params.pairs, weight_view(1.0 - lam_dev, x), out), lam_dev

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                k: int | Tensor | None = None, out: Tensor | None = None) -> MixedBatch:
        """Mix ``x`` ``[B, ...]`` with partners chosen from the targets ``y`` ``[B, ...]``; ``k``: per-call
        number of neighbours (:class:`RegMixKNN` only); ``out``: optional preallocated result like ``x``."""
        if y is None:
            raise ValueError(f"y: {type(self).__name__} chooses partners from the targets; pass y [B, ...]")
        g = self.check_call(x, y, generator, out)
        params = self.draw(x.shape, g)
        index = self.partners(x, y, params.uniforms, k).to(x.device)
        # shift=None: partners are gathered, never assumed to be a permutation
        params = dataclasses.replace(params, pairs=Pairs(index))
        x_mixed, lam = self.apply(x, params, out)
        return MixedBatch(x=x_mixed, index=index, lam=lam, y=y, extras=self.extras(params, x_mixed))

    def extras(self, params: MixParams, x_mixed: Tensor) -> dict[str, Any]:
        return {"pairing": self.name, "partners_with_replacement": True}


class CMixup(PartnerMixer):
    """C-Mixup (Yao et al., NeurIPS 2022): mixup for regression with label-similar partners.

    Partner ``j`` of row ``i`` is drawn with probability ``∝ exp(-||y_i - y_j||² / (2 bandwidth²))`` among
    the other rows of the batch (the paper samples over the whole training set; per-batch sampling is the
    mini-batch form and is what this mixer does). Then ``x = lam x_i + (1 - lam) x_j`` and targets mix with
    the same ``lam`` (``out.mix_targets()``).

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)`` (the paper uses ``alpha = 2`` on most datasets).
        bandwidth: kernel width ``σ`` in target units (the paper tunes it per dataset; standardise targets
            first so that ``σ ≈ 0.1 - 1`` is meaningful).
        mode: ``"batch"`` (one lam per call, the paper's choice) or ``"elem"``; ``"pair"`` is treated as
            ``"elem"`` because sampled partners are not symmetric.
        chunk_size: rows of the kernel held in memory at once (``O(chunk_size * B)`` floats).
        window: ``None`` (exact kernel over the batch, ``O(B²)`` time) or, for scalar targets, the number of
            sorted neighbours on each side the kernel is evaluated on (:func:`window_kernel_partners`,
            ``O(B log B + B * window)``; an approximation that is exact when the window spans several
            bandwidths). Use it for very large batches.

    Call: ``mixer(x [B, ...], y [B, ...] float targets, generator=g) -> MixedBatch``; ``index`` is drawn
    with replacement (see the module docstring). Shapes of ``y`` are arbitrary beyond the batch dimension.
    """

    name = "cmixup"
    aliases = ("c-mixup", "c_mixup")
    paper = "C-Mixup: Improving Generalization in Regression (Yao et al., NeurIPS 2022)"
    paper_url = "https://arxiv.org/abs/2210.05775"
    release = "huaxiuyao/C-Mixup"
    tasks = frozenset({"regression"})

    def __init__(self, alpha: float = 2.0, bandwidth: float = 1.0, *, mode: str = "batch", prob: float = 1.0,
                 chunk_size: int = 2048, window: int | None = None, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing="flip" if mode == "pair" else "roll",
                         validate=validate)
        sigma = float(bandwidth)
        if not sigma > 0 or sigma == float("inf"):
            raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
        self.bandwidth = sigma
        self.chunk_size = check_chunk_size(chunk_size)
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise ValueError(f"window must be None or an int >= 1, got {window!r}")
        self.window = window

    def partners(self, x: Tensor, y: Tensor, uniforms: Tensor, k: int | Tensor | None) -> Tensor:
        if k is not None:
            raise ValueError("k: C-Mixup draws partners from a kernel; k is only for RegMixKNN")
        if self.window is not None:
            return window_kernel_partners(y.detach(), self.bandwidth, uniforms, self.window)
        return kernel_partners(y.detach(), self.bandwidth, uniforms, chunk_size=self.chunk_size)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bandwidth={self.bandwidth}, window={self.window}"
