"""Reference networks of the benchmark: ``SmallCNN``, ``PreActResNet18``, ``TinyViT``; ``build_model``.

Capabilities (what model-aware mixers may ``require``, see ``mixkit.sample.ModelAwareMixer``):

* ``"features"``: ``forward_features(x) -> [B, C, h, w]`` and ``head(features) -> logits``.
* ``"attention"``: ``forward_with_attention(x) -> (logits, cls_attn [B, N_patches])`` plus ``patch_size`` and
  ``grid_size`` attributes.
"""

from __future__ import annotations

from torch import nn

from mixkit.sample.model_capabilities import capabilities

from .cnn import ClassifierHead, SmallCNN
from .resnet import PreActBlock, PreActResNet18
from .vit import TinyViT

MODELS = ("cnn", "preact_resnet18", "vit")


def model_capabilities(model: nn.Module) -> frozenset[str]:
    """The capabilities ``model`` offers, found by what it exposes (user and timm models too): see
    :func:`mixkit.sample.model_capabilities.capabilities`."""
    return capabilities(model)


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, **kwargs) -> nn.Module:
    """Build a reference model by name: ``cnn``, ``preact_resnet18`` (alias ``resnet18``) or ``vit``.

    ``kwargs`` go to the model's constructor (``width``, ``dim``, ``depth`` ...).
    """
    key = name.strip().lower().replace("-", "_")
    if key == "cnn":
        return SmallCNN(in_channels, num_classes, **kwargs)
    if key in ("preact_resnet18", "resnet18"):
        return PreActResNet18(in_channels, num_classes, **kwargs)
    if key == "vit":
        kwargs.setdefault("patch_size", 4 if image_size % 4 == 0 else 2)
        return TinyViT(image_size=image_size, in_channels=in_channels, num_classes=num_classes, **kwargs)
    raise ValueError(f"model must be one of {MODELS}, got {name!r}")


__all__ = ["MODELS", "ClassifierHead", "PreActBlock", "PreActResNet18", "SmallCNN", "TinyViT", "build_model",
           "model_capabilities"]
