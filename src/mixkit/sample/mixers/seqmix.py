"""Mixing for sequences: token embeddings ``[B, T, D]`` or 1-D signals ``[B, C, T]``, padding-aware.

Both mixers take the real length of every row (``lengths`` ``[B]`` ints, or ``padding_mask`` ``[B, T]`` bool
with ``True`` on padding, PyTorch's ``key_padding_mask`` convention) and never copy padding into a real
position. Each row keeps its own padding (the output's padding mask is the input's), and ``lam`` is the
exact fraction of the row's real positions that still come from the row itself.

``seq_dim`` names the time axis: ``1`` for ``[B, T, D]`` (embeddings; more trailing feature axes are allowed)
or ``-1`` for ``[B, C, T]`` (signals; more leading channel axes are allowed).
Without ``lengths``/``padding_mask`` every position is real.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..batch import MixedBatch
from ..pairing import blend_with_partner, partner_rows
from .mixer import Mixer, MixParams

__all__ = ["SeqCutMix", "SeqMixUp", "SeqParams", "SequenceMixer", "real_positions"]


def real_positions(x: Tensor, seq_dim: int, lengths: Tensor | None = None,
                   padding_mask: Tensor | None = None) -> Tensor:
    """``[B, T]`` bool, True on real (non-padding) positions of ``x`` along ``seq_dim``.

    ``lengths``: ``[B]`` integers in ``[0, T]`` (real tokens first, padding after); ``padding_mask``:
    ``[B, T]`` bool, ``True`` = padding (any layout). Give at most one.
    """
    n, t = x.shape[0], x.shape[seq_dim]
    if lengths is not None and padding_mask is not None:
        raise ValueError("give either lengths or padding_mask, not both")
    if padding_mask is not None:
        if not isinstance(padding_mask, Tensor) or padding_mask.dtype != torch.bool or \
                padding_mask.shape != (n, t):
            raise ValueError(f"padding_mask must be a bool tensor of shape [{n}, {t}] (True = padding), got "
                             f"{getattr(padding_mask, 'dtype', type(padding_mask).__name__)} "
                             f"{tuple(getattr(padding_mask, 'shape', ()))}")
        return ~padding_mask.to(x.device)
    if lengths is not None:
        if not isinstance(lengths, Tensor) or lengths.dtype.is_floating_point or lengths.shape != (n,):
            raise ValueError(f"lengths must be an integer tensor of shape [{n}], got "
                             f"{getattr(lengths, 'dtype', type(lengths).__name__)} "
                             f"{tuple(getattr(lengths, 'shape', ()))}")
        if lengths.device.type == "cpu" and bool(((lengths < 0) | (lengths > t)).any()):
            raise ValueError(f"lengths must lie in [0, {t}], got min {int(lengths.min())}, "
                             f"max {int(lengths.max())}")
        return torch.arange(t, device=x.device) < lengths.to(x.device).view(-1, 1)
    return torch.ones(n, t, dtype=torch.bool, device=x.device)


@dataclass(repr=False)
class SeqParams(MixParams):
    """A sequence mixer's draw: ``starts`` ([B] float64 uniforms, CPU; SeqCutMix's span positions) and
    ``real`` ([B, T] bool on the data's device), the real positions of the call's input, which
    :meth:`SequenceMixer.forward` fills in from ``lengths``/``padding_mask`` (data, not randomness)."""

    starts: Tensor | None = None
    real: Tensor | None = None


class SequenceMixer(Mixer):
    """Shared call of the padding-aware sequence mixers (see the module docstring)."""

    tasks = frozenset({"sequence"})
    min_rank = 3
    max_rank = None

    def __init__(self, alpha: float = 1.0, seq_dim: int = 1, *, mode: str = "batch", prob: float = 1.0,
                 pairing: str = "roll", validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if seq_dim not in (1, -1):
            raise ValueError(f"seq_dim must be 1 ([B, T, ...]) or -1 ([B, ..., T]), got {seq_dim!r}")
        self.seq_dim = seq_dim

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                lengths: Tensor | None = None, padding_mask: Tensor | None = None,
                out: Tensor | None = None) -> MixedBatch:
        g = self.check_call(x, y, generator, out)
        real = real_positions(x, self.seq_dim, lengths, padding_mask)
        params = dataclasses.replace(self.draw(x.shape, g), real=real)
        x_mixed, lam = self.apply(x, params, out)
        return MixedBatch(x=x_mixed, index=params.pairs.index.to(x.device, non_blocking=True),
                          lam=lam.to(x.device, torch.float32), y=y, extras=self.extras(params, x_mixed))

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> SeqParams:
        base = super().draw(shape, generator)
        return SeqParams(base.pairs, base.lam)

    def extras(self, params: SeqParams, x_mixed: Tensor) -> dict[str, Any]:
        return {"padding_mask": ~params.real}

    def real_of(self, x: Tensor, params: SeqParams) -> Tensor:
        """The real positions of ``params`` (every position when none were given)."""
        return params.real if params.real is not None else real_positions(x, self.seq_dim)

    def _pos_view(self, w: Tensor, x: Tensor) -> Tensor:
        """``[B, T]`` per-position weights as a tensor broadcasting against ``x``."""
        ones = [1] * (x.dim() - 2)
        if self.seq_dim == 1:
            return w.view(w.shape[0], w.shape[1], *ones)
        return w.view(w.shape[0], *ones, w.shape[1])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, seq_dim={self.seq_dim}"


class SeqMixUp(SequenceMixer):
    """MixUp for padded sequences: ``x[i, t] = lam x[i, t] + (1 - lam) x[j, t]`` where both are real.

    At positions that are real in row ``i`` but padding in its partner ``j`` the row keeps its own token
    (never mixes with padding); padding positions of row ``i`` keep row ``i``'s padding. ``lam`` returned is
    the exact own share averaged over row ``i``'s real positions:
    ``(lam * n_both + (n_i - n_both)) / n_i``. Rows with no real position keep ``lam = 1``.

    Input ``x``: ``[B, T, D]`` (``seq_dim=1``) or ``[B, C, T]`` (``seq_dim=-1``). Call with ``lengths=`` or
    ``padding_mask=`` (see the module docstring). ``out.extras["padding_mask"]`` is the output's padding.
    Interpolating token embeddings follows Guo et al. ("Augmenting Data with Mixup for Sentence
    Classification", 2019); the padding rule is mixkit's. No authors' release is known; defaults
    (``alpha=1``, one ``lam`` per batch) are MixUp's.
    """

    name = "seqmix"
    aliases = ("seq_mixup", "seqmixup")
    paper = "Augmenting Data with Mixup for Sentence Classification (Guo et al., 2019)"
    paper_url = "https://arxiv.org/abs/1905.08941"

    def apply(self, x: Tensor, params: SeqParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        real, pairs, lam = self.real_of(x, params), params.pairs, params.lam
        partner_real = partner_rows(real, pairs)
        both = real & partner_real
        lam_dev = lam.to(x.device, torch.float32, non_blocking=True)
        w = (1.0 - lam_dev).view(-1, 1) * both  # [B, T]: weight of the partner at each position
        x_out = blend_with_partner(x, pairs, self._pos_view(w, x).to(x.dtype), out)
        n_real = real.sum(1)
        own = (n_real - w.sum(1)) / n_real.clamp_min(1)
        return x_out, torch.where(n_real > 0, own, torch.ones_like(own))


class SeqCutMix(SequenceMixer):
    """CutMix for padded sequences: a contiguous span of the partner's tokens replaces row ``i``'s tokens.

    The span has ``w = round((1 - lam) * L)`` positions with ``L`` the number of positions real in both rows
    (``min(len_i, len_j)`` with ``lengths``) and starts uniformly in ``[0, L - w]``; so it lies in real
    positions of both rows (padding is never pasted, the row's own padding is untouched). ``lam`` returned
    is exact: ``1 - w / len_i``, the fraction of row ``i``'s real tokens that are still its own. Rows with
    no real position keep ``lam = 1``.

    Input ``x``: ``[B, T, D]`` (``seq_dim=1``) or ``[B, C, T]`` (``seq_dim=-1``), lengths from ``lengths=`` or
    ``padding_mask=``. Real tokens need not be left-aligned: the span is a run of ``w`` consecutive positions
    in the ordered list of the ``L`` positions real in both rows (so it skips padding lying between them).
    Span geometry is drawn per row from the CPU generator and applied with one ``where`` over the batch.
    The span rule is CutMix's box in one dimension (rounded, not the release's even span); the padding
    rule is mixkit's. A mixkit method: no paper or release defines it.
    """

    name = "seqcutmix"
    aliases = ("seq_cutmix",)
    paper = "CutMix (Yun et al., ICCV 2019) applied to token spans / 1-D signals"
    paper_url = "https://arxiv.org/abs/1905.04899"

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> SeqParams:
        base = super().draw(shape, generator)
        base.starts = torch.rand(shape[0], generator=generator, dtype=torch.float64)
        return base

    def apply(self, x: Tensor, params: SeqParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        real, pairs, lam = self.real_of(x, params), params.pairs, params.lam
        both = real & partner_rows(real, pairs)
        # rank of each jointly-real position among the jointly-real positions of its row (0, 1, 2, ...)
        order = both.long().cumsum(1) - 1
        common = both.sum(1)  # L per row, on x's device
        lam_dev = lam.to(x.device, torch.float32, non_blocking=True)
        width = torch.round((1.0 - lam_dev) * common.to(torch.float32)).long()
        u = params.starts.to(x.device, non_blocking=True)
        start = torch.floor(u * (common - width + 1).to(torch.float64)).long()
        take = both & (order >= start.view(-1, 1)) & (order < (start + width).view(-1, 1))
        x_out = torch.where(self._pos_view(take, x), partner_rows(x, pairs), x)
        if out is not None:
            x_out = out.copy_(x_out)
        n_real = real.sum(1)
        own = 1.0 - take.sum(1).to(torch.float32) / n_real.clamp_min(1).to(torch.float32)
        return x_out, torch.where(n_real > 0, own, torch.ones_like(own))
