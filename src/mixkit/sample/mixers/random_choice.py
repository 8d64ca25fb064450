"""``RandomChoice``: switch between mixers per batch (as timm switches MixUp and CutMix)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import cpu_generator
from .mixer import Mixer, MixParams

__all__ = ["ChoiceParams", "RandomChoice"]


@dataclass(repr=False)
class ChoiceParams(MixParams):
    """RandomChoice's draw: which mixer (``choice``) and that mixer's own draw (``inner``)."""

    choice: int = 0
    inner: MixParams | None = None


class RandomChoice(Mixer):
    """Apply one of ``mixers`` per call, chosen with probability proportional to ``weights``.

    ``weights`` must be non-negative numbers with a positive sum (default: uniform); they are kept as a
    tuple of Python floats (``self.weights``, normalised). The choice is drawn from the call's
    ``generator``, so seeded runs are reproducible. The chosen method's name is stored in
    ``out.extras["method"]``. Input checks are the chosen mixer's.
    """

    def __init__(self, mixers: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if isinstance(mixers, (str, bytes)) or not isinstance(mixers, Sequence):
            raise TypeError(f"mixers must be a sequence of mixers, got {type(mixers).__name__}")
        if len(mixers) == 0:
            raise ValueError("mixers must hold at least one mixer")
        bad = [m for m in mixers if not isinstance(m, nn.Module)]
        if bad:
            raise TypeError(f"mixers must be nn.Module mixers, got {type(bad[0]).__name__}")
        self.mixers = nn.ModuleList(mixers)
        w = [1.0] * len(mixers) if weights is None else [_weight(v) for v in weights]
        if len(w) != len(mixers):
            raise ValueError(f"weights must have one entry per mixer ({len(mixers)}), got {len(w)}")
        if any(not 0 <= v < math.inf for v in w) or not 0 < sum(w) < math.inf:
            raise ValueError(f"weights must be finite and non-negative with a positive sum, got {w}")
        total = sum(w)
        self.weights: tuple[float, ...] = tuple(v / total for v in w)

    def choose(self, generator: torch.Generator | None) -> int:
        """Index of the mixer for one call (drawn from ``generator`` only when there are several)."""
        if len(self.mixers) == 1:
            return 0
        return int(torch.multinomial(torch.tensor(self.weights, dtype=torch.float64), 1, generator=generator))

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None) -> MixedBatch:
        """``out``: optional preallocated result, passed on to the chosen mixer (see :class:`Mixer`)."""
        g = cpu_generator(generator)
        mixer = self.mixers[self.choose(g)]
        mixed = mixer(x, y, generator=g, out=out)
        mixed.extras.setdefault("method", mixer.name if isinstance(mixer, Mixer) else type(mixer).__name__)
        return mixed

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> ChoiceParams:
        k = self.choose(generator)
        inner = self.mixers[k].draw(shape, generator)
        return ChoiceParams(inner.pairs, inner.lam, choice=k, inner=inner)

    def apply(self, x: Tensor, params: ChoiceParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.mixers[params.choice].apply(x, params.inner, out)

    def extra_repr(self) -> str:
        return f"weights={[round(w, 4) for w in self.weights]}"


def _weight(value: object) -> float:
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"weights must be numbers, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"weights must be numbers, got {value!r}") from None
