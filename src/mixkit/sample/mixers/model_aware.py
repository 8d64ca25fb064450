"""``ModelAwareMixer``: mixers that need the model to mix or to label, and ``StepOutput``, one step's result.

Plain mixers only see ``(x, y)``: ``out = mixer(x, y); loss = out.loss(model(out.x))``. Methods that need the
model (PuzzleMix's gradient saliency, Manifold Mixup's hidden states, AutoMix's learned generator, TransMix's
attention, AttentiveMix's feature maps) subclass :class:`ModelAwareMixer`, and a training loop
(``mixkit.bench.train`` or the user's own) does::

    if isinstance(mixer, ModelAwareMixer):
        step = mixer.training_step(model, x, y, generator=g)   # forward(s) + loss inside
    else:
        out = mixer(x, y, generator=g)
        logits = model(out.x)
        step = StepOutput(loss=out.loss(logits), logits=logits, mixed=out)
    step.loss.backward(); optimizer.step()
    mixer.on_step_end(model, step_index)                     # EMA teachers etc. (no-op by default)

Learned mixers are ``nn.Module`` s: put ``mixer.parameters()`` into the optimizer (or let the mixer own its
optimizer, documented per method). ``requires`` names model capabilities a method needs, e.g.
``{"attention"}`` for a model with ``forward_with_attention(x) -> (logits, cls_attention[B, N_patches])``,
``{"features"}`` for ``forward_features(x) -> [B, C, h, w]`` and ``head(features) -> logits``. timm models
are taken as they are (``forward_features`` + ``forward_head``, ``forward_intermediates``, a ViT's last-block
attention): see :mod:`mixkit.sample.model_capabilities`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..batch import MixedBatch
from ..checks import check_class_ids, check_inputs, check_labels, is_class_ids
from .mixer import Mixer

__all__ = ["ModelAwareMixer", "StepOutput", "check_step_labels"]


@dataclass
class StepOutput:
    """One training step's result: scalar ``loss`` to backpropagate, ``logits`` ``[B, K]`` of the mixed batch
    (for accuracy bookkeeping), and the ``MixedBatch`` when the method produced one."""

    loss: Tensor
    logits: Tensor | None = None
    mixed: MixedBatch | None = None


class ModelAwareMixer(Mixer):
    """A mixer that runs the model itself. See the module docstring for the loop that drives it."""

    model_aware: ClassVar[bool] = True

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Forward pass(es) of ``model`` on the mixed batch and the loss to backpropagate."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_step(model, x, y)")

    def check_step(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
                   ) -> torch.Generator | None:
        """Validate a :meth:`training_step` call before any forward pass: ``model`` an ``nn.Module``,
        ``x``/``y``/``generator`` as in :meth:`check_call`, labels present. Returns the generator."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if y is None:
            raise ValueError("y: training_step needs labels (class ids [B] or soft labels [B, K])")
        g = self.check_call(x, y, generator)
        if not self.validate:  # training_step always needs a well-formed batch
            check_inputs(x, self.min_rank, self.max_rank)
            check_labels(y, x.shape[0])
        return g

    @property
    def owns_optimizer(self) -> bool:
        """True when the mixer steps its own parameters inside :meth:`training_step`; a training loop then
        leaves ``mixer.parameters()`` out of its optimizer. False by default."""
        return False

    def on_train_start(self, total_steps: int) -> None:
        """Called once before training with the number of optimizer steps the run will take (for methods
        whose release schedules something over training); no-op by default."""

    def on_step_end(self, model: nn.Module, step: int) -> None:
        """Called after the optimizer step ``step`` (0-based); no-op by default."""


def check_step_labels(y: Tensor, logits: Tensor) -> None:
    """Class ids ``y`` must index the model's ``K = logits.shape[-1]`` outputs (soft labels: ``[B, K]``);
    raises ``ValueError`` naming ``y`` (asynchronous assertion off the CPU)."""
    k = logits.shape[-1]
    if is_class_ids(y):
        check_class_ids(y, k)
    elif y.dim() != 2 or y.shape[1] != k:
        raise ValueError(f"y: soft labels must have shape [B, {k}] to match the model's {k} outputs, "
                         f"got {tuple(y.shape)}")
