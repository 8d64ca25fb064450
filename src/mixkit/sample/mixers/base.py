"""``Mixer``: the base class of every sample mixer (configuration only; stateless between calls)."""

from __future__ import annotations

import inspect
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import check_alpha, check_mode, check_prob, cpu_generator, sample_active, sample_lam
from ..pairing import Pairs, check_pairing, make_pairs
from ..validate import check_inputs, check_labels


class Mixer(nn.Module):
    """Base of the mixup family. Subclasses implement :meth:`mix`.

    Args:
        alpha: concentration of ``Beta(alpha, alpha)`` from which ``lam`` is drawn (> 0).
        mode: ``"batch"`` (one ``lam`` per call), ``"pair"`` (one per pair; needs ``pairing="flip"``) or
            ``"elem"`` (one per row). Geometry (boxes, masks) is always drawn per row in ``pair``/``elem``.
        prob: probability that a row is mixed at all; rows left alone keep ``lam = 1`` and their input.
        pairing: ``"roll"`` (random cyclic shift, zero-copy; default), ``"flip"`` or ``"permute"``.
        validate: check shapes, dtypes and label values (cheap; on CUDA the value checks are asynchronous).

    Call: ``mixer(x, y=None, generator=None, out=None) -> MixedBatch`` with ``x`` a floating tensor
    ``[B, ...]``. All randomness comes from ``generator`` (a CPU ``torch.Generator``; default: torch's
    global one). ``out``: optional preallocated tensor (same shape, dtype and device as ``x``, not
    overlapping it) that receives the mixed batch; ``out.x`` is then ``out`` itself. Reusing one buffer
    saves the allocation of a fresh result on every call, which on CPU (first-touch page faults of a large
    block) can cost more than the mixing itself.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    paper_url: ClassVar[str] = ""
    min_rank: ClassVar[int] = 2
    max_rank: ClassVar[int | None] = None

    def __init__(self, alpha: float = 1.0, *, mode: str = "batch", prob: float = 1.0,
                 pairing: str = "roll", validate: bool = True) -> None:
        super().__init__()
        self.alpha = check_alpha(alpha)
        self.mode = check_mode(mode)
        self.prob = check_prob(prob)
        self.pairing = check_pairing(pairing)
        if self.mode == "pair" and self.pairing != "flip":
            raise ValueError("mode='pair' shares lambda between the two members of a pair and needs "
                             f"pairing='flip' (an involution); got pairing={pairing!r}")
        self.validate = bool(validate)

    # ----------------------------------------------------------------- the call
    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None) -> MixedBatch:
        g = self.check_call(x, y, generator, out)
        pairs, lam = self.draw(x.shape[0], g)
        if out is None:
            x_out, lam_true = self.mix(x, pairs, lam, g)
        elif _accepts_out(type(self)):
            x_out, lam_true = self.mix(x, pairs, lam, g, out=out)
        else:  # a subclass whose ``mix`` predates ``out=``: one extra copy
            x_out, lam_true = self.mix(x, pairs, lam, g)
            x_out = out.copy_(x_out)
        return MixedBatch(
            x=x_out,
            index=pairs.index.to(x.device, non_blocking=True),
            lam=lam_true.to(x.device, torch.float32, non_blocking=True),
            y=y,
        )

    def check_call(self, x: Tensor, y: Tensor | None, generator: torch.Generator | None,
                   out: Tensor | None = None) -> torch.Generator | None:
        """Validate a call (``x`` rank and dtype, labels, ``out``, a CPU generator); return the generator."""
        g = cpu_generator(generator)
        if self.validate:
            check_inputs(x, self.min_rank, self.max_rank)
            check_labels(y, x.shape[0])
        if out is not None:
            check_out(out, x)
        return g

    def draw(self, batch_size: int, generator: torch.Generator | None) -> tuple[Pairs, Tensor]:
        """Partners and the requested ``lam`` ([B] float32, CPU) with inactive and self-paired rows at 1."""
        pairs = make_pairs(batch_size, self.pairing, generator)
        lam = sample_lam(self.alpha, pairs.index, self.mode, generator)
        return pairs, self.leave_untouched(lam, pairs, generator, 1.0)

    def leave_untouched(self, values: Tensor, pairs: Pairs, generator: torch.Generator | None,
                        untouched: float) -> Tensor:
        """``values`` ([B], CPU) with rows that stay unmixed set to ``untouched``: rows switched off by
        ``prob`` (drawn from ``generator``) and rows paired with themselves."""
        active = sample_active(self.prob, pairs.index, self.mode, generator)
        if active is not None:
            values = values.masked_fill(~active, untouched)
        fixed = pairs.fixed_points()
        if fixed is not None:
            values = values.masked_fill(fixed, untouched)
        return values

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None
            ) -> tuple[Tensor, Tensor]:
        """Return the mixed batch and the true per-row ``lam`` ([B] float32, any device).

        Subclasses may accept an extra keyword ``out: Tensor | None = None`` (checked by :func:`check_out`)
        and write the mixed batch into it; :meth:`forward` passes ``out`` only to a ``mix`` that accepts
        it and otherwise copies the result into ``out``.
        """
        raise NotImplementedError

    def uniform_lam(self, lam: Tensor) -> float | None:
        """The shared ``lam`` as a Python float when every row has it (batch mode, all rows active)."""
        if self.mode == "batch" and lam.numel() and bool((lam == lam[0]).all()):
            return float(lam[0])
        return None

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, mode={self.mode!r}, prob={self.prob}, pairing={self.pairing!r}"


def weight_view(values: Tensor, x: Tensor) -> Tensor:
    """``values`` ([B] CPU) as a ``[B, 1, ...]`` tensor in ``x``'s dtype on ``x``'s device."""
    return values.to(x.device, x.dtype, non_blocking=True).view(-1, *([1] * (x.dim() - 1)))


def check_out(out: Tensor, x: Tensor) -> None:
    """``out`` must be like ``x`` (shape, dtype, device), without self-overlap, and not overlap ``x``.

    Raises ``TypeError``/``ValueError`` naming ``out``. Overlap is checked on the byte ranges the two
    tensors span in memory (cheap, no data read), so a disjoint slice of the same buffer is accepted.
    """
    if not isinstance(out, Tensor):
        raise TypeError(f"out must be a torch.Tensor or None, got {type(out).__name__}")
    if out.shape != x.shape or out.dtype != x.dtype or out.device != x.device:
        raise ValueError(f"out must have x's shape, dtype and device: {tuple(x.shape)}, {x.dtype}, "
                         f"{x.device}; "
                         f"got {tuple(out.shape)}, {out.dtype}, {out.device}")
    if any(st == 0 and sz > 1 for sz, st in zip(out.shape, out.stride())):
        raise ValueError("out must not be an expanded view (several elements share one memory location)")
    (o_lo, o_hi), (x_lo, x_hi) = _byte_span(out), _byte_span(x)
    if out.numel() and x.numel() and o_lo < x_hi and x_lo < o_hi:
        raise ValueError("out must not share memory with x (the mix reads x while writing out); "
                         "pass a separate buffer, e.g. torch.empty_like(x)")


def _byte_span(t: Tensor) -> tuple[int, int]:
    """Half-open range of addresses a (non-empty) tensor may touch."""
    low = sum(min(st, 0) * (sz - 1) for sz, st in zip(t.shape, t.stride()))
    start = t.data_ptr() + t.element_size() * low
    extent = sum(max(st, 0) * (sz - 1) for sz, st in zip(t.shape, t.stride()))
    return start, t.data_ptr() + t.element_size() * (extent + 1)


_ACCEPTS_OUT: dict[type, bool] = {}


def _accepts_out(cls: type) -> bool:
    """Whether ``cls.mix`` takes an ``out`` keyword (cached per class)."""
    if cls not in _ACCEPTS_OUT:
        _ACCEPTS_OUT[cls] = "out" in inspect.signature(cls.mix).parameters
    return _ACCEPTS_OUT[cls]
