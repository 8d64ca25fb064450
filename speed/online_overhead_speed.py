"""Per-update cost of each online method, and of the sampler's set_weights, as a ratio of one training step
of the reference byte GPT (0.14M parameters, batch 16 x 64 bytes, 1 thread). Gradient methods are timed on
gradients of the model's size and run every 10 steps (their default), so their per-step share is /10.

Run: python speed/online_overhead_speed.py [--results-page docs/results.md]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch

from mixkit.bench.text import ByteGPT
from mixkit.domain import MixtureSampler
from mixkit.domain.online import DGA, ODM, Aioli, DoReMi, RnB


def timeit(fn, n: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def _update(method, counter, kwargs):
    return method.update(next(counter), **kwargs)


def _resample(sampler, weights, counter):
    sampler.set_weights(weights[next(counter) % len(weights)])
    return sampler.take(16)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results-page", metavar="PATH",
                   help="also write the table into this Markdown page (e.g. docs/results.md) under section "
                        "'online-overhead'")
    args = p.parse_args(argv)
    lines: list[str] = []

    def emit(line: str = "", **kwargs) -> None:
        print(line, **kwargs)
        lines.append(line)

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ByteGPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = torch.randint(0, 256, (16, 65))

    def train_step():
        opt.zero_grad()
        model.token_losses(batch).mean().backward()
        opt.step()

    step_s = timeit(train_step, 20)
    d = sum(p.numel() for p in model.parameters())
    emit(f"training step: {step_s * 1e3:.2f} ms ({d} parameters)")
    emit("| method | K | update ms | share of a step (per step) |")
    emit("|---|---|---|---|")
    for k in (6, 32):
        names = [f"d{i}" for i in range(k)]
        losses = {n: float(v) for n, v in zip(names, torch.rand(k) * 3 + 1)}
        grads = {n: torch.randn(d) for n in [*names, "__target__"]}  # DGA: whole-model gradients
        # R&B reads the output layer's gradient of each domain from the training step itself
        domain_grads = {n: torch.randn(model.head.weight.numel()) for n in names}
        cases = {
            "doremi": (DoReMi(names), "losses", 1),
            "odm": (ODM(names), "losses", 1),
            "aioli (window)": (Aioli(names, estimator="window", window=60, update_every=20), "losses", 1),
            "dga": (DGA(names, target="__target__"), "grads", 10),
            "rnb": (RnB(names), "domain_grads", 1),
        }
        for name, (method, signal, every) in cases.items():
            counter = iter(range(10**9))  # Aioli refits its window every 20 calls: count real steps
            kwargs = {"losses": {"losses_by_domain": losses}, "grads": {"grads_by_domain": grads},
                      "domain_grads": {"grads_by_domain": domain_grads}}[signal]
            s = timeit(partial(_update, method, counter, kwargs), 40)
            emit(f"| {name} | {k} | {s * 1e3:.3f} | {s / every / step_s:.2%} |")
        sampler = MixtureSampler({n: 10_000 for n in names}, {n: 1.0 for n in names}, seed=0, block_size=256)
        w = [{n: 1.0 + (i + j) % 3 for j, n in enumerate(names)} for i in range(3)]
        s = timeit(partial(_resample, sampler, w, iter(range(10**9))), 40)
        emit(f"| sampler set_weights + take(16), block 256 | {k} | {s * 1e3:.3f} | {s / step_s:.2%} |")
    if args.results_page:
        from mixkit.bench.results_page import write_section

        write_section(args.results_page, "online-overhead", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
