"""``MixSchedule``: turn a mixer off after a chosen epoch (as timm's ``mixup_off_epoch``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..step import StepOutput
from .interpolation import NoMix

__all__ = ["MixSchedule"]


class MixSchedule(nn.Module):
    """Apply ``mixer`` for epochs ``[0, off_epoch)`` and no mixing from ``off_epoch`` on.

    Mixup's benefit concentrates early in training (Zou et al., "The Benefits of Mixup for Feature Learning",
    ICML 2023, show that mixup learns rare features early and that stopping it late loses little), so turning
    it off for the last epochs lets the model fit the clean data. Call :meth:`set_epoch` at the start of
    every epoch (``epoch`` counts from 0). When off, a call returns the unmixed batch (``index = arange(B)``,
    ``lam = 1``) and ``out.extras["mixing"] = False``, so ``out.loss`` reduces to the plain cross-entropy.

    Model-aware mixers (TransMix, ...) keep working: :meth:`training_step` delegates to the wrapped mixer
    while it is on and runs a plain step afterwards. ``requires`` mirrors the wrapped mixer's.
    """

    def __init__(self, mixer: nn.Module, off_epoch: int) -> None:
        super().__init__()
        if not callable(mixer):
            raise TypeError(f"mixer must be a mixer (callable), got {type(mixer).__name__}")
        if not isinstance(off_epoch, int) or isinstance(off_epoch, bool) or off_epoch < 0:
            raise ValueError(f"off_epoch must be an int >= 0, got {off_epoch!r}")
        self.mixer = mixer
        self.off_epoch = off_epoch
        self.epoch = 0
        self.requires = frozenset(getattr(mixer, "requires", frozenset()))
        self._identity = NoMix()
        self.name = f"{getattr(mixer, 'name', type(mixer).__name__)}@off{off_epoch}"

    @property
    def active(self) -> bool:
        """Whether the wrapped mixer is applied in the current epoch."""
        return self.epoch < self.off_epoch

    def set_epoch(self, epoch: int) -> None:
        """Tell the schedule which epoch starts (0-based)."""
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        self.epoch = epoch

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                **kwargs: object) -> MixedBatch:
        if self.active:
            out = self.mixer(x, y, generator=generator, **kwargs)
            if isinstance(out, MixedBatch):
                out.extras.setdefault("mixing", True)
            return out
        out = self._identity(x, y, generator=generator)
        out.extras["mixing"] = False
        return out

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """One step: the wrapped mixer's own ``training_step`` while on, else a plain cross-entropy step."""
        if self.active and hasattr(self.mixer, "training_step"):
            return self.mixer.training_step(model, x, y, generator=generator)
        out = self(x, y, generator=generator)
        logits = model(out.x)
        return StepOutput(loss=out.loss(logits), logits=logits, mixed=out)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        hook = getattr(self.mixer, "on_step_end", None)
        if hook is not None:
            hook(model, step)

    def extra_repr(self) -> str:
        return f"off_epoch={self.off_epoch}, epoch={self.epoch}"
