"""``MixUntil``: apply a mixer for the first epochs only (as timm's ``mixup_off_epoch``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..lam import cpu_generator
from .mixer import Mixer, MixParams
from .mixup import NoMix
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["MixUntil"]


class MixUntil(ModelAwareMixer):
    """Apply ``mixer`` for epochs ``[0, off_epoch)`` and no mixing from ``off_epoch`` on.

    Mixup's benefit concentrates early in training (Zou et al., "The Benefits of Mixup for Feature
    Learning", ICML 2023, show that mixup learns rare features early and that stopping it late loses
    little), so turning it off for the last epochs lets the model fit the clean data. Call
    :meth:`set_epoch` at the start of every epoch (``epoch`` counts from 0). When off, a call returns the
    unmixed batch (``index = arange(B)``, ``lam = 1``) and ``out.extras["mixing"] = False``, so
    ``out.loss`` reduces to the plain cross-entropy.

    It is a :class:`ModelAwareMixer` so that wrapped model-aware mixers (TransMix, ...) keep working:
    :meth:`training_step` delegates to the wrapped mixer while it is on and runs a plain step otherwise.
    ``requires`` and ``tasks`` mirror the wrapped mixer's. ``state_dict`` holds the current ``epoch``.
    """

    def __init__(self, mixer: Mixer, off_epoch: int) -> None:
        super().__init__()
        if not callable(mixer):
            raise TypeError(f"mixer must be a mixer (callable), got {type(mixer).__name__}")
        if not isinstance(off_epoch, int) or isinstance(off_epoch, bool) or off_epoch < 0:
            raise ValueError(f"off_epoch must be an int >= 0, got {off_epoch!r}")
        self.mixer = mixer
        self.off_epoch = off_epoch
        self.epoch = 0
        self.requires = frozenset(mixer.requires) if isinstance(mixer, Mixer) else frozenset()
        self.tasks = frozenset(mixer.tasks) if isinstance(mixer, Mixer) else Mixer.tasks
        self._identity = NoMix()
        wrapped = mixer.name if isinstance(mixer, Mixer) else type(mixer).__name__
        self.name = f"{wrapped}@off{off_epoch}"

    @property
    def active(self) -> bool:
        """Whether the wrapped mixer is applied in the current epoch."""
        return self.epoch < self.off_epoch

    def set_epoch(self, epoch: int) -> None:
        """Tell the window which epoch starts (0-based)."""
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        self.epoch = epoch

    def forward(self, x: Tensor, y: Tensor | None = None, *, generator: torch.Generator | None = None,
                **kwargs: object) -> MixedBatch:
        """The wrapped mixer's call (extra keywords such as ``out=`` are passed on) or the unmixed batch."""
        if self.active:
            out = self.mixer(x, y, generator=generator, **kwargs)
            if isinstance(out, MixedBatch):
                out.extras.setdefault("mixing", True)
            return out
        cpu_generator(generator)
        out = self._identity(x, y, generator=generator)
        out.extras["mixing"] = False
        return out

    def draw(self, shape: torch.Size, generator: torch.Generator | None) -> MixParams:
        return self.mixer.draw(shape, generator) if self.active else self._identity.draw(shape, generator)

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return (self.mixer if self.active else self._identity).apply(x, params, out)

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """One step: the wrapped mixer's own ``training_step`` while on, else a plain cross-entropy step."""
        if self.active and isinstance(self.mixer, ModelAwareMixer):
            return self.mixer.training_step(model, x, y, generator=generator)
        out = self(x, y, generator=generator)
        logits = model(out.x)
        return StepOutput(loss=out.loss(logits), logits=logits, mixed=out)

    def on_step_end(self, model: nn.Module, step: int) -> None:
        if isinstance(self.mixer, ModelAwareMixer):
            self.mixer.on_step_end(model, step)

    def get_extra_state(self) -> dict[str, int]:
        return {"epoch": self.epoch}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.set_epoch(int(state["epoch"]))

    def extra_repr(self) -> str:
        return f"off_epoch={self.off_epoch}, epoch={self.epoch}"
