"""``SmallCNN``: a three-stage convolutional network sized for a 2-core CPU (28x28 grayscale, 32x32 RGB)."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class ClassifierHead(nn.Module):
    """Average-pool to a ``pool x pool`` grid, flatten, linear: ``[B, C, h, w]`` -> ``[B, num_classes]``.

    ``pool=1`` is global average pooling (ResNet-style heads); ``pool=2`` keeps a coarse layout, which
    small networks on 28x28 images benefit from.
    """

    def __init__(self, channels: int, num_classes: int, pool: int = 1) -> None:
        super().__init__()
        if pool < 1:
            raise ValueError(f"pool must be >= 1, got {pool}")
        self.pool = pool
        self.fc = nn.Linear(channels * pool * pool, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        if self.pool == 1:
            return self.fc(features.mean(dim=(2, 3)))
        return self.fc(F.adaptive_avg_pool2d(features, self.pool).flatten(1))


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU stages (width ``w``, ``2w``, ``4w``) with 2x2 max-pooling between them.

    Input ``x``: float ``[B, in_channels, H, W]`` (H, W >= 4; 28x28 and 32x32 are the intended sizes).
    ``forward_features(x) -> [B, 4w, H/4, W/4]`` (7x7 for 28x28, 8x8 for 32x32) and
    ``head(features) -> logits [B, num_classes]`` (average-pool to ``head_pool x head_pool``, linear), so
    ``forward(x) == head(forward_features(x))``.
    With ``width=16`` a 28x28 forward costs about 2 MMAC per image: a few thousand images per second
    per CPU core, which is what the quick benchmark suite needs. Not from a paper: a plain reference.
    """

    capabilities = frozenset({"features"})

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 head_pool: int = 2) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 1:
            raise ValueError(f"SmallCNN needs in_channels >= 1, num_classes >= 2, width >= 1; got "
                             f"{in_channels}, {num_classes}, {width}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.stages = nn.Sequential(
            _conv_bn_relu(in_channels, width), nn.MaxPool2d(2),
            _conv_bn_relu(width, 2 * width), nn.MaxPool2d(2),
            _conv_bn_relu(2 * width, 4 * width),
        )
        self.feature_channels = 4 * width
        self.head = ClassifierHead(4 * width, num_classes, head_pool)

    def forward_features(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> feature map ``[B, 4*width, H//4, W//4]``."""
        return self.stages(x)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """The three stage outputs ``[B, width, H, W]``, ``[B, 2*width, H//2, W//2]`` and
        ``[B, 4*width, H//4, W//4]`` (the last is :meth:`forward_features`); read by learned mixers such as
        AutoMix, whose Mix Block takes stage 3 (index 2)."""
        outs = []
        for i, layer in enumerate(self.stages):
            x = layer(x)
            if i % 2 == 0:  # after each conv-BN-ReLU block (the max-pools sit between them)
                outs.append(x)
        return outs

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> logits ``[B, num_classes]``."""
        return self.head(self.forward_features(x))


