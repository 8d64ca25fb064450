"""``Mixer``: the base class of every sample mixer, and ``MixParams``, what one call draws.

A call is three steps, each in one place::

    g = mixer.check_call(x, y, generator, out)    # every input check
    params = mixer.draw(x.shape, g)               # every random number of the call
    x_mixed, lam = mixer.apply(x, params, out)    # deterministic given params

so a seeded call can be replayed (``apply`` again with the same ``params``) and a subclass only writes the
two method-specific steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .. import registry
from ..batch import MixedBatch
from ..checks import check_inputs, check_labels, check_out
from ..lam import check_alpha, check_mode, check_prob, cpu_generator, sample_active, sample_lam
from ..pairing import Pairs, check_pairing, make_pairs

__all__ = ["MixParams", "Mixer"]


@dataclass
class MixParams:
    """What one call of a mixer draws; methods with geometry subclass it.

    Attributes:
        pairs: the partner of each row (``index`` ``[B]`` int64 on the CPU, roll ``shift`` or ``None``).
        lam: ``[B]`` float32 on the CPU: the requested own-label share, 1 for rows left untouched.
    """

    pairs: Pairs
    lam: Tensor

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={_short(v)}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def _short(value: object) -> str:
    if isinstance(value, Tensor):
        return f"Tensor{list(value.shape)}" if value.numel() > 8 else repr(value.tolist())
    if isinstance(value, Pairs):
        return f"Pairs(shift={value.shift})" if value.shift is not None else f"Pairs({value.index.tolist()})"
    return repr(value)


class Mixer(nn.Module):
    """Base of the mixup family: ``mixer(x, y=None, *, generator=None, out=None) -> MixedBatch``.

    Args:
        alpha: concentration of ``Beta(alpha, alpha)`` from which ``lam`` is drawn (> 0).
        mode: ``"batch"`` (one ``lam`` per call), ``"pair"`` (one per pair; needs ``pairing="flip"``) or
            ``"elem"`` (one per row). Geometry (boxes, masks) is always drawn per row in ``pair``/``elem``.
        prob: probability that a row is mixed at all; rows left alone keep ``lam = 1`` and their input.
        pairing: ``"roll"`` (random cyclic shift, zero-copy; default), ``"flip"`` or ``"permute"``.
        validate: check shapes, dtypes and label values (cheap; on CUDA the value checks are asynchronous).

    ``x`` is a floating tensor ``[B, ...]``. All randomness comes from ``generator`` (a CPU
    ``torch.Generator``; default: torch's global one). ``out``: optional preallocated tensor (same shape,
    dtype and device as ``x``, not overlapping it) that receives the mixed batch; ``out.x`` is then ``out``
    itself. Reusing one buffer saves the allocation of a fresh result on every call, which on CPU
    (first-touch page faults of a large block) can cost more than the mixing itself.

    Subclasses implement :meth:`draw` (when they draw more than partners and ``lam``) and :meth:`apply`,
    and declare the class attributes below. A subclass that defines ``name`` registers itself, so
    :func:`mixkit.sample.build` finds it by that name and its ``aliases``.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    paper: ClassVar[str] = ""
    paper_url: ClassVar[str] = ""
    release: ClassVar[str] = ""
    tasks: ClassVar[frozenset[str]] = frozenset({"classification"})
    requires: ClassVar[frozenset[str]] = frozenset()
    model_aware: ClassVar[bool] = False  # True for ModelAwareMixer: it runs the model (training_step)
    min_rank: ClassVar[int] = 2
    max_rank: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            registry.add(cls)

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
        params = self.draw(x.shape, g)
        x_mixed, lam = self.apply(x, params, out=out)
        return MixedBatch(
            x=x_mixed,
            index=params.pairs.index.to(x_mixed.device, non_blocking=True),
            lam=lam.to(x_mixed.device, torch.float32, non_blocking=True),
            y=y,
            extras=self.extras(params, x_mixed),
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

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> MixParams:
        """Every random number of a call on inputs of ``shape``: partners and the requested ``lam`` ([B]
        float32, CPU) with inactive and self-paired rows at 1 (subclasses add their geometry)."""
        pairs = make_pairs(shape[0], self.pairing, generator)
        lam = sample_lam(self.alpha, pairs.index, self.mode, generator)
        return MixParams(pairs, self.leave_untouched(lam, pairs, generator, 1.0))

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The mixed batch (written into ``out`` when given) and the true own share per row ([B] float32,
        any device). Deterministic given ``params``."""
        raise NotImplementedError(f"{type(self).__name__} must implement apply(x, params, out)")

    def extras(self, params: MixParams, x_mixed: Tensor) -> dict[str, Any]:
        """Method-specific data for :attr:`MixedBatch.extras` (on ``x_mixed``'s device); none by default."""
        return {}

    # ----------------------------------------------------------------- helpers for subclasses
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

    def uniform_lam(self, lam: Tensor) -> float | None:
        """The shared ``lam`` as a Python float when every row has it (batch mode, all rows active)."""
        if self.mode == "batch" and lam.numel() and bool((lam == lam[0]).all()):
            return float(lam[0])
        return None

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, mode={self.mode!r}, prob={self.prob}, pairing={self.pairing!r}"
