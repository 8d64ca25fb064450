"""Who mixes with whom.

A :class:`Pairs` holds the partner ``index`` ([B] int64, a permutation) and, for the default ``roll``
pairing, the cyclic ``shift`` that defines it. With a shift the partner of row ``i`` is row
``(i + shift) % B``: the partner rows are two contiguous slices of the batch, so mixers read them in
place and never allocate a permuted copy of the batch (the cost the usual flip/permute implementations
pay on every call). Since data loaders shuffle, a random shift gives every sample a uniformly random
partner, like torchvision's roll-by-one but with a fresh offset each call.

Pairings:
  * ``roll``: random cyclic shift in [1, B-1] (zero-copy; default).
  * ``flip``: row ``i`` with row ``B-1-i`` (timm's convention; an involution, so ``mode='pair'`` can give
    both members the same lambda). With an odd batch the middle row pairs with itself and keeps
    ``lam = 1``.
  * ``permute``: a seeded uniformly random permutation (rows that land on themselves keep ``lam = 1``).
Label-aware pairings (C-Mixup's kernel, RegMix's nearest neighbours) live with the regression mixers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

PairingName = Literal["roll", "flip", "permute"]
PAIRINGS = ("roll", "flip", "permute")


@dataclass(frozen=True)
class Pairs:
    """Partner of every row: ``index`` on the CPU ([B] int64) and, for ``roll``, the shift."""

    index: Tensor
    shift: int | None = None

    @property
    def size(self) -> int:
        return int(self.index.numel())

    def fixed_points(self) -> Tensor | None:
        """[B] bool mask of rows paired with themselves, or ``None`` if there are none by construction."""
        if self.shift is not None and self.size > 1:
            return None
        same = self.index == torch.arange(self.size)
        return same if bool(same.any()) else None


def check_pairing(pairing: str) -> PairingName:
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    return pairing  # type: ignore[return-value]


def make_pairs(batch_size: int, pairing: PairingName, generator: torch.Generator | None = None) -> Pairs:
    """Draw the partners of a batch of ``batch_size`` rows (CPU tensors, reproducible under ``generator``)."""
    n = int(batch_size)
    if n < 1:
        raise ValueError(f"batch size must be >= 1, got {n}")
    if pairing == "roll":
        if n == 1:
            return Pairs(torch.zeros(1, dtype=torch.long), shift=0)
        shift = int(torch.randint(1, n, (1,), generator=generator))
        return Pairs((torch.arange(n) + shift) % n, shift=shift)
    if pairing == "flip":
        return Pairs(torch.arange(n - 1, -1, -1))
    if pairing == "permute":
        return Pairs(torch.randperm(n, generator=generator))
    raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")


def partner_rows(x: Tensor, pairs: Pairs, device_index: Tensor | None = None) -> Tensor:
    """``x[index]`` (one gather). Only for callers that truly need the partner batch materialised."""
    if pairs.shift is not None and pairs.shift:
        return torch.roll(x, -pairs.shift, dims=0)
    idx = pairs.index.to(x.device, non_blocking=True) if device_index is None else device_index
    return x.index_select(0, idx)


def blend_with_partner(x: Tensor, pairs: Pairs, weight: Tensor, out: Tensor | None = None) -> Tensor:
    """``out[i] = x[i] + weight[i] * (x[index[i]] - x[i])``, i.e. ``torch.lerp(x, x[index], weight)``.

    ``weight`` broadcasts against ``x`` ([B, 1, ...] or a scalar tensor) in ``x``'s dtype. With a roll
    pairing this is exactly two ``lerp`` calls over contiguous slices: no gather, no temporary batch.
    When autograd records (``x`` or ``weight`` requires grad, e.g. token embeddings or hidden features) the
    ``out=`` kernels cannot be used, so one differentiable ``lerp`` against the gathered partner is taken.
    """
    if torch.is_grad_enabled() and (x.requires_grad or (isinstance(weight, Tensor) and weight.requires_grad)):
        blended = torch.lerp(x, partner_rows(x, pairs), weight)
        return blended if out is None else out.copy_(blended)
    if out is None:
        out = torch.empty_like(x)
    n, s = x.shape[0], pairs.shift
    if s is not None:
        if s == 0:
            out.copy_(x)
            return out
        w_head, w_tail = _split_weight(weight, n, s)
        torch.lerp(x[: n - s], x[s:], w_head, out=out[: n - s])
        torch.lerp(x[n - s :], x[:s], w_tail, out=out[n - s :])
        return out
    partner = partner_rows(x, pairs)
    return torch.lerp(x, partner, weight, out=out)


def _split_weight(w: Tensor, n: int, s: int) -> tuple[Tensor, Tensor]:
    if w.dim() == 0 or w.shape[0] == 1:
        return w, w
    return w[: n - s], w[n - s :]


def weight_view(values: Tensor, x: Tensor) -> Tensor:
    """``values`` ([B] CPU) as a ``[B, 1, ...]`` tensor in ``x``'s dtype on ``x``'s device."""
    return values.to(x.device, x.dtype, non_blocking=True).view(-1, *([1] * (x.dim() - 1)))
