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
from ..functional.partners import (
    check_bandwidth,
    check_chunk_size,
    check_finite,
    dataset_kernel_partners,
    kernel_partners,
    window_kernel_partners,
)
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
        if self.validate:
            check_finite(y, "y")  # one NaN target would skew every kernel row / neighbour list it enters
        params = self.draw(x.shape, g)
        index = self.partners(x, y, params.uniforms, k).to(x.device)
        # shift=None: partners are gathered, never assumed to be a permutation
        params = dataclasses.replace(params, pairs=Pairs(index))
        x_mixed, lam = self.apply(x, params, out)
        return MixedBatch(x=x_mixed, index=index, lam=lam, y=y, extras=self.extras(params, x_mixed))

    def extras(self, params: MixParams, x_mixed: Tensor) -> dict[str, Any]:
        return {"pairing": self.name, "partners_with_replacement": True}


SOURCES = ("dataset", "batch")


class CMixup(PartnerMixer):
    """C-Mixup (Yao et al., NeurIPS 2022): mixup for regression with label-similar partners.

    Partner ``j`` of row ``i`` is drawn with probability ``∝ exp(-||y_i - y_j||² / (2 bandwidth²))`` over a
    pool that includes ``i`` itself; then ``x = lam x_i + (1 - lam) x_j`` and the targets mix with the same
    ``lam ~ Beta(alpha, alpha)``.

    Matches huaxiuyao/C-Mixup, ``src/algorithm.py`` (``get_mixup_sample_rate``: a Gaussian kernel density
    fitted on ``y_i`` and evaluated at every training target, self included, normalised; ``train``: partners
    drawn from the whole training set with those rates, one ``lam`` per batch).
    Defaults from the release: ``source="dataset"``, self-pairs allowed, ``mode="batch"``, ``alpha=2.0``.
    Deviations:
    - without an attached training set the pool is the batch (the release's ``batch_type=1`` rule, which
      also keeps self-pairs); ``source="batch"`` asks for it explicitly.
    - ``exclude_self=True`` (mixkit's option) never pairs a row with itself.

    Args:
        alpha: ``lam ~ Beta(alpha, alpha)``.
        bandwidth: kernel width ``σ`` in target units (the release tunes it per dataset).
        dataset: ``(x_train, y_train)`` tensors ``[N, ...]`` (or call :meth:`attach`): the pool partners are
            drawn from when ``source="dataset"``. Partners' inputs are gathered from ``x_train``.
        source: ``"dataset"`` (the release) or ``"batch"`` (partners from the call's batch only).
        exclude_self: never draw the row itself (mixkit's option; the release allows it).
        mode: ``"batch"`` (one lam per call, the release) or ``"elem"``; ``"pair"`` is treated as ``"elem"``.
        chunk_size: rows of the kernel held in memory at once (``O(chunk_size * pool)`` floats).
        window: batch pool only, scalar targets: kernel on the ``window`` sorted neighbours each side
            (:func:`window_kernel_partners`, an approximation that never pairs a row with itself).

    Call: ``mixer(x [B, ...], y [B, ...] float targets, generator=g) -> MixedBatch``. Batch pool: ``index`` is
    the partner row, drawn with replacement (see the module docstring). Dataset pool: the partners are
    training rows, so the returned batch carries the mixed targets already: ``out.y`` is
    ``lam y_i + (1 - lam) y_train[j]``, ``out.index`` is the identity (every label rule then returns
    ``out.y``), ``out.lam`` is the drawn ``lam`` and ``extras["partners"]`` holds the training-set indices
    ``j`` ``[B]``. Pass your own ``y`` to ``out.mix_targets`` only for the batch pool.
    """

    name = "cmixup"
    aliases = ("c-mixup", "c_mixup")
    paper = "C-Mixup: Improving Generalization in Regression (Yao et al., NeurIPS 2022)"
    paper_url = "https://arxiv.org/abs/2210.05775"
    release = "huaxiuyao/C-Mixup"
    tasks = frozenset({"regression"})

    def __init__(self, alpha: float = 2.0, bandwidth: float = 1.0, *,
                 dataset: tuple[Tensor, Tensor] | None = None,
                 source: str = "dataset", exclude_self: bool = False, mode: str = "batch", prob: float = 1.0,
                 chunk_size: int = 2048, window: int | None = None, validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing="flip" if mode == "pair" else "roll",
                         validate=validate)
        sigma = check_bandwidth(bandwidth)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        self.bandwidth, self.source, self.exclude_self = sigma, source, bool(exclude_self)
        self.chunk_size = check_chunk_size(chunk_size)
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise ValueError(f"window must be None or an int >= 1, got {window!r}")
        self.window = window
        self.train_x: Tensor | None = None
        self.train_y: Tensor | None = None
        if dataset is not None:
            if not isinstance(dataset, (tuple, list)) or len(dataset) != 2:
                raise TypeError("dataset must be a pair (x_train, y_train) of tensors [N, ...]")
            self.attach(*dataset)

    def attach(self, x_train: Tensor, y_train: Tensor) -> CMixup:
        """Attach the training set partners are drawn from (``source="dataset"``); returns ``self``.

        ``x_train`` ``[N, ...]`` (inputs, gathered for the partners) and ``y_train`` ``[N, ...]`` float
        targets (the kernel's keys). Kept by reference, on their own device.
        """
        if not isinstance(x_train, Tensor) or not isinstance(y_train, Tensor):
            raise TypeError("dataset: x_train and y_train must be tensors")
        if x_train.dim() < 1 or y_train.dim() < 1 or x_train.shape[0] != y_train.shape[0] or not len(y_train):
            raise ValueError(f"dataset: x_train and y_train need the same number N >= 1 of rows, got "
                             f"{tuple(x_train.shape)} and {tuple(y_train.shape)}")
        check_finite(y_train, "dataset: y_train")
        self.train_x, self.train_y = x_train, y_train
        return self

    def partners(self, x: Tensor, y: Tensor, uniforms: Tensor, k: int | Tensor | None) -> Tensor:
        if k is not None:
            raise ValueError("k: C-Mixup draws partners from a kernel; k is only for RegMixKNN")
        if self.window is not None:
            return window_kernel_partners(y.detach(), self.bandwidth, uniforms, self.window)
        return kernel_partners(y.detach(), self.bandwidth, uniforms, exclude_self=self.exclude_self,
                               chunk_size=self.chunk_size)

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                k: int | Tensor | None = None, out: Tensor | None = None) -> MixedBatch:
        """Mix ``x`` ``[B, ...]`` with partners chosen by the kernel on the targets ``y`` ``[B, ...]``."""
        if self.source == "batch" or self.train_y is None:
            return super().forward(x, y, generator=generator, k=k, out=out)
        if y is None:
            raise ValueError("y: C-Mixup chooses partners from the targets; pass y [B, ...]")
        if k is not None:
            raise ValueError("k: C-Mixup draws partners from a kernel; k is only for RegMixKNN")
        g = self.check_call(x, y, generator, out)
        if self.validate:
            check_finite(y, "y")
        train_x, train_y = self.train_x, self.train_y
        assert train_x is not None
        if tuple(train_x.shape[1:]) != tuple(x.shape[1:]) or tuple(train_y.shape[1:]) != tuple(y.shape[1:]):
            raise ValueError(f"dataset: rows of x_train {tuple(train_x.shape[1:])} / y_train "
                             f"{tuple(train_y.shape[1:])} must match x {tuple(x.shape[1:])} / "
                             f"y {tuple(y.shape[1:])}")
        params = self.draw(x.shape, g)
        keys = train_y.detach().to(y.device)
        j = dataset_kernel_partners(y.detach(), keys, self.bandwidth, params.uniforms,
                                    chunk_size=self.chunk_size)
        j_train = j.to(train_x.device)
        x_j = train_x[j_train].to(x.device, x.dtype, non_blocking=True)
        y_j = train_y[j_train].to(y.device, y.dtype, non_blocking=True)
        lam = params.lam.to(x.device, torch.float32, non_blocking=True)
        x_mixed = torch.lerp(x_j, x, weight_view(lam, x).to(x.dtype))
        if out is not None:
            x_mixed = out.copy_(x_mixed)
        y_mixed = torch.lerp(y_j, y, weight_view(lam.to(y.device), y).to(y.dtype)) \
            if y.dtype.is_floating_point else y
        ident = torch.arange(x.shape[0], device=x.device)
        return MixedBatch(x=x_mixed, index=ident, lam=lam, y=y_mixed,
                          extras={"pairing": self.name, "partners": j, "partner_targets": y_j,
                                  "source": "dataset"})

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, bandwidth={self.bandwidth}, source={self.source!r}, "
                f"exclude_self={self.exclude_self}, window={self.window}")
