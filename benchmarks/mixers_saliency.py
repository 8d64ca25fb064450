"""Speed of the saliency-guided, structured and learned mixers (prints ratios; not part of the test suite).

Plain mixers (SaliencyMix, GridMix, SmoothMix, AttentiveMix with given feature maps, PuzzleMix with given
saliency): time per call against the "lerp bound", one ``torch.lerp`` of the batch with a shifted copy of
itself (the memory traffic any mixer must pay). Model-aware mixers (PuzzleMix with its gradient saliency,
AttentiveMix, Manifold Mixup, AutoMix, AdAutoMix): time of one training step (``training_step`` + backward)
against a plain step without mixing on the same small CNN.

    PYTHONPATH=src python benchmarks/mixers_saliency.py [--device cuda] [--batch 128] [--size 32] [--repeat
    20]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import mixkit


def timeit(fn, repeat: int, device: torch.device) -> float:
    """Median seconds per call of ``fn`` after two warm-up calls (synchronising CUDA around each call)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


class BenchCNN(nn.Module):
    """Small CNN with ``forward_features``/``head`` (what the learned and attentive mixers need)."""

    def __init__(self, channels: int = 3, classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(2))
        self.fc = nn.Linear(2 * width, classes)

    def forward_features(self, x):
        return self.features(x)

    def head(self, f):
        return self.fc(f.mean((2, 3)))

    def forward(self, x):
        return self.head(self.forward_features(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    b, s = args.batch, args.size
    x = torch.rand(b, 3, s, s, device=dev)
    y = torch.randint(0, 10, (b,), device=dev)
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(b, 64, max(1, s // 8), max(1, s // 8), device=dev)
    sal = torch.rand(b, s, s, device=dev)

    shifted = torch.roll(x, 1, 0)
    lerp_t = timeit(lambda: torch.lerp(x, shifted, 0.3), args.repeat, dev)
    print(f"device={dev} batch={b} image=3x{s}x{s} threads={args.threads}")
    print(f"lerp bound: {lerp_t * 1e3:.3f} ms")
    print(f"{'mixer (plain call)':<34}{'ms/batch':>10}{'x lerp':>9}")
    plain = {
        "mixup (reference)": (mixkit.MixUp(mode="elem"), {}),
        "saliencymix": (mixkit.SaliencyMix(mode="elem"), {}),
        "gridmix": (mixkit.GridMix(mode="elem"), {}),
        "smoothmix (square)": (mixkit.SmoothMix(mode="elem"), {}),
        "smoothmix (circle)": (mixkit.SmoothMix(shape="circle", mode="elem"), {}),
        "attentivemix (given features)": (mixkit.AttentiveMix(), {"features": feats}),
        "puzzlemix (given saliency, n=4)": (mixkit.PuzzleMix(blocks=4, mode="elem"), {"saliency": sal}),
    }
    for name, (m, kw) in plain.items():
        t = timeit(lambda m=m, kw=kw: m(x, y, generator=g, **kw), args.repeat, dev)
        print(f"{name:<34}{t * 1e3:>10.3f}{t / lerp_t:>9.1f}")

    model = BenchCNN().to(dev)

    def plain_step():
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()

    base = timeit(plain_step, args.repeat, dev)
    print(f"\n{'mixer (training step + backward)':<34}{'ms/step':>10}{'x plain':>9}")
    print(f"{'no mixing':<34}{base * 1e3:>10.3f}{1.0:>9.2f}")
    aware = {
        "puzzlemix (gradient saliency)": mixkit.PuzzleMix(mode="elem"),
        "attentivemix": mixkit.AttentiveMix(),
        "manifoldmixup": mixkit.ManifoldMixup(),
        "automix": mixkit.AutoMix(),
        "adautomix": mixkit.AdAutoMix(),
    }
    for name, m in aware.items():
        def step(m=m):
            model.zero_grad(set_to_none=True)
            m.training_step(model, x, y, generator=g).loss.backward()
            m.on_step_end(model, 0)
        t = timeit(step, args.repeat, dev)
        print(f"{name:<34}{t * 1e3:>10.3f}{t / base:>9.2f}")


if __name__ == "__main__":
    main()
