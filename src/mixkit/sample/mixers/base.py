"""``Mixer``: the base class of every sample mixer (configuration only; stateless between calls)."""

from __future__ import annotations

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

    Call: ``mixer(x, y=None, generator=None) -> MixedBatch`` with ``x`` a floating tensor ``[B, ...]``.
    All randomness comes from ``generator`` (a CPU ``torch.Generator``; default: torch's global one).
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
    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None
                ) -> MixedBatch:
        g = cpu_generator(generator)
        if self.validate:
            check_inputs(x, self.min_rank, self.max_rank)
            check_labels(y, x.shape[0])
        pairs, lam = self.draw(x.shape[0], g)
        x_out, lam_true = self.mix(x, pairs, lam, g)
        return MixedBatch(
            x=x_out,
            index=pairs.index.to(x.device, non_blocking=True),
            lam=lam_true.to(x.device, torch.float32, non_blocking=True),
            y=y,
        )

    def draw(self, batch_size: int, generator: torch.Generator | None) -> tuple[Pairs, Tensor]:
        """Partners and the requested ``lam`` ([B] float32, CPU) with inactive and self-paired rows at 1."""
        pairs = make_pairs(batch_size, self.pairing, generator)
        lam = sample_lam(self.alpha, pairs.index, self.mode, generator)
        active = sample_active(self.prob, pairs.index, self.mode, generator)
        if active is not None:
            lam = lam.masked_fill(~active, 1.0)
        fixed = pairs.fixed_points()
        if fixed is not None:
            lam = lam.masked_fill(fixed, 1.0)
        return pairs, lam

    def mix(self, x: Tensor, pairs: Pairs, lam: Tensor, generator: torch.Generator | None
            ) -> tuple[Tensor, Tensor]:
        """Return the mixed batch and the true per-row ``lam`` ([B] float32, any device)."""
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
