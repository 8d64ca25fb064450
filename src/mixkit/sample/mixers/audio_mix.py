"""Spectrogram CutMix: a band of frequencies, a span of frames or a time-frequency box of the partner,
padding-aware along time.

Waveform and spectrogram MixUp need no class of their own: :class:`~mixkit.sample.SeqMixUp` with
``seq_dim=-1`` mixes ``[B, C, T]`` waveforms or ``[B, C, F, T]`` spectrograms with ``lengths=`` (samples or
frames), never mixing a real position with padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..pairing import partner_rows
from .seqmix import SeqParams, SequenceMixer

__all__ = ["SpecCutMix", "SpecCutMixParams"]

_AXES = ("time", "freq", "both")


@dataclass(repr=False)
class SpecCutMixParams(SeqParams):
    """SpecCutMix's draw: partners, requested ``lam``, ``starts`` (time-span uniforms) and ``fstarts``
    (frequency-band uniforms), ``[B]`` float64 on the CPU."""

    fstarts: Tensor | None = None


class SpecCutMix(SequenceMixer):
    """CutMix on spectrograms ``[B, F, T]`` or ``[B, C, F, T]`` (time last), padding-aware along time.

    The pasted region covers a share ``1 - lam`` of the frames real in both rows (``L`` of them):

    * ``axis="time"``: ``w = round((1 - lam) L)`` consecutive jointly-real frames, all frequencies;
    * ``axis="freq"``: ``f = round((1 - lam) F)`` consecutive frequency bins over every jointly-real frame;
    * ``axis="both"``: a box of ``round(sqrt(1 - lam) L)`` frames by ``round(sqrt(1 - lam) F)`` bins.

    Start positions are uniform (frames in ``[0, L - w]`` among the jointly-real frames, bins in
    ``[0, F - f]``). Padding is never pasted and each row keeps its padding; ``lam`` returned is exact:
    ``1 - pasted cells / (F * real frames of the row)``. Call with ``lengths=`` (frames) or
    ``padding_mask=`` ``[B, T]``.

    CutMix (Yun et al., ICCV 2019) applied to time-frequency bands, as audio recipes use it; a mixkit
    method (no paper or release defines these exact rules). Defaults: ``alpha=1``, ``axis="both"``.
    """

    name = "speccutmix"
    aliases = ("spec_cutmix",)
    paper = "CutMix (Yun et al., ICCV 2019) applied to spectrogram time/frequency bands"
    paper_url = "https://arxiv.org/abs/1905.04899"
    tasks = frozenset({"audio"})
    min_rank = 3

    def __init__(self, alpha: float = 1.0, *, axis: str = "both", mode: str = "batch", prob: float = 1.0,
                 pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, -1, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if axis not in _AXES:
            raise ValueError(f"axis must be one of {_AXES}, got {axis!r}")
        self.axis = axis

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> SpecCutMixParams:
        base = super().draw(shape, generator)
        starts = torch.rand(shape[0], generator=generator, dtype=torch.float64)
        fstarts = torch.rand(shape[0], generator=generator, dtype=torch.float64)
        return SpecCutMixParams(base.pairs, base.lam, starts=starts, fstarts=fstarts)

    def apply(self, x: Tensor, params: SpecCutMixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        real, pairs = self.real_of(x, params), params.pairs
        n, f_bins = x.shape[0], x.shape[-2]
        both = real & partner_rows(real, pairs)
        order = both.long().cumsum(1) - 1
        common = both.sum(1).to(torch.float64)
        cut = (1.0 - params.lam.to(x.device, torch.float64, non_blocking=True)).clamp(0, 1)
        t_share = cut if self.axis == "time" else cut.sqrt() if self.axis == "both" else torch.ones_like(cut)
        f_share = cut if self.axis == "freq" else cut.sqrt() if self.axis == "both" else torch.ones_like(cut)
        width = torch.round(t_share * common).long()
        fwidth = torch.round(f_share * f_bins).long()
        if self.axis == "both":  # an empty side empties the box
            empty = (width == 0) | (fwidth == 0)
            width, fwidth = width.masked_fill(empty, 0), fwidth.masked_fill(empty, 0)
        u = params.starts.to(x.device, non_blocking=True)
        v = params.fstarts.to(x.device, non_blocking=True)
        start = torch.floor(u * (common.long() - width + 1).to(torch.float64)).long()
        fstart = torch.floor(v * (f_bins - fwidth + 1).to(torch.float64)).long()
        frames = both & (order >= start.view(-1, 1)) & (order < (start + width).view(-1, 1))   # [B, T]
        bins = torch.arange(f_bins, device=x.device)
        rows = (bins >= fstart.view(-1, 1)) & (bins < (fstart + fwidth).view(-1, 1))          # [B, F]
        take = rows[:, :, None] & frames[:, None, :]                                            # [B, F, T]
        view = take.view(n, *([1] * (x.dim() - 3)), f_bins, x.shape[-1])
        x_out = torch.where(view, partner_rows(x, pairs), x)
        if out is not None:
            x_out = out.copy_(x_out)
        n_real = real.sum(1).to(torch.float32)
        pasted = take.sum((1, 2)).to(torch.float32)
        own = 1.0 - pasted / (n_real * f_bins).clamp_min(1)
        return x_out, torch.where(n_real > 0, own, torch.ones_like(own))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, axis={self.axis!r}, mode={self.mode!r}, prob={self.prob}"
