"""Per-update cost of each online method, and of the sampler's set_weights, as a ratio of one training step
of the reference byte GPT (0.14M parameters, batch 16 x 64 bytes, 1 thread). Gradient methods are timed on
gradients of the model's size and run every 10 steps (their default), so their per-step share is /10.

Run: PYTHONPATH=src python benchmarks/domain_online_overhead.py
"""

from __future__ import annotations

import time
from functools import partial

import torch

from mixkit.domain.online import DGA, ODM, Aioli, DoReMi, RnB
from mixkit.domain.reference.byte_gpt import ByteGPT
from mixkit.domain.sampler import MixtureSampler


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


def main() -> None:
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
    print(f"training step: {step_s * 1e3:.2f} ms ({d} parameters)")
    print("| method | K | update ms | share of a step (per step) |")
    print("|---|---|---|---|")
    for k in (6, 32):
        names = [f"d{i}" for i in range(k)]
        losses = {n: float(v) for n, v in zip(names, torch.rand(k) * 3 + 1)}
        grads = {n: torch.randn(d) for n in names} | {"__target__": torch.randn(d)}
        cases = {
            "doremi": (DoReMi(names), "losses", 1),
            "odm": (ODM(names), "losses", 1),
            "aioli (window)": (Aioli(names, window=60, update_every=20), "losses", 1),
            "dga": (DGA(names, target="__target__"), "grads", 10),
            "rnb": (RnB(names), "grads", 10),
        }
        for name, (method, signal, every) in cases.items():
            counter = iter(range(10**9))  # Aioli refits its window every 20 calls: count real steps
            kwargs = {"losses_by_domain": losses} if signal == "losses" else {"grads_by_domain": grads}
            s = timeit(partial(_update, method, counter, kwargs), 40)
            print(f"| {name} | {k} | {s * 1e3:.3f} | {s / every / step_s:.2%} |")
        sampler = MixtureSampler({n: 10_000 for n in names}, {n: 1.0 for n in names}, seed=0, block_size=256)
        w = [{n: 1.0 + (i + j) % 3 for j, n in enumerate(names)} for i in range(3)]
        s = timeit(partial(_resample, sampler, w, iter(range(10**9))), 40)
        print(f"| sampler set_weights + take(16), block 256 | {k} | {s * 1e3:.3f} | {s / step_s:.2%} |")


if __name__ == "__main__":
    main()
