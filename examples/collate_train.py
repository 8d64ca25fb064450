"""Mixing inside DataLoader workers, torchvision v2 style: the ``collate_fn`` is the one line that changes.

torchvision's recipe mixes in the workers after collation::

    cutmix_or_mixup = v2.RandomChoice([v2.CutMix(num_classes=K), v2.MixUp(num_classes=K)])
    collate_fn = lambda batch: cutmix_or_mixup(*default_collate(batch))

With mixkit::

    collate_fn = MixCollate(RandomChoice([CutMix(), MixUp()]), num_classes=K, output="targets")

``MixCollate`` seeds a generator in each worker from the worker's seed, so the workers draw differently and a
run repeats under the same DataLoader generator. The images here are uint8, as decoded; they become float32
in [0, 1] before mixing. A tiny CNN trains a few steps on random images.

    PYTHONPATH=src python examples/collate_train.py [--steps 20] [--workers 2]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mixkit.compat import MixCollate
from mixkit.sample import CutMix, MixUp, RandomChoice


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    num_classes = 10
    images = torch.randint(0, 256, (256, 3, 16, 16), dtype=torch.uint8)
    dataset = TensorDataset(images, torch.randint(0, num_classes, (256,)))
    collate_fn = MixCollate(RandomChoice([CutMix(), MixUp()]), num_classes=num_classes, output="targets")
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        collate_fn=collate_fn, drop_last=True, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(8 * 16, num_classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    step, loss = 0, torch.tensor(0.0)
    while step < args.steps:
        for x, soft_targets in loader:  # x: float32 [B, 3, 16, 16] mixed; soft_targets: [B, K]
            loss = torch.sum(-soft_targets * F.log_softmax(model(x), dim=-1), dim=-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 10 == 0 or step == args.steps - 1:
                print(f"step {step:3d}  loss {loss.item():.4f}")
            step += 1
            if step == args.steps:
                break
    return loss.item()


if __name__ == "__main__":
    main()
