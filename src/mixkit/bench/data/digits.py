"""scikit-learn's bundled ``digits`` (UCI optical recognition of handwritten digits): 1,797 8x8 images."""

from __future__ import annotations

import torch

from .base import ImageDataset


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """The 8x8 grayscale digits shipped inside scikit-learn (no download), split by a seeded permutation.

    Pixel values 0..16 are rescaled to 0..255 uint8. Returns ``[N, 1, 8, 8]`` images, 10 classes.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the digits dataset needs scikit-learn: pip install 'mixkit[bench]'") from err
    d = _sk_load()
    x = torch.from_numpy(d.images).float().mul_(255 / 16).round_().clamp_(0, 255).to(torch.uint8).unsqueeze(1)
    y = torch.from_numpy(d.target).long()
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    n_test = int(round(x.shape[0] * test_fraction))
    test, train = order[:n_test].sort().values, order[n_test:].sort().values
    return ImageDataset("digits", x[train], y[train], x[test], y[test], 10, [str(i) for i in range(10)],
                        "sklearn.datasets.load_digits")
