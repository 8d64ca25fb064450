"""Speed of the saliency-guided, structured and learned mixers, next to ``speed/mixer_speed.py``.

Part 1 (per call, ratio to one ``torch.lerp`` pass, the bound ``speed/mixer_speed.py`` uses): SaliencyMix,
GridMix, SmoothMix, plus AttentiveMix given feature maps and PuzzleMix given saliency maps (their mixing cost
without the model). Part 2 (per training step incl. backward, ratio to a plain step without mixing on the same
small CNN): the model-aware methods, PuzzleMix (gradient saliency), AttentiveMix, Manifold Mixup, AutoMix and
AdAutoMix, whose cost is dominated by the extra forward/backward passes they need.

    python speed/saliency_mixer_speed.py                    # CPU (+ CUDA if present)
    python speed/saliency_mixer_speed.py --quick --threads 1 --shapes 128x3x32x32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

import mixkit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mixer_speed import markdown, timeit  # noqa: E402  (the timing helpers of speed/mixer_speed.py)

PLAIN = ("saliencymix", "gridmix", "smoothmix", "smoothmix:shape=circle")


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


def plain_rows(device: torch.device, shape: tuple[int, ...], modes: list[str], repeats: int,
               warmup: int) -> list[dict]:
    b, _, h, w = shape
    x = torch.randn(*shape, device=device)
    y = torch.randint(0, 10, (b,), device=device)
    partner, out = torch.roll(x, 1, 0), torch.empty_like(x)
    ref, _ = timeit(lambda: torch.lerp(x, partner, 0.3, out=out), repeats, warmup, device)
    base = {"device": str(device), "shape": "x".join(map(str, shape))}
    rows = [{**base, "method": "reference: lerp(out=preallocated)", "mode": "-", "ms": ref * 1e3,
             "ratio": 1.0}]
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(b, 64, max(1, h // 8), max(1, w // 8), device=device)
    sal = torch.rand(b, h, w, device=device)
    cases = [(spec, {}) for spec in PLAIN] + [("attentivemix (given features)", {"features": feats}),
                                              ("puzzlemix (given saliency)", {"saliency": sal})]
    for spec, kw in cases:
        for mode in modes:
            name = spec.split(" ")[0]
            mixer = mixkit.build(name, mode=mode)
            t, _ = timeit(lambda m=mixer, kw=kw: m(x, y, generator=g, **kw), repeats, warmup, device)
            rows.append({**base, "method": spec, "mode": mode, "ms": t * 1e3, "ratio": t / ref})
    return rows


def step_rows(device: torch.device, shape: tuple[int, ...], repeats: int, warmup: int) -> list[dict]:
    b = shape[0]
    x = torch.randn(*shape, device=device)
    y = torch.randint(0, 10, (b,), device=device)
    model = BenchCNN(shape[1]).to(device)
    g = torch.Generator().manual_seed(0)

    def plain_step():
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()

    base_t, _ = timeit(plain_step, repeats, warmup, device)
    base = {"device": str(device), "shape": "x".join(map(str, shape)), "mode": "step"}
    rows = [{**base, "method": "reference: training step without mixing", "ms": base_t * 1e3, "ratio": 1.0}]
    for spec in ("mixup", "puzzlemix:mode=elem", "attentivemix", "manifoldmixup", "automix", "adautomix"):
        mixer = mixkit.build(spec).to(device)

        def step(m=mixer):
            model.zero_grad(set_to_none=True)
            if isinstance(m, mixkit.ModelAwareMixer):
                m.training_step(model, x, y, generator=g).loss.backward()
                m.on_step_end(model, 0)
            else:
                o = m(x, y, generator=g)
                o.loss(model(o.x)).backward()

        t, _ = timeit(step, repeats, warmup, device)
        rows.append({**base, "method": spec, "ms": t * 1e3, "ratio": t / base_t})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cpu,cuda (default: cpu, plus cuda if available)")
    p.add_argument("--shapes", default="128x3x32x32", help="e.g. 128x3x32x32,64x3x64x64")
    p.add_argument("--modes", default="batch,elem")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results-page", metavar="PATH",
                   help="also write the table into this Markdown page (e.g. docs/results.md) under section "
                        "'saliency-mixer-speed'")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cuda = ["cuda"] if torch.cuda.is_available() else []
    devices = args.device.split(",") if args.device else ["cpu", *cuda]
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    repeats = args.repeats or (3 if args.quick else 15)
    warmup = 1 if args.quick else 3
    rows = []
    for dev in devices:
        for shape in shapes:
            rows += plain_rows(torch.device(dev), shape, modes, repeats, warmup)
            rows += step_rows(torch.device(dev), shape, repeats, warmup)
    header = (f"mixkit {mixkit.__version__}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} CPU thread(s), median of {repeats} after {warmup} warm-up; "
              "'step' rows: ratio to a training step without mixing")
    print(header)
    print(markdown(rows))
    if args.results_page:
        from mixkit.bench.results_page import write_section

        write_section(args.results_page, "saliency-mixer-speed", header + "\n\n" + markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
