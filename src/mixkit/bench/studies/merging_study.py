"""Mixture estimation by merging on the reference text workload: how well the loss of a mixture-weighted
parameter average of per-domain proxies ranks candidate mixtures, against real proxy runs on them.

Protocol (the paper's continued-pretraining setting, shrunk): a seed byte GPT is trained ``--seed-steps``
steps on the uniform mixture of the six domains. From it, one proxy per domain (partition) is trained
``--steps`` steps on that domain alone, and one real proxy per candidate mixture (``--candidates`` draws
from a Dirichlet over the domains) is trained ``--steps`` steps on the mixture. Each candidate is scored
by (a) its real proxy's target loss (mean held-out loss over the domains), (b) the merging estimator: the
target loss of the mixture-weighted average of the partition proxies' parameters, and (c) a baseline
without merging: the mixture-weighted average of the partition proxies' losses. Reports the Spearman
correlation of (b) and (c) with (a), and the proxy training steps each needs.

Run: ``python -m mixkit.bench.studies.merging_study [--candidates 12 --steps 100]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from mixkit.domain.search.merging import MergingEstimator, spearman


def _train(model, data, weights, steps: int, batch: int, lr: float, seed: int) -> None:
    from mixkit.bench.text.workload import make_sampler

    names = data.names
    sampler = make_sampler(data.sizes(), weights, seed, batch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))
        draw = sampler.take(batch)
        ids, idx = torch.from_numpy(draw.domain_ids), torch.from_numpy(draw.indices)
        chunks = torch.empty(batch, data.seq_len + 1, dtype=torch.int64)
        for k, name in enumerate(names):
            rows = (ids == k).nonzero().squeeze(1)
            if rows.numel():
                chunks[rows] = data.gather(name, idx[rows])
        loss = model.token_losses(chunks).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main(argv: list[str] | None = None) -> str:
    """Run the study; prints and returns the Markdown table."""
    from mixkit.bench.text.byte_gpt import ByteGPT, ByteGPTConfig
    from mixkit.bench.text.text_sources import DEFAULT_SOURCES, load_sources
    from mixkit.bench.text.workload import evaluate

    ap = argparse.ArgumentParser(prog="merging_study", description=__doc__.split("\n")[0])
    ap.add_argument("--candidates", type=int, default=12)
    ap.add_argument("--seed-steps", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--alpha", type=float, default=1.0, help="Dirichlet concentration of the candidates")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = load_sources(DEFAULT_SOURCES, 64, 1_000_000)
    names = data.names
    cfg = ByteGPTConfig(seq_len=64, d_model=64, n_layer=2, n_head=4)
    torch.manual_seed(args.seed)
    seed_model = ByteGPT(cfg)
    t0 = time.process_time()
    _train(seed_model, data, {n: 1.0 for n in names}, args.seed_steps, args.batch, args.lr, args.seed)
    seed_state = {k: v.clone() for k, v in seed_model.state_dict().items()}

    def continued(weights, seed):
        m = ByteGPT(cfg)
        m.load_state_dict(seed_state)
        _train(m, data, weights, args.steps, args.batch, args.lr, seed)
        return m

    def target_loss(model) -> float:
        return statistics.fmean(evaluate(model, data, 48).values())

    def evaluate_state(state) -> float:
        m = ByteGPT(cfg)
        m.load_state_dict(state)
        return target_loss(m)

    t1 = time.process_time()
    partitions = {n: continued({n: 1.0}, args.seed + 1 + i).state_dict() for i, n in enumerate(names)}
    part_s = time.process_time() - t1
    part_loss = {n: evaluate_state(s) for n, s in partitions.items()}
    dirichlet = torch.distributions.Dirichlet(torch.full((len(names),), args.alpha))
    torch.manual_seed(args.seed + 1000)
    cands = [dict(zip(names, dirichlet.sample().tolist())) for _ in range(args.candidates)]
    t2 = time.process_time()
    real = [target_loss(continued(c, args.seed + 100 + j)) for j, c in enumerate(cands)]
    real_s = time.process_time() - t2
    est = MergingEstimator(partitions, evaluate_state)
    t3 = time.process_time()
    merged = est.score(cands)
    merged_s = time.process_time() - t3
    loss_avg = [sum(c[n] * part_loss[n] for n in names) for c in cands]
    rho_m, rho_l = spearman(merged, real), spearman(loss_avg, real)
    top_real = min(range(len(real)), key=real.__getitem__)
    top_m = min(range(len(merged)), key=merged.__getitem__)
    lines = [
        f"{len(names)} partitions ({', '.join(names)}), {args.candidates} Dirichlet({args.alpha:g}) "
        f"candidate mixtures; seed model {args.seed_steps} steps, every proxy {args.steps} steps of batch "
        f"{args.batch}",
        "| scorer | Spearman with real proxy runs | proxy training steps | CPU s "
        "| best candidate's real loss |",
        "|---|---|---|---|---|",
        f"| real proxy runs | 1.000 | {args.candidates * args.steps} | {real_s:.1f} | {real[top_real]:.4f} |",
        f"| merged partition proxies | {rho_m:.3f} | {len(names) * args.steps} | {part_s + merged_s:.1f} "
        f"(training {part_s:.1f} + {args.candidates} merges {merged_s:.1f}) | {real[top_m]:.4f} |",
        f"| weighted partition losses (no merging) | {rho_l:.3f} | {len(names) * args.steps} | "
        f"{part_s:.1f} | {real[min(range(len(loss_avg)), key=loss_avg.__getitem__)]:.4f} |",
        f"proxy training saved by merging: {1 - len(names) / args.candidates:.0%} of the steps for "
        f"{args.candidates} candidates (every further candidate costs one merge and one evaluation); "
        f"real target losses span {min(real):.4f}..{max(real):.4f}; seed model {t1 - t0:.1f} CPU s",
    ]
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    main()
