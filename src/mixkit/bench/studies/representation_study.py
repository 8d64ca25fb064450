"""Representation-learning mixers on a CPU: MoCHi (linear-probe accuracy), Metrix (Recall@1), SupReMix (RMSE).

Each study is deliberately small (a two-layer MLP, a few hundred steps, sklearn's bundled data or a synthetic
set) so it runs in seconds per seed; it compares a method with the same recipe without it, nothing more.

* :func:`contrastive_study`: MoCo-v2-style training on the 8x8 digits (two views: random one-pixel shift
  and pixel noise), momentum encoder and queue; with and without MoCHi's synthetic hard negatives; a
  logistic-regression probe on the frozen features, test accuracy.
* :func:`metric_study`: an embedding trained on digit classes 0-4 and evaluated on the unseen classes 5-9
  (Recall@1 over all their images); contrastive and multi-similarity losses, each with and without
  Metrix's embedding mixtures.
* :func:`regression_study`: an encoder pre-trained with the weighted supervised contrastive regression loss
  (SupReMix's baseline) or SupReMix on a synthetic regression set with targets on a 0.1 grid; a ridge probe
  on the frozen features, test RMSE (also an end-to-end L1 regressor for reference).

    python -m mixkit.bench.studies.representation_study [--seeds 3] [--study contrastive metric regression]
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mixkit.sample.losses.metrix import (
    metrix_embedding_loss,
    mixed_contrastive_loss,
    mixed_multi_similarity_loss,
)
from mixkit.sample.losses.mochi import mochi_loss
from mixkit.sample.losses.supremix import supremix_loss

__all__ = ["contrastive_study", "metric_study", "recall_at_1", "regression_study"]


def _digits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from mixkit.bench.data.digits import load_digits

    d = load_digits()
    f = lambda x: x.float().div(255).flatten(1)  # noqa: E731
    return f(d.train_x), d.train_y, f(d.test_x), d.test_y


def _mlp(d_in: int, d_out: int, hidden: int = 128) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, d_out))


def _view(x: Tensor, g: torch.Generator) -> Tensor:
    """A random one-pixel shift of the 8x8 digit plus pixel noise (the two-view augmentation)."""
    img = x.view(-1, 8, 8)
    n = img.shape[0]
    dy, dx = torch.randint(-1, 2, (2, n), generator=g)
    rows = (torch.arange(8)[None] - dy[:, None]).clamp(0, 7)
    cols = (torch.arange(8)[None] - dx[:, None]).clamp(0, 7)
    shifted = img[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return (shifted + 0.1 * torch.randn(shifted.shape, generator=g)).flatten(1)


def _probe_accuracy(feats: Tensor, y: Tensor, test_feats: Tensor, test_y: Tensor) -> float:
    from sklearn.linear_model import LogisticRegression

    mu, sd = feats.mean(0), feats.std(0) + 1e-6
    clf = LogisticRegression(max_iter=2000)
    clf.fit(((feats - mu) / sd).numpy(), y.numpy())
    return float(clf.score(((test_feats - mu) / sd).numpy(), test_y.numpy()))


def contrastive_study(seeds: tuple[int, ...] = (0, 1, 2), steps: int = 400, batch: int = 128,
                      queue_size: int = 1024, n_hard: int = 128, s: int = 128, s_prime: int = 32
                      ) -> list[dict[str, Any]]:
    """MoCo with and without MoCHi on the digits: linear-probe test accuracy per seed."""
    x, y, tx, ty = _digits()
    rows = []
    for seed in seeds:
        for method in ("moco", "mochi"):
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(seed)
            q_enc = _mlp(64, 32)
            k_enc = copy.deepcopy(q_enc).requires_grad_(False)
            opt = torch.optim.Adam(q_enc.parameters(), lr=2e-3)
            queue = F.normalize(torch.randn(queue_size, 32, generator=g), dim=1)
            ptr = 0
            cpu0 = time.process_time()
            for step in range(steps):
                idx = torch.randint(x.shape[0], (batch,), generator=g)
                q = F.normalize(q_enc(_view(x[idx], g)), dim=1)
                with torch.no_grad():
                    k = F.normalize(k_enc(_view(x[idx], g)), dim=1)
                warm = method == "mochi" and step >= steps // 10    # the paper mixes after a warm-up
                loss = mochi_loss(q, k, queue, temperature=0.2, n_hard=n_hard, s=s if warm else 0,
                                  s_prime=s_prime if warm else 0, generator=g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    for pk, pq in zip(k_enc.parameters(), q_enc.parameters()):
                        pk.lerp_(pq, 0.01)                            # momentum 0.99
                    queue[ptr:ptr + batch] = k[: queue_size - ptr]
                    ptr = (ptr + batch) % queue_size
            with torch.no_grad():
                trunk = q_enc[:-1]                                    # the layer before the projection
                acc = _probe_accuracy(trunk(x), y, trunk(tx), ty)
            rows.append({"study": "contrastive", "method": method, "seed": seed, "linear_probe_acc": acc,
                         "cpu_seconds": time.process_time() - cpu0})
    return rows


def recall_at_1(emb: Tensor, labels: Tensor) -> float:
    """Fraction of rows whose nearest other row (cosine) shares its label."""
    e = F.normalize(emb, dim=1)
    sim = e @ e.T
    sim.fill_diagonal_(-2.0)
    return float((labels[sim.argmax(1)] == labels).float().mean())


def metric_study(seeds: tuple[int, ...] = (0, 1, 2), steps: int = 400, per_class: int = 12
                 ) -> list[dict[str, Any]]:
    """Embeddings trained on digits 0-4, Recall@1 on the unseen digits 5-9 (train and test images)."""
    x, y, tx, ty = _digits()
    seen = y < 5
    xs, ys = x[seen], y[seen]
    unseen_x = torch.cat([x[~seen], tx[ty >= 5]])
    unseen_y = torch.cat([y[~seen], ty[ty >= 5]])
    by_class = [torch.nonzero(ys == c).flatten() for c in range(5)]
    rows = []
    for seed in seeds:
        for method in ("contrastive", "metrix_contrastive", "multi_similarity", "metrix_multi_similarity"):
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(seed)
            net = _mlp(64, 32)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            cpu0 = time.process_time()
            loss_name = "contrastive" if method.endswith("contrastive") else "multi_similarity"
            for _ in range(steps):
                idx = torch.cat([c[torch.randint(len(c), (per_class,), generator=g)] for c in by_class])
                emb, lab = net(_view(xs[idx], g)), ys[idx]
                if method.startswith("metrix"):
                    loss = metrix_embedding_loss(emb, lab, loss=loss_name, generator=g)
                else:
                    n = lab.shape[0]
                    a, b = torch.nonzero(~torch.eye(n, dtype=torch.bool), as_tuple=True)
                    v = (lab[a] == lab[b]).float()
                    loss = (mixed_contrastive_loss(emb[a], emb[b], v) if loss_name == "contrastive"
                            else mixed_multi_similarity_loss(emb[a], emb[b], v, a))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                r1 = recall_at_1(net(unseen_x), unseen_y)
            rows.append({"study": "metric", "method": method, "seed": seed, "recall_at_1": r1,
                         "cpu_seconds": time.process_time() - cpu0})
    return rows


def _synthetic_regression(n: int = 1200, seed: int = 1234) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 8, generator=g) * 2 - 1
    y = torch.sin(3 * x[:, 0]) + x[:, 1] ** 2 - 0.5 * x[:, 2] + 0.05 * torch.randn(n, generator=g)
    return x, torch.round(y * 10) / 10          # targets on a 0.1 grid, as ages are on a 1-year grid


def _ridge_rmse(f: Tensor, y: Tensor, tf: Tensor, ty: Tensor, reg: float = 1e-3) -> float:
    a = torch.cat([f, torch.ones(f.shape[0], 1)], 1).double()
    w = torch.linalg.solve(a.T @ a + reg * torch.eye(a.shape[1], dtype=torch.float64), a.T @ y.double())
    pred = torch.cat([tf, torch.ones(tf.shape[0], 1)], 1).double() @ w
    return float(((pred - ty.double()) ** 2).mean().sqrt())


def regression_study(seeds: tuple[int, ...] = (0, 1, 2), steps: int = 300, batch: int = 32
                     ) -> list[dict[str, Any]]:
    """Weighted SupCon-for-regression vs SupReMix pre-training (ridge probe), and an L1 regressor: test
    RMSE."""
    x, y = _synthetic_regression()
    n_train = 900
    rows = []
    for seed in seeds:
        perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
        tr, te = perm[:n_train], perm[n_train:]
        for method in ("l1_regression", "supcon", "supremix"):
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(seed)
            net = _mlp(8, 32 if method != "l1_regression" else 1, hidden=64)
            opt = torch.optim.Adam(net.parameters(), lr=2e-3)
            cpu0 = time.process_time()
            for _ in range(steps):
                idx = tr[torch.randint(n_train, (batch,), generator=g)]
                xb, yb = x[idx], y[idx]
                if method == "l1_regression":
                    loss = F.l1_loss(net(xb).squeeze(1), yb)
                else:
                    views = torch.stack([xb + 0.05 * torch.randn(xb.shape, generator=g) for _ in range(2)], 1)
                    feats = F.normalize(net(views.flatten(0, 1)).view(batch, 2, -1), dim=-1)
                    on = method == "supremix"
                    loss = supremix_loss(feats, torch.round(yb * 10), temperature=0.3, window=5.0,
                                         mix_negatives=on, mix_positives=on, generator=g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                if method == "l1_regression":
                    rmse = float(((net(x[te]).squeeze(1) - y[te]) ** 2).mean().sqrt())
                else:
                    trunk = net[:-1]
                    rmse = _ridge_rmse(trunk(x[tr]), y[tr], trunk(x[te]), y[te])
            rows.append({"study": "regression", "method": method, "seed": seed, "rmse": rmse,
                         "cpu_seconds": time.process_time() - cpu0})
    return rows


def _summary(rows: list[dict[str, Any]], metric: str) -> list[str]:
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        vals = torch.tensor([r[metric] for r in rows if r["method"] == method], dtype=torch.float64)
        sd = float(vals.std()) if vals.numel() > 1 else 0.0
        out.append(f"  {method:<26} {metric} {float(vals.mean()):.4f} +- {sd:.4f}  (n={vals.numel()})")
    return out


def main(argv: list[str] | None = None) -> str:
    """Run the studies; prints and returns one Markdown table per study."""
    from .seed_table import seed_table

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds")
    parser.add_argument("--study", nargs="+", default=["contrastive", "metric", "regression"],
                        choices=["contrastive", "metric", "regression"], help="which studies to run")
    args = parser.parse_args(argv)
    seeds = tuple(range(args.seeds))
    runs = {"contrastive": (contrastive_study, "linear_probe_acc", "moco", True, None),
            "metric": (metric_study, "recall_at_1", "contrastive", True,
                       {"metrix_multi_similarity": "multi_similarity"}),
            "regression": (regression_study, "rmse", "l1_regression", False, {"supremix": "supcon"})}
    parts = []
    for name in args.study:
        fn, metric, base, higher, pairs = runs[name]
        rows = fn(seeds)
        parts.append(f"{name}:\n\n" + seed_table(rows, metric, base, higher_is_better=higher, pairs=pairs))
    text = "\n\n".join(parts)
    print(text)
    return text


if __name__ == "__main__":
    main()
