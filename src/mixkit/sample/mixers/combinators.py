"""Combinators over mixers: ``RandomChoice`` switches methods per batch (as timm switches MixUp/CutMix)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import cpu_generator


class RandomChoice(nn.Module):
    """Apply one of ``mixers`` per call, chosen with probability proportional to ``weights``.

    ``weights`` must be non-negative numbers with a positive sum (default: uniform). The choice is drawn
    from the call's ``generator``, so seeded runs are reproducible. The chosen method's name is stored in
    ``out.extras["method"]``.
    """

    def __init__(self, mixers: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if len(mixers) == 0:
            raise ValueError("mixers must hold at least one mixer")
        self.mixers = nn.ModuleList(mixers)
        w = [1.0] * len(mixers) if weights is None else [float(v) for v in weights]
        if len(w) != len(mixers):
            raise ValueError(f"weights must have one entry per mixer ({len(mixers)}), got {len(w)}")
        if any(not v >= 0 for v in w) or sum(w) <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {w}")
        self.register_buffer("weights", torch.tensor(w, dtype=torch.float64) / sum(w), persistent=False)

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                out: Tensor | None = None) -> MixedBatch:
        """``out``: optional preallocated result, passed on to the chosen mixer (see ``Mixer``)."""
        g = cpu_generator(generator)
        k = int(torch.multinomial(self.weights.cpu(), 1, generator=g)) if len(self.mixers) > 1 else 0
        mixer = self.mixers[k]
        mixed = mixer(x, y, generator=g) if out is None else mixer(x, y, generator=g, out=out)
        mixed.extras.setdefault("method", getattr(mixer, "name", type(mixer).__name__))
        return mixed

    def extra_repr(self) -> str:
        return f"weights={[round(float(w), 4) for w in self.weights]}"
