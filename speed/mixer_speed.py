"""Speed of every sample mixer relative to one ``torch.lerp`` pass over the same batch.

For each mixer spec (built through the registry) and mode, the time per call is the median of repeats
after warm-up, and the ratio divides it by the median time of ONE ``torch.lerp(x, x_partner, w, out=out)``
with a pre-gathered partner and a preallocated output, measured in the same process with its calls
alternating with the mixer's: the least work any mixer must do (read two batches, write one). A ratio
near 1 means the mixer costs about one pass. "lerp into a new tensor" shows the cost of allocating the
result (on CPU, first-touch page faults of a fresh large tensor unless the allocator keeps freed memory).
Every mixer is timed as called by default (fresh result) and as ``mixer(x, y, out=buffer)`` with one
preallocated buffer reused across calls (rows labelled "(out=buffer)"), which is what the reference does.

A "typical implementation" row shows what the usual code costs: CutMix in elem mode written as a flipped
copy of the batch plus a per-element Python loop over boxes (the way timm-like code does it), and MixUp in
elem mode as ``lam * x + (1 - lam) * x.flip(0)``.

    python speed/mixer_speed.py                       # every registered plain mixer, CPU (+ CUDA if present)
    python speed/mixer_speed.py --methods mixup,cutmix:alpha=0.4 --quick --threads 1 --json out.json
    python speed/mixer_speed.py --results-page docs/results.md     # table into section 'mixer-speed'
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
from mixkit.sample import build, registry

SHAPES = ((256, 3, 32, 32), (128, 3, 224, 224))


def default_methods() -> list[str]:
    """Every registered mixer called as ``mixer(x, y) -> MixedBatch`` that takes a ``mode`` (the table's two
    rows). Model-aware mixers are timed by ``speed/saliency_mixer_speed.py``.
    """
    return [info.name for info in registry.available() if not info.model_aware and "mode" in info.defaults]


def timeit(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device,
           ref: Callable[[], object] | None = None) -> tuple[float, float]:
    """Median seconds per call of ``fn`` and of ``ref`` (CUDA work is synchronised around each call).

    Calls of ``fn`` and ``ref`` alternate, so both medians see the same machine load (this matters on a
    shared machine, where load drifts over a run); without ``ref`` the second value is 0.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
        if ref is not None:
            ref()
    sync()
    times: list[float] = []
    ref_times: list[float] = []
    for _ in range(repeats):
        for f, acc in ((fn, times), (ref, ref_times)):
            if f is None:
                continue
            start = time.perf_counter()
            f()
            sync()
            acc.append(time.perf_counter() - start)
    return statistics.median(times), (statistics.median(ref_times) if ref_times else 0.0)


BETA = torch.distributions.Beta(1.0, 1.0)  # built once, so the references pay only for sampling


def typical_cutmix_elem(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference written the usual way: flipped copy of the batch, one Python iteration per row."""
    out = x.clone()
    flipped = x.flip(0).clone()
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    lam = BETA.sample((n,))
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


def typical_mixup_elem(x: torch.Tensor) -> torch.Tensor:
    """Reference written the usual way: ``lam * x + (1 - lam) * x.flip(0)`` with per-row ``lam``."""
    lam = BETA.sample((x.shape[0],)).to(x.device).view(-1, 1, 1, 1)
    return lam * x + (1 - lam) * x.flip(0)


def run_shape(methods: list[str], modes: list[str], device: torch.device, shape: tuple[int, ...],
              repeats: int, warmup: int, with_out: bool = True, typical: bool = True) -> list[dict]:
    """Rows for one device and batch shape: the lerp references, every (method, mode), typical code.

    Each mixer is timed twice: the default call (returns a fresh tensor, so it pays the allocation the
    "lerp into a new tensor" row shows) and, with ``with_out``, ``mixer(..., out=buffer)`` writing into
    one preallocated buffer reused across calls (labelled "(out=buffer)").
    """
    x = torch.randn(*shape, device=device)
    y = torch.randint(0, 10, (shape[0],), device=device)
    partner = torch.roll(x, 1, 0)
    out = torch.empty_like(x)

    def lerp_ref() -> object:
        return torch.lerp(x, partner, 0.3, out=out)

    ref, _ = timeit(lerp_ref, repeats, warmup, device)
    fresh, ref_here = timeit(lambda: torch.lerp(x, partner, 0.3), repeats, warmup, device, lerp_ref)
    base = {"device": str(device), "shape": "x".join(map(str, shape))}
    rows = [{**base, "method": "reference: lerp(out=preallocated)", "mode": "-", "ms": ref * 1e3,
             "ratio": 1.0},
            {**base, "method": "reference: lerp into a new tensor", "mode": "-", "ms": fresh * 1e3,
             "ratio": fresh / ref_here}]
    g = torch.Generator().manual_seed(0)
    for spec in methods:
        for mode in modes:
            row = {**base, "method": spec, "mode": mode}
            try:
                mixer = build(spec, mode=mode)
                mixer(x, y, generator=g)
            except (TypeError, ValueError) as err:
                rows.append({**row, "ms": None, "ratio": None, "note": str(err)[:80]})
                continue
            t, ref_here = timeit(lambda m=mixer: m(x, y, generator=g), repeats, warmup, device, lerp_ref)
            rows.append({**row, "ms": t * 1e3, "ratio": t / ref_here})
            if with_out:
                buf = torch.empty_like(x)
                out_row = {**row, "method": f"{spec} (out=buffer)"}
                try:
                    mixer(x, y, generator=g, out=buf)
                except TypeError as err:  # a mixer whose forward has no out= keyword
                    rows.append({**out_row, "ms": None, "ratio": None, "note": str(err)[:80]})
                    continue
                t, ref_here = timeit(lambda m=mixer, b=buf: m(x, y, generator=g, out=b), repeats, warmup,
                                     device, lerp_ref)
                rows.append({**out_row, "ms": t * 1e3, "ratio": t / ref_here})
    for label, fn in (("typical: cutmix flip+loop", lambda: typical_cutmix_elem(x)),
                      ("typical: mixup flip", lambda: typical_mixup_elem(x))) if typical else ():
        t, ref_here = timeit(fn, repeats, warmup, device, lerp_ref)
        rows.append({**base, "method": label, "mode": "elem", "ms": t * 1e3, "ratio": t / ref_here})
    return rows


def run(methods: list[str], modes: list[str], devices: list[str], shapes, repeats: int,
        warmup: int, with_out: bool = True, typical: bool = True) -> list[dict]:
    return [row for dev in devices for shape in shapes
            for row in run_shape(methods, modes, torch.device(dev), shape, repeats, warmup, with_out,
                                 typical)]


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
    p.add_argument("--no-out", action="store_true", help="skip the out=buffer rows")
    p.add_argument("--no-typical", action="store_true", help="skip the typical-implementation rows")
    p.add_argument("--json", default=None, help="save the rows and the machine description to this path")
    p.add_argument("--results-page", metavar="PATH",
                   help="also write the table into this Markdown page (e.g. docs/results.md) under section "
                        "'mixer-speed'")
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

    rows = run(methods, modes, devices, shapes, repeats, warmup, not args.no_out, not args.no_typical)
    machine = {"python": sys.version.split()[0], "torch": torch.__version__, "mixkit": mixkit.__version__,
               "platform": platform.platform(), "processor": platform.processor(),
               "threads": torch.get_num_threads(), "repeats": repeats,
               "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    header = (f"mixkit {mixkit.__version__}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} CPU thread(s), median of {repeats} after {warmup} warm-up")
    print(header)
    print(markdown(rows))
    if args.results_page:
        from mixkit.bench.results_page import write_section

        write_section(args.results_page, "mixer-speed", header + "\n\n" + markdown(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
