"""``PreActResNet18``: the pre-activation ResNet-18 of He et al. (ECCV 2016), CIFAR-style stem.

"Identity Mappings in Deep Residual Networks", https://arxiv.org/abs/1603.05027. This is the network of the
mixup / CutMix / PuzzleMix CIFAR tables: a 3x3 stem (no max-pool), four stages of two pre-activation basic
blocks with widths 64-128-256-512 (times ``width / 64``), strides 1-2-2-2.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from .cnn import ClassifierHead


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity (or 1x1 strided conv) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet18(nn.Module):
    """Pre-activation ResNet-18 for small images.

    Input ``x``: float ``[B, in_channels, H, W]`` (32x32 RGB or 28x28 grayscale). ``forward_features(x)``
    returns the final (BN-ReLU activated) map ``[B, 8*width, H/8, W/8]`` (4x4 for 32x32), ``head`` pools
    and classifies, ``forward(x) == head(forward_features(x))``. ``width=64`` is the published network
    (11.2 M parameters); smaller widths are a scaled-down variant for CPU runs.
    """

    capabilities = frozenset({"features"})
    # Manifold Mixup's release mixes at the input or after stage 1 or 2 (the end of blocks 1 and 3 here)
    manifold_layers = ("layers.1", "layers.3")

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 1:
            raise ValueError(f"PreActResNet18 needs in_channels >= 1, num_classes >= 2, width >= 1; got "
                             f"{in_channels}, {num_classes}, {width}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        layers, c = [], width
        for i, mult in enumerate((1, 2, 4, 8)):
            stride = 1 if i == 0 else 2
            layers += [PreActBlock(c, width * mult, stride), PreActBlock(width * mult, width * mult, 1)]
            c = width * mult
        self.layers = nn.Sequential(*layers)
        self.final_bn = nn.BatchNorm2d(c)
        self.feature_channels = c
        self.head = ClassifierHead(c, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> ``[B, 8*width, ceil(H/8), ceil(W/8)]``."""
        return F.relu(self.final_bn(self.layers(self.stem(x))))

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """The four stage outputs (two blocks each; the last through ``final_bn`` and ReLU, i.e.
        :meth:`forward_features`): ``[B, width * m, H / s, W / s]`` for ``(m, s)`` = (1, 1), (2, 2), (4, 4),
        (8, 8); AutoMix's Mix Block reads stage 3 (index 2)."""
        h, outs = self.stem(x), []
        for start in (0, 2, 4, 6):
            h = self.layers[start + 1](self.layers[start](h))
            outs.append(h)
        outs[-1] = F.relu(self.final_bn(outs[-1]))
        return outs

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> logits ``[B, num_classes]``."""
        return self.head(self.forward_features(x))
