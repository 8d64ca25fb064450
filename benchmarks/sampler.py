"""Throughput of MixtureSampler: draws per CPU-second on one core, for 2, 16 and 1,000 domains.

Prints, per case: batch-mode draws/s (``take(batch)``, the DataLoader path), the schedule alone
(``QuotaSchedule``), per-item iteration, the cost of ``set_weights``, and the ratio to the target of
5 million draws/s in batch mode. Usage::

    PYTHONPATH=src python benchmarks/sampler.py [--seconds 2] [--batch 65536]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from mixkit.domain.sampler import MixtureSampler, QuotaSchedule, quantize_weights

TARGET = 5e6


def rate(fn, seconds: float) -> float:
    """Counts returned by ``fn`` per second of this process's CPU time, after one warm-up call (CPU time,
    not wall time, so other processes on a shared machine disturb the figure less)."""
    fn()
    n, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        n += fn()
    return n / (time.process_time() - t0)


def case(k: int, size: int, seconds: float, batch: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(k))
    names = [f"d{i}" for i in range(k)]
    sizes = dict.fromkeys(names, size)
    weights = dict(zip(names, w.tolist()))
    out = {}
    for mode in ("quota", "iid"):
        s = MixtureSampler(sizes, weights, mode=mode)
        out[f"batch_{mode}"] = rate(lambda s=s: len(s.take(batch)), seconds)
    q = quantize_weights(w.tolist())
    sched = QuotaSchedule(q)
    out["schedule_only"] = rate(lambda: sched.next(batch).shape[0], seconds)
    s = MixtureSampler(sizes, weights)
    it = iter(s)

    def items() -> int:
        for _ in range(10_000):
            next(it)
        return 10_000

    out["per_item"] = rate(items, seconds)
    s.take(1000)
    other = dict(zip(names, rng.dirichlet(np.ones(k)).tolist()))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    ap.add_argument("--batch", type=int, default=65536, help="draws per take() in batch mode")
    args = ap.parse_args()
    torch.set_num_threads(1)
    machine = platform.processor() or platform.machine()
    print(f"# MixtureSampler throughput per CPU-second, one thread; {machine}, "
          f"{os.cpu_count()} CPUs visible, numpy {np.__version__}, torch {torch.__version__}")
    print(f"# batch={args.batch}; target {TARGET / 1e6:.0f} M draws/s in batch mode (quota)")
    header = ("domains", "quota M/s", "x target", "iid M/s", "schedule M/s", "per-item M/s",
              "set_weights us", "set_weights+take(256) us")
    print(" | ".join(header))
    for k, size in ((2, 10_000_000), (16, 1_000_000), (1000, 100_000)):
        r = case(k, size, args.seconds, args.batch)
        print(" | ".join([f"{k}", f"{r['batch_quota'] / 1e6:.2f}", f"{r['batch_quota'] / TARGET:.2f}",
                          f"{r['batch_iid'] / 1e6:.2f}", f"{r['schedule_only'] / 1e6:.2f}",
                          f"{r['per_item'] / 1e6:.2f}", f"{r['set_weights_us']:.0f}",
                          f"{r['set_weights_take_us']:.0f}"]))


if __name__ == "__main__":
    main()
