"""FLAD bandits (EXP3-FLAD, UCB1-FLAD) on the reference text workload, and their update cost against the
number of auxiliary datasets.

* ``cost``: CPU seconds (``time.process_time``) of one bandit update for ``K`` = 10, 100, 1,000 auxiliary
  datasets, with ``--drawn`` arms drawn per update and ``--dim``-dimensional gradients; DGA, which needs
  the gradient of every domain at each update, for comparison. Also the number of gradients the training
  loop must compute per update (FLAD: the drawn arms plus the target; DGA: all ``K`` plus the target).
* ``target``: few-shot target = ``--target`` fortunes with ``--shots`` training chunks (64 bytes);
  auxiliary = the other five domains. Every step trains on one auxiliary batch (arm chosen by the method)
  plus one target batch, as the release does; ``target-only`` trains on the target batch alone. Reports the
  target's held-out loss (nats/byte) after ``--steps`` steps and the share of batches per arm.

Run: ``python -m mixkit.bench.studies.flad_study [--part all --seeds 2]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import Tensor

from mixkit.domain.online import DGA, EXP3FLAD, UCB1FLAD

TARGET_METHODS = ("target-only", "uniform", "exp3-flad", "ucb1-flad")


def cost_table(ks: list[int], dim: int, drawn: int, repeats: int) -> str:
    """Median CPU seconds per update of each method for each number of auxiliary datasets."""
    torch.set_num_threads(1)
    lines = [f"update cost: {dim}-dim gradients, {drawn} arms drawn per update, median of {repeats} "
             "updates (CPU seconds per update, process time)",
             "| K | EXP3-FLAD | UCB1-FLAD | DGA (all K gradients) | gradients per update FLAD / DGA |",
             "|---|---|---|---|---|"]
    g = torch.Generator().manual_seed(0)
    for k in ks:
        names = [f"aux{i}" for i in range(k)]
        row = []
        for cls in (EXP3FLAD, UCB1FLAD, DGA):
            method = cls(names, target="target") if cls is not DGA else DGA(names, target="target", every=1)
            times = []
            for r in range(repeats):
                if cls is DGA:
                    grads = {n: torch.randn(dim, generator=g) for n in names}
                else:
                    arms = torch.randperm(k, generator=g)[:drawn].tolist()
                    grads = {names[a]: torch.randn(dim, generator=g) for a in arms}
                grads["target"] = torch.randn(dim, generator=g)
                t0 = time.process_time()
                method.update(r, grads_by_domain=grads)
                times.append(time.process_time() - t0)
            row.append(statistics.median(times))
        lines.append(f"| {k} | {row[0]:.2e} | {row[1]:.2e} | {row[2]:.2e} | {drawn + 1} / {k + 1} |")
    return "\n".join(lines)


def _flat(grads: tuple[Tensor | None, ...], params: list[Tensor]) -> Tensor:
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                      for g, p in zip(grads, params)])


def run_target(method: str, seed: int, data, target: str, shots: int, steps: int, batch: int,
               lr: float) -> dict:
    """One run; returns the target's held-out loss and the share of auxiliary batches per arm."""
    from mixkit.bench.text.byte_gpt import ByteGPT, ByteGPTConfig

    aux = [n for n in data.names if n != target]
    g = torch.Generator().manual_seed(seed)
    shot_idx = torch.randperm(data.sizes()[target], generator=torch.Generator().manual_seed(99))[:shots]
    torch.manual_seed(seed)
    model = ByteGPT(ByteGPTConfig(seq_len=data.seq_len, d_model=64, n_layer=2, n_head=4))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    bandit = {"exp3-flad": lambda: EXP3FLAD(aux, target="target"),
              "ucb1-flad": lambda: UCB1FLAD(aux, target="target")}.get(method, lambda: None)()
    counts = dict.fromkeys(aux, 0)
    warmup = max(1, steps // 15)
    for step in range(steps):
        scale = (step + 1) / warmup if step < warmup else 0.1 + 0.9 * 0.5 * (
            1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        tb = data.gather(target, shot_idx[torch.randint(shots, (batch,), generator=g)])
        g_t = _flat(torch.autograd.grad(model.token_losses(tb).mean(), params), params)
        total = g_t
        if method != "target-only":
            if bandit is None:
                arm = aux[int(torch.randint(len(aux), (1,), generator=g))]
            else:
                arm = bandit.next_domain(g)
            counts[arm] += 1
            ab = data.gather(arm, torch.randint(data.sizes()[arm], (batch,), generator=g))
            g_a = _flat(torch.autograd.grad(model.token_losses(ab).mean(), params), params)
            total = g_t + g_a
            if bandit is not None:
                bandit.update(step, grads_by_domain={arm: g_a, "target": g_t})
        offset = 0
        for p in params:
            p.grad = total[offset: offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        opt.step()
    with torch.no_grad():
        model.eval()
        loss = float(model.token_losses(data.val_batch(target, 48)).mean())
    used = sum(counts.values()) or 1
    return {"loss": loss, "share": {a: c / used for a, c in counts.items()}}


def target_table(seeds: int, target: str, shots: int, steps: int, batch: int, lr: float) -> str:
    from mixkit.bench.text.text_sources import DEFAULT_SOURCES, load_sources

    torch.set_num_threads(1)
    data = load_sources(DEFAULT_SOURCES, 64, 1_000_000)
    aux = [n for n in data.names if n != target]
    lines = [f"few-shot target '{target}' ({shots} chunks of 64 bytes), auxiliary {aux}, {steps} steps of "
             f"batch {batch}, {seeds} seeds: target held-out loss (nats/byte, lower is better)",
             "| method | target loss | batches per arm |", "|---|---|---|"]
    for method in TARGET_METHODS:
        res = [run_target(method, s, data, target, shots, steps, batch, lr) for s in range(seeds)]
        losses = [r["loss"] for r in res]
        sd = statistics.stdev(losses) if len(losses) > 1 else 0.0
        share = {a: statistics.fmean(r["share"][a] for r in res) for a in res[0]["share"]}
        arms = ", ".join(f"{a} {v:.2f}" for a, v in share.items()) if method != "target-only" else "-"
        lines.append(f"| {method} | {statistics.fmean(losses):.4f} ± {sd:.4f} | {arms} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Run the study; prints and returns the Markdown tables."""
    ap = argparse.ArgumentParser(prog="flad_study", description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("all", "cost", "target"), default="all")
    ap.add_argument("--ks", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--dim", type=int, default=20_000)
    ap.add_argument("--drawn", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--target", default="it")
    ap.add_argument("--shots", type=int, default=32)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args(argv)
    parts = []
    if args.part in ("all", "cost"):
        parts.append(cost_table(args.ks, args.dim, args.drawn, args.repeats))
    if args.part in ("all", "target"):
        parts.append(target_table(args.seeds, args.target, args.shots, args.steps, args.batch, args.lr))
    out = "\n\n".join(parts)
    print(out)
    return out


if __name__ == "__main__":
    main()
