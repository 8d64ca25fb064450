"""Speed of every sample mixer relative to one ``torch.lerp`` pass over the same batch.

For each mixer spec (built through the registry) and mode, the time per call is the median of repeats
after warm-up, and the ratio divides it by the median time of ONE ``torch.lerp(x, x_partner, w, out=out)``
with a pre-gathered partner and a preallocated output, measured in the same process: the least work any
mixer must do (read two batches, write one). A ratio near 1 means the mixer costs about one pass.

A "typical implementation" row shows what the usual code costs: CutMix in elem mode written as a flipped
copy of the batch plus a per-element Python loop over boxes (the way timm-like code does it), and MixUp in
elem mode as ``lam * x + (1 - lam) * x.flip(0)``.

    python benchmarks/mixers.py                       # every registered plain mixer, CPU (+ CUDA if present)
    python benchmarks/mixers.py --methods mixup,cutmix:alpha=0.4 --quick --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

import torch

import mixkit
from mixkit.sample import registry
from mixkit.sample.step import ModelAwareMixer

SHAPES = ((256, 3, 32, 32), (128, 3, 224, 224))


def default_methods() -> list[str]:
    """Every registered mixer that is a plain ``(x, y) -> MixedBatch`` mixer and builds with its defaults."""
    names = []
    for name in registry.names():
        try:
            mixer = registry.build(name)
        except (TypeError, ValueError):
            continue
        if isinstance(mixer, ModelAwareMixer):
            continue
        names.append(name)
    return names


def timeit(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> float:
    """Median seconds per call of ``fn`` (CUDA work is synchronised around each call)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def typical_cutmix_elem(x: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference written the usual way: flipped copy of the batch, one Python iteration per row."""
    out = x.clone()
    flipped = x.flip(0).clone()
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    lam = torch.distributions.Beta(alpha, alpha).sample((n,))
    lam_true = torch.empty(n)
    for i in range(n):
        ratio = float(1.0 - lam[i]) ** 0.5
        ch, cw = int(h * ratio), int(w * ratio)
        cy, cx = random.randrange(h), random.randrange(w)
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        out[i, :, y0:y1, x0:x1] = flipped[i, :, y0:y1, x0:x1]
        lam_true[i] = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, lam_true


def typical_mixup_elem(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Reference written the usual way: ``lam * x + (1 - lam) * x.flip(0)`` with per-row ``lam``."""
    lam = torch.distributions.Beta(alpha, alpha).sample((x.shape[0],)).to(x.device).view(-1, 1, 1, 1)
    return lam * x + (1 - lam) * x.flip(0)


def run_shape(methods: list[str], modes: list[str], device: torch.device, shape: tuple[int, ...],
              repeats: int, warmup: int) -> list[dict]:
    """Rows for one device and batch shape: the lerp references, every (method, mode), typical code."""
    x = torch.randn(*shape, device=device)
    y = torch.randint(0, 10, (shape[0],), device=device)
    partner = torch.roll(x, 1, 0)
    out = torch.empty_like(x)
    ref = timeit(lambda: torch.lerp(x, partner, 0.3, out=out), repeats, warmup, device)
    fresh = timeit(lambda: torch.lerp(x, partner, 0.3), repeats, warmup, device)
    base = {"device": str(device), "shape": "x".join(map(str, shape))}
    rows = [{**base, "method": "reference: lerp(out=preallocated)", "mode": "-", "ms": ref * 1e3,
             "ratio": 1.0},
            {**base, "method": "reference: lerp into a new tensor", "mode": "-", "ms": fresh * 1e3,
             "ratio": fresh / ref}]
    g = torch.Generator().manual_seed(0)
    for spec in methods:
        for mode in modes:
            row = {**base, "method": spec, "mode": mode}
            try:
                mixer = registry.build(spec, mode=mode)
                mixer(x, y, generator=g)
            except (TypeError, ValueError) as err:
                rows.append({**row, "ms": None, "ratio": None, "note": str(err)[:80]})
                continue
            t = timeit(lambda m=mixer: m(x, y, generator=g), repeats, warmup, device)
            rows.append({**row, "ms": t * 1e3, "ratio": t / ref})
    for label, fn in (("typical: cutmix flip+loop", lambda: typical_cutmix_elem(x)),
                      ("typical: mixup flip", lambda: typical_mixup_elem(x))):
        t = timeit(fn, repeats, warmup, device)
        rows.append({**base, "method": label, "mode": "elem", "ms": t * 1e3, "ratio": t / ref})
    return rows


def run(methods: list[str], modes: list[str], devices: list[str], shapes, repeats: int,
        warmup: int) -> list[dict]:
    return [row for dev in devices for shape in shapes
            for row in run_shape(methods, modes, torch.device(dev), shape, repeats, warmup)]


def markdown(rows: list[dict]) -> str:
    lines = ["| device | shape | method | mode | ms / batch | ratio to one lerp |",
             "|---|---|---|---|---:|---:|"]
    for r in rows:
        ms = "n/a" if r["ms"] is None else f"{r['ms']:.2f}"
        ratio = r.get("note", "n/a") if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['device']} | {r['shape']} | {r['method']} | {r['mode']} | {ms} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=None,
                   help="comma-separated registry specs (default: every registered plain mixer); "
                        "use ';' to separate specs that contain commas")
    p.add_argument("--modes", default="batch,elem", help="comma-separated modes (default: batch,elem)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cpu,cuda (default: cpu, plus cuda if available)")
    p.add_argument("--shapes", default=None, help="e.g. 256x3x32x32,128x3x224x224 (default)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the CPU runs")
    p.add_argument("--json", default=None, help="save the rows and the machine description to this path")
    args = p.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.methods is None:
        methods = default_methods()
    else:
        sep = ";" if ";" in args.methods else ","
        methods = [m.strip() for m in args.methods.split(sep) if m.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    devices = args.device.split(",") if args.device else ["cpu"]
    if not args.device and torch.cuda.is_available():
        devices.append("cuda")
    shapes = SHAPES if args.shapes is None else tuple(
        tuple(int(v) for v in s.split("x")) for s in args.shapes.split(","))
    repeats = args.repeats or (3 if args.quick else 15)
    warmup = 1 if args.quick else 3

    rows = run(methods, modes, devices, shapes, repeats, warmup)
    machine = {"python": sys.version.split()[0], "torch": torch.__version__, "mixkit": mixkit.__version__,
               "platform": platform.platform(), "processor": platform.processor(),
               "threads": torch.get_num_threads(), "repeats": repeats,
               "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    print(f"mixkit {mixkit.__version__}, torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), "
          f"median of {repeats} after {warmup} warm-up")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
