"""A timm-style training loop that mixes with mixkit: the timm import is the one line that changes.

timm's recipe builds ``Mixup(...)`` from its arguments and trains on soft targets with
``SoftTargetCrossEntropy``. With mixkit the same script runs after changing its import::

    # from timm.data import Mixup
    from mixkit.compat.timm import Mixup

Here a tiny CNN trains a few steps on random images (timm need not be installed); the loss is timm's
``SoftTargetCrossEntropy`` written out. Pass ``--timm`` to run the same loop with timm's own class where
timm imports.

    PYTHONPATH=src python examples/timm_train.py [--steps 20] [--mode batch|pair|elem]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from mixkit.compat.timm import Mixup  # was: from timm.data import Mixup


def soft_target_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """timm's SoftTargetCrossEntropy: ``mean_i sum_k -target[i, k] * log_softmax(logits)[i, k]``."""
    return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mode", default="batch", choices=["batch", "pair", "elem"])
    parser.add_argument("--timm", action="store_true", help="use timm.data.Mixup (needs timm)")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    num_classes = 10
    mixup_cls = Mixup
    if args.timm:
        from timm.data import Mixup as mixup_cls  # noqa: N813 (the class under its usual name)
    # the arguments of timm's train.py: --mixup 0.8 --cutmix 1.0 --mixup-prob 1.0 --mixup-switch-prob 0.5
    mixup_fn = mixup_cls(mixup_alpha=0.8, cutmix_alpha=1.0, cutmix_minmax=None, prob=1.0, switch_prob=0.5,
                         mode=args.mode, label_smoothing=0.1, num_classes=num_classes)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(8 * 16, num_classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images = torch.randn(256, 3, 16, 16)
    labels = torch.randint(0, num_classes, (256,))
    loss = torch.tensor(0.0)
    for step in range(args.steps):
        idx = torch.randint(0, len(images), (args.batch_size,))
        x, target = mixup_fn(images[idx].clone(), labels[idx])  # x: mixed images, target: [B, K] soft targets
        loss = soft_target_cross_entropy(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    return loss.item()


if __name__ == "__main__":
    main()
