"""Cost of label-aware pairing: C-Mixup / RegMix-kNN calls relative to MixUp, and memory-bounded chunking.

Prints, per batch size, the time of one mixer call (median of repeats) and its ratio to MixUp on the same
batch; the exact pairing is O(B^2) distance work done ``chunk_size`` rows at a time, so the peak extra
memory is ``chunk_size * B`` floats whatever B is; ``window=64`` is the O(B log B + 128 B) sorted-window
kernel for scalar targets. Run on a quiet machine for numbers worth quoting.

    python speed/pairing_speed.py [--device cpu|cuda] [--threads 1] [--results-page docs/results.md]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import mixkit


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--sizes", default="256,1024,4096,16384")
    p.add_argument("--results-page", metavar="PATH",
                   help="also write the table into this Markdown page (e.g. docs/results.md) under section "
                        "'pairing-speed'")
    a = p.parse_args(argv)
    lines: list[str] = []

    def emit(line: str = "", **kwargs) -> None:
        print(line, **kwargs)
        lines.append(line)

    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    emit(f"device {dev}, threads {a.threads}, x [B, {a.features}], y [B, 1]; time per call (ratio to MixUp)")
    emit("| B | mixup | cmixup | regmix_knn (k=8) | cmixup chunk=256 | cmixup window=64 |")
    emit("|---|---|---|---|---|---|")
    for b in (int(s) for s in a.sizes.split(",")):
        x = torch.randn(b, a.features, device=dev)
        y = torch.randn(b, 1, device=dev)
        repeats = 20 if b <= 4096 else 5
        mixers = [mixkit.MixUp(alpha=2.0), mixkit.CMixup(bandwidth=0.5), mixkit.RegMixKNN(k=8),
                  mixkit.CMixup(bandwidth=0.5, chunk_size=256), mixkit.CMixup(bandwidth=0.5, window=64)]
        times = [timed(lambda m=m, x=x, y=y: m(x, y, generator=g), repeats, dev) for m in mixers]
        cells = [f"{times[0] * 1e3:.2f} ms"] + [f"{t * 1e3:.2f} ms ({t / times[0]:.1f}x)" for t in times[1:]]
        emit(f"| {b} | " + " | ".join(cells) + " |")
    if a.results_page:
        from mixkit.bench.results_page import write_section

        write_section(a.results_page, "pairing-speed", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
