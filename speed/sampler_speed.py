"""Throughput of MixtureSampler: draws per CPU-second on one core, for 2, 16 and 1,000 domains.

For each number of domains and three weight profiles (uniform; temperature T=3 over Zipf sizes, a
typical multilingual mix; Dirichlet(1) random weights, strongly skewed) it prints batch-mode draws/s
(``take(batch)``, the DataLoader path) for the exact ``quota`` schedule and for ``iid``, the schedule alone
(:func:`~mixkit.domain.interleave.deficit_schedule`), the sampler of one rank out of eight (global draws per
CPU-second: every rank builds the whole global stream and its rounds' rank layout), per-item iteration, and
``set_weights`` cost, with the ratio to the 5 M draws/s target. CPU time of this process is measured (not
wall time), so a busy shared machine disturbs the figures less. Usage::

    python speed/sampler_speed.py [--seconds 1] [--batch 65536] [--results-page docs/results.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from mixkit.domain import MixtureSampler, quantize_weights
from mixkit.domain.interleave import deficit_schedule

TARGET = 5e6
#: world size of the several-rank schedule column
RANKS = 8


def rate(fn, seconds: float) -> float:
    """Counts returned by ``fn`` per CPU-second of this process, after one warm-up call."""
    fn()
    n, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        n += fn()
    return n / (time.process_time() - t0)


def profile(name: str, k: int) -> np.ndarray:
    if name == "uniform":
        w = np.ones(k)
    elif name == "zipf-T3":
        w = (1.0 / np.arange(1, k + 1)) ** (1 / 3)
    else:
        w = np.random.default_rng(0).dirichlet(np.ones(k))
    return w / w.sum()


def case(k: int, prof: str, size: int, seconds: float, batch: int, extras: bool) -> dict[str, float]:
    w = profile(prof, k)
    names = [f"d{i}" for i in range(k)]
    sizes = dict.fromkeys(names, size)
    weights = dict(zip(names, w.tolist()))
    out = {}
    for mode in ("quota", "iid"):
        s = MixtureSampler(sizes, weights, mode=mode)
        out[f"batch_{mode}"] = rate(lambda s=s: len(s.take(batch)), seconds)
    q = np.asarray(quantize_weights(w.tolist()), dtype=np.int64)
    e = np.zeros(k, dtype=np.int64)
    out["schedule_only"] = rate(lambda: deficit_schedule(q, e, None, 0, batch).shape[0], seconds)
    s8 = MixtureSampler(sizes, weights, rank=0, world_size=RANKS)  # whole global stream, one rank's share
    out["sampler_ranks"] = rate(lambda: RANKS * len(s8.take(batch // RANKS)), seconds)
    if not extras:
        return out
    s = MixtureSampler(sizes, weights)
    it = iter(s)

    def items() -> int:
        for _ in range(10_000):
            next(it)
        return 10_000

    out["per_item"] = rate(items, seconds)
    other = dict(zip(names, profile("uniform", k).tolist()))
    reps = 50
    t0 = time.process_time()
    for i in range(reps):
        s.set_weights(weights if i % 2 else other)
    out["set_weights_us"] = (time.process_time() - t0) / reps * 1e6
    t0 = time.process_time()
    for i in range(reps):
        s.set_weights(weights if i % 2 else other)
        s.take(256)
    out["set_weights_take_us"] = (time.process_time() - t0) / reps * 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="CPU time per figure")
    ap.add_argument("--batch", type=int, default=65536, help="draws per take() in batch mode")
    ap.add_argument("--results-page", metavar="PATH",
                   help="also write the table into this Markdown page (e.g. docs/results.md) under section "
                        "'sampler-speed'")
    args = ap.parse_args(argv)
    lines: list[str] = []

    def emit(line: str = "", **kwargs) -> None:
        print(line, **kwargs)
        lines.append(line)

    torch.set_num_threads(1)
    machine = platform.processor() or platform.machine()
    emit(f"# MixtureSampler draws per CPU-second, one thread; {machine}, {os.cpu_count()} CPUs visible, "
          f"numpy {np.__version__}, torch {torch.__version__}; batch={args.batch}")
    emit(f"| domains | weights | quota M/s | quota / 5M target | iid M/s | schedule only M/s | "
         f"{RANKS} ranks: global draws M/s |")
    emit("|---|---|---|---|---|---|---|")
    extras = {}
    for k, size in ((2, 10_000_000), (16, 1_000_000), (1000, 100_000)):
        for prof in ("uniform", "zipf-T3", "dirichlet"):
            r = case(k, prof, size, args.seconds, args.batch, extras=prof == "dirichlet")
            emit(f"| {k} | {prof} | {r['batch_quota'] / 1e6:.2f} | {r['batch_quota'] / TARGET:.2f} | "
                 f"{r['batch_iid'] / 1e6:.2f} | {r['schedule_only'] / 1e6:.2f} | "
                 f"{r['sampler_ranks'] / 1e6:.2f} |", flush=True)
            if "per_item" in r:
                extras[k] = r
    emit()
    emit("| domains (dirichlet) | per-item iteration M/s | set_weights us | set_weights + take(256) us |")
    emit("|---|---|---|---|")
    for k, r in extras.items():
        emit(f"| {k} | {r['per_item'] / 1e6:.2f} | {r['set_weights_us']:.0f} | "
              f"{r['set_weights_take_us']:.0f} |")
    if args.results_page:
        from mixkit.bench.results_page import write_section

        write_section(args.results_page, "sampler-speed", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
