"""A small CNN for log-mel spectrograms, with padding-aware pooling over time."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["SpectrogramCNN"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class SpectrogramCNN(nn.Module):
    """Log-mel ``[B, n_mels, T]`` (or ``[B, 1, n_mels, T]``) -> logits ``[B, num_classes]``.

    Padding frames of the input are zeroed. Three conv-BN-ReLU blocks (``width``, ``2 width``, ``4 width``)
    with 2x2 max-pools between them, then the mean over frequency and over the real frames only (``frames``
    ``[B]``, downsampled with the pools), and a linear layer. ``forward_features`` / ``head`` split it for
    model-aware mixers. Not from a paper.
    """

    capabilities = frozenset({"features"})

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        if num_classes < 2 or width < 1:
            raise ValueError(f"need num_classes >= 2 and width >= 1, got {num_classes}, {width}")
        self.stages = nn.Sequential(_block(1, width), nn.MaxPool2d(2, ceil_mode=True),
                                    _block(width, 2 * width), nn.MaxPool2d(2, ceil_mode=True),
                                    _block(2 * width, 4 * width))
        self.fc = nn.Linear(4 * width, num_classes)
        self._frames: Tensor | None = None

    def forward_features(self, x: Tensor) -> Tensor:
        return self.stages(x if x.dim() == 4 else x[:, None])

    def head(self, features: Tensor) -> Tensor:
        pooled = features.mean(2)                                         # [B, C, T']
        if self._frames is None:
            return self.fc(pooled.mean(2))
        t = pooled.shape[-1]
        real = (self._frames.to(features.device) + 3) // 4                # frames after two ceil pools
        mask = (torch.arange(t, device=features.device) < real.clamp(min=1).view(-1, 1)).to(pooled.dtype)
        return self.fc((pooled * mask[:, None]).sum(2) / mask.sum(1, keepdim=True))

    def forward(self, x: Tensor, frames: Tensor | None = None) -> Tensor:
        """Logits; ``frames`` ``[B]`` real frames of each row (all frames when ``None``)."""
        self._frames = frames
        if frames is not None:  # zero the padding frames, so their values never reach the logits
            t = x.shape[-1]
            x = x * (torch.arange(t, device=x.device) < frames.to(x.device).view(-1, *([1] * (x.dim() - 1))))
        try:
            return self.head(self.forward_features(x))
        finally:
            self._frames = None
