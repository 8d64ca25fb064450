"""Online class-incremental learning with a replay buffer and DualMix (EnMix + AdpMix) on sklearn digits.

The 10 digit classes arrive as 5 tasks of 2 classes; each task's images stream once in small batches (online).
A reservoir replay buffer keeps a few old images. Per step the model trains on the stream batch plus a replay
batch, with

* ``er``: plain experience replay (cross-entropy on both batches),
* ``er+enmix``: EnMix on the concatenated batch,
* ``er+dualmix``: EnMix plus AdpMix (old/new mixing with the adaptive label ratio), losses summed.

Prints the final accuracy over all 10 classes (mean ± std over seeds).

    PYTHONPATH=src python examples/online_class_incremental.py [--seeds 3]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import mixkit


class ReservoirBuffer:
    """Reservoir sampling replay buffer: every stream sample seen so far is kept with equal probability."""

    def __init__(self, capacity: int, shape: tuple[int, ...], generator: torch.Generator) -> None:
        self.x = torch.zeros(capacity, *shape)
        self.y = torch.zeros(capacity, dtype=torch.long)
        self.capacity, self.size, self.seen, self.g = capacity, 0, 0, generator

    def add(self, x: Tensor, y: Tensor) -> None:
        for xi, yi in zip(x, y):  # host-side bookkeeping on a small stream batch, outside the model step
            if self.size < self.capacity:
                slot = self.size
                self.size += 1
            else:
                slot = int(torch.randint(0, self.seen + 1, (1,), generator=self.g))
            if slot < self.capacity:
                self.x[slot], self.y[slot] = xi, yi
            self.seen += 1

    def sample(self, n: int) -> tuple[Tensor, Tensor] | tuple[None, None]:
        if self.size == 0:
            return None, None
        idx = torch.randint(0, self.size, (min(n, self.size),), generator=self.g)
        return self.x[idx], self.y[idx]


def load() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    te, tr = perm[:500], perm[500:]
    return x[tr], y[tr], x[te], y[te]


def run(method: str, seed: int, batch: int = 10, buffer_size: int = 100, passes: int = 1) -> float:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x_tr, y_tr, x_te, y_te = load()
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    buf = ReservoirBuffer(buffer_size, (64,), g)
    noise = lambda t: t + 0.05 * torch.randn(t.shape, generator=g)  # a cheap batched augmentation
    enmix = mixkit.EnMix(alpha=1.0, augment=noise)
    adpmix = mixkit.AdpMix(num_classes=10, alpha=1.0, gamma=1.0)
    for task in range(5):
        sel = (y_tr == 2 * task) | (y_tr == 2 * task + 1)
        xs, ys = x_tr[sel], y_tr[sel]
        for _ in range(passes):
            order = torch.randperm(len(xs), generator=g)
            for s in range(0, len(xs), batch):
                xb, yb = xs[order[s:s + batch]], ys[order[s:s + batch]]
                xr, yr = buf.sample(batch)
                if method == "er":
                    xa = xb if xr is None else torch.cat([xb, xr])
                    ya = yb if yr is None else torch.cat([yb, yr])
                    loss = F.cross_entropy(model(xa), ya)
                else:
                    out = enmix(xb, yb, xr, yr, generator=g)
                    loss = out.loss(model(out.x))
                    if method == "er+dualmix":
                        adp = adpmix(xb, yb, xr, yr, generator=g)
                        loss = loss + adp.loss(model(adp.x))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                buf.add(xb, yb)
    with torch.no_grad():
        return float((model(x_te).argmax(1) == y_te).float().mean()) * 100


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(1)
    for method in ("er", "er+enmix", "er+dualmix"):
        accs = torch.tensor([run(method, s) for s in range(a.seeds)])
        std = float(accs.std()) if len(accs) > 1 else 0.0
        print(f"{method:<11} final accuracy over 10 classes: {float(accs.mean()):.1f} ± {std:.1f} %")


if __name__ == "__main__":
    main()
