"""Time-to-accuracy of per-example selection at equal compute on scikit-learn's ``digits``: RS2 (without
and with replacement) against static subsets of the same size -- random, EL2N-pruned and GraNd-pruned --
and full-data training.

Protocol (after the RS2 paper's comparison): a budget fraction ``r`` gives every method the same number of
SGD steps, ``epochs x ceil(r N / batch)``. RS2 draws a fresh ``r N`` subset each round for ``epochs``
rounds; the static methods train ``epochs`` epochs on one fixed subset of ``r N`` examples. Every method
uses SGD (momentum 0.9, Nesterov, weight decay 5e-4) with a cosine schedule over its own steps (the
reduced budget). EL2N scores come from models trained ``--score-epochs`` epochs on all data, GraNd at
initialisation, each averaged over ``--score-runs`` runs (the paper: 10); their scoring CPU time is part
of their time-to-accuracy. Model: an MLP 64-128-10.

Reports, per budget and method (mean over seeds): final test accuracy, the optimizer steps and the CPU
seconds (``time.process_time``, scoring included) until test accuracy first reaches ``--target``
(evaluated after every round / epoch; ``-`` when never reached).

Run: ``python -m mixkit.bench.studies.selection_study [--seeds 3 --budgets 0.1 0.3]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mixkit.domain.selection import PrunedSampler, RS2Sampler, average_scores, prune_indices

METHODS = ("full", "rs2", "rs2-replace", "random", "el2n", "grand")


def _data(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from mixkit.bench.data.digits import load_digits

    d = load_digits(seed=seed)
    x = d.train_x.float().reshape(d.train_x.shape[0], -1) / 255
    xt = d.test_x.float().reshape(d.test_x.shape[0], -1) / 255
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-3)
    return (x - mu) / sd, d.train_y, (xt - mu) / sd, d.test_y


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _train(model: nn.Module, x: Tensor, y: Tensor, rounds: Callable[[], list[list[int]]], batch: int,
           lr: float, evaluate: Callable[[nn.Module], float] | None = None) -> list[tuple[int, float, float]]:
    """Train on the index lists of ``rounds()`` (one per round), cosine schedule over all their steps;
    returns (steps, cpu seconds, test accuracy) after each round when ``evaluate`` is given."""
    plan = rounds()
    total = sum(math.ceil(len(r) / batch) for r in plan)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
    t0, steps, curve = time.process_time(), 0, []
    for r in plan:
        idx = torch.as_tensor(r)
        for s in range(0, idx.numel(), batch):
            b = idx[s: s + batch]
            loss = nn.functional.cross_entropy(model(x[b]), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            steps += 1
        if evaluate is not None:
            curve.append((steps, time.process_time() - t0, evaluate(model)))
    return curve


def run_one(method: str, budget: float, seed: int, data, epochs: int, batch: int, lr: float,
            score_epochs: int, score_runs: int) -> dict:
    x, y, xt, yt = data
    n = x.shape[0]
    m = max(1, round(budget * n))
    g = torch.Generator().manual_seed(seed)
    score_s = 0.0

    def evaluate(model):
        return _accuracy(model, xt, yt)

    if method == "full":
        sampler = PrunedSampler(torch.arange(n), generator=g)
        rounds_n = max(1, round(epochs * budget))  # same steps: fewer epochs over all data
        plan = lambda: [list(sampler) for _ in range(rounds_n)]  # noqa: E731
    elif method in ("rs2", "rs2-replace"):
        rs2 = RS2Sampler(n, budget, generator=g, replace=method == "rs2-replace")
        plan = lambda: [list(rs2) for _ in range(epochs)]  # noqa: E731
    else:
        t0 = time.process_time()
        if method == "random":
            kept = torch.randperm(n, generator=g)[:m].sort().values
        else:
            def early(model, i):
                sub = PrunedSampler(torch.arange(n), seed=1000 * seed + i)
                _train(model, x, y, lambda: [list(sub) for _ in range(score_epochs)], batch, lr)

            scores = average_scores(lambda i: _mlp(10_000 + 100 * seed + i), x, y,
                                    score=method, runs=score_runs,
                                    train=early if method == "el2n" else None)
            kept = prune_indices(scores, m)
        score_s = time.process_time() - t0
        sub = PrunedSampler(kept, generator=g)
        plan = lambda: [list(sub) for _ in range(epochs)]  # noqa: E731
    curve = _train(_mlp(seed), x, y, plan, batch, lr, evaluate)
    return {"curve": [(s, c + score_s, a) for s, c, a in curve], "final": curve[-1][2], "score_s": score_s}


def main(argv: list[str] | None = None) -> str:
    """Run the study; prints and returns a Markdown table."""
    ap = argparse.ArgumentParser(prog="selection_study", description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.1, 0.3])
    ap.add_argument("--epochs", type=int, default=20, help="rounds (RS2) / epochs (static subsets)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--target", type=float, default=0.9, help="test accuracy of the time-to-accuracy")
    ap.add_argument("--score-epochs", type=int, default=2, help="EL2N: epochs of training before scoring")
    ap.add_argument("--score-runs", type=int, default=4, help="runs averaged per score (paper: 10)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = _data()
    lines = [f"digits ({data[0].shape[0]} train / {data[2].shape[0]} test), MLP 64-128-10, {args.epochs} "
             f"rounds or epochs per budget, batch {args.batch}, {args.seeds} seeds; time to "
             f"{args.target:.0%} test accuracy in optimizer steps and CPU seconds (scoring included)",
             "| budget | method | steps | final accuracy | steps to target | CPU s to target "
             "| scoring CPU s |",
             "|---|---|---|---|---|---|---|"]
    for budget in args.budgets:
        for method in args.methods:
            res = [run_one(method, budget, s, data, args.epochs, args.batch, args.lr, args.score_epochs,
                           args.score_runs) for s in range(args.seeds)]
            finals = [r["final"] for r in res]
            hits = [next(((s, c) for s, c, a in r["curve"] if a >= args.target), None) for r in res]
            reached = [h for h in hits if h is not None]
            steps = res[0]["curve"][-1][0]
            tta = (f"{statistics.fmean(h[0] for h in reached):.0f} ({len(reached)}/{len(res)})"
                   if reached else "-")
            cpu = f"{statistics.fmean(h[1] for h in reached):.2f}" if reached else "-"
            sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
            lines.append(f"| {budget:g} | {method} | {steps} | {statistics.fmean(finals):.3f} ± {sd:.3f} | "
                         f"{tta} | {cpu} | {statistics.fmean(r['score_s'] for r in res):.2f} |")
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    main()
