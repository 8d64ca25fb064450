"""Regression mixup on a CPU: no mixing vs MixUp vs C-Mixup vs RegMix-style kNN mixup (test RMSE, seeds).

Datasets: sklearn's bundled ``diabetes`` (442 patients, 10 features) and a synthetic set with a known function
(``y = sin(3 x0) + x1^2 - 0.5 x2 + 0.1 noise``, 8 features of which 5 are distractors). Same MLP, optimiser,
epochs and seeds for every method; only the mixer differs. Hyper-parameters that a method needs (C-Mixup's
bandwidth, the kNN mixer's per-example k) are chosen on a validation split with the training data of that
seed, as the papers do. Targets are standardised for training; RMSE is reported in original target units.

    mixkit bench --suite regression [-- --seeds 5 --epochs 60 --quick]
    python -m mixkit.bench.studies.regression_study [--seeds 5] [--epochs 60] [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor, nn

import mixkit
from mixkit.sample import select_knn_k


def load_diabetes() -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_diabetes as _load

    data = _load()
    return torch.tensor(data.data, dtype=torch.float32), torch.tensor(data.target, dtype=torch.float32)


def make_synthetic(n: int = 600, seed: int = 1234) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 8, generator=g) * 2 - 1
    y = torch.sin(3 * x[:, 0]) + x[:, 1] ** 2 - 0.5 * x[:, 2] + 0.1 * torch.randn(n, generator=g)
    return x, y


def split(x: Tensor, y: Tensor, seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    """60 / 20 / 20 train / val / test, standardised with training statistics."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    n_tr, n_va = int(0.6 * len(x)), int(0.2 * len(x))
    parts = {"train": perm[:n_tr], "val": perm[n_tr:n_tr + n_va], "test": perm[n_tr + n_va:]}
    xm, xs = x[parts["train"]].mean(0), x[parts["train"]].std(0).clamp_min(1e-6)
    return {k: ((x[i] - xm) / xs, y[i]) for k, i in parts.items()}


def mlp(d_in: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def train_eval(data: dict, mixer, seed: int, epochs: int, k_table: Tensor | None = None,
               eval_on: str = "test", batch_size: int = 64) -> float:
    """Train a fresh MLP with ``mixer`` (or none) and return RMSE (original units) on ``eval_on``."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x_tr, y_tr = data["train"]
    ym, ys = y_tr.mean(), y_tr.std()
    z_tr = ((y_tr - ym) / ys).view(-1, 1)
    model = mlp(x_tr.shape[1])
    if isinstance(mixer, mixkit.CMixup):  # the release samples partners from the whole training set
        mixer.attach(x_tr, z_tr)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    n = len(x_tr)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            xb, yb = x_tr[idx], z_tr[idx]
            if mixer is not None and len(idx) > 1:
                kw = {} if k_table is None else {"k": k_table[idx]}
                out = mixer(xb, yb, generator=g, **kw)
                xb, yb = out.x, out.mix_targets()
            loss = nn.functional.mse_loss(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    x_ev, y_ev = data[eval_on]
    with torch.no_grad():
        pred = model(x_ev).squeeze(1) * ys + ym
    return float(torch.sqrt(((pred - y_ev) ** 2).mean()))


def run_dataset(name: str, x: Tensor, y: Tensor, seeds: int, epochs: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {m: [] for m in ("none", "mixup", "cmixup", "regmix_knn")}
    chosen: dict[str, list] = {"bandwidth": [], "k": []}
    for seed in range(seeds):
        data = split(x, y, seed)
        results["none"].append(train_eval(data, None, seed, epochs))
        results["mixup"].append(train_eval(data, mixkit.MixUp(alpha=2.0, pairing="permute"), seed, epochs))
        # C-Mixup: bandwidth (in standardised target units) chosen on validation
        bws = (0.1, 0.5, 2.0)
        val = [train_eval(data, mixkit.CMixup(alpha=2.0, bandwidth=b), seed, epochs, eval_on="val")
               for b in bws]
        bw = bws[min(range(len(bws)), key=val.__getitem__)]
        chosen["bandwidth"].append(bw)
        results["cmixup"].append(train_eval(data, mixkit.CMixup(alpha=2.0, bandwidth=bw), seed, epochs))
        # RegMix-style kNN: per-example k chosen on validation (groups: targets below / above the median)
        knn = mixkit.RegMixKNN(alpha=2.0, space="x")
        y_train = data["train"][1]
        groups = (y_train > y_train.median()).long()
        k_table = select_knn_k(lambda t, d=data, s=seed, m=knn: train_eval(d, m, s, epochs, k_table=t,
                                                                           eval_on="val"),
                               len(y_train), candidates=(2, 8), groups=groups)
        chosen["k"].append(sorted(set(k_table.tolist())))
        results["regmix_knn"].append(train_eval(data, knn, seed, epochs, k_table=k_table))
        print(f"  {name} seed {seed}: " + ", ".join(f"{m}={v[-1]:.3f}" for m, v in results.items()),
              flush=True)
    print(f"  {name}: chosen C-Mixup bandwidths {chosen['bandwidth']}, kNN k values {chosen['k']}")
    return results


def table(name: str, results: dict[str, list[float]]) -> str:
    base = float(torch.tensor(results["none"]).mean())  # same arithmetic as the rows below
    lines = [f"### {name} (test RMSE, mean ± std over {len(results['none'])} seeds; lower is better)", "",
             "| method | RMSE | vs none |", "|---|---|---|"]
    for m, v in results.items():
        t = torch.tensor(v)
        mean, std = float(t.mean()), float(t.std()) if len(v) > 1 else 0.0
        lines.append(f"| {m} | {mean:.3f} ± {std:.3f} | {100 * (mean - base) / base:+.1f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Run the study (options as on the command line); prints and returns the Markdown tables."""
    p = argparse.ArgumentParser(prog="mixkit bench --suite regression --", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--quick", action="store_true", help="2 seeds, 20 epochs (smoke run)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    seeds, epochs = (2, 20) if a.quick else (a.seeds, a.epochs)
    t0 = time.perf_counter()
    out = []
    for name, (x, y) in (("diabetes", load_diabetes()), ("synthetic", make_synthetic())):
        out.append(table(name, run_dataset(name, x, y, seeds, epochs)))
    print()
    print("\n\n".join(out))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s, torch {torch.__version__}, threads {a.threads}, "
          f"epochs {epochs}, seeds {seeds}")
    return "\n\n".join(out) + "\n"


if __name__ == "__main__":
    main()
