"""Calibration on a CPU: RankMixup (M-NDCG and MRL) vs MixUp vs no mixing - accuracy, NLL and ECE (15 bins).

Same SmallCNN (``mixkit.bench.models``; ECE and NLL from ``mixkit.bench.metrics``), optimiser, epochs and
seeds for every method; only the training step differs. Datasets: sklearn's bundled ``digits`` (8x8,
default) or a Fashion-MNIST subset (``--dataset fashion``, read from the Debian package's IDX files in
/usr/share/datasets/fashion-mnist).

    mixkit bench --suite calibration [-- --dataset digits|fashion --seeds 3 --epochs 15]
    python -m mixkit.bench.studies.calibration_study [--dataset digits|fashion] [--seeds 3] [--epochs 15]
"""

from __future__ import annotations

import argparse
import gzip
import os
import time

import numpy as np
import torch
from torch import Tensor

import mixkit
from mixkit.bench.metrics import expected_calibration_error, nll
from mixkit.bench.models import SmallCNN
from mixkit.sample import ModelAwareMixer

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def load_digits() -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits as _load

    d = _load()
    return torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0, torch.tensor(d.target)


def _idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(n: int) -> tuple[Tensor, Tensor]:
    x = _idx(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz"))[:n]
    y = _idx(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz"))[:n]
    return torch.tensor(x, dtype=torch.float32).unsqueeze(1) / 255.0, torch.tensor(y, dtype=torch.long)


def run(method: str, data: dict, seed: int, epochs: int, batch_size: int = 64) -> dict[str, float]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x_tr, y_tr = data["train"]
    model = SmallCNN(in_channels=x_tr.shape[1], num_classes=10, width=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = epochs * ((len(x_tr) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
    mixer = {"none": mixkit.NoMix(), "mixup": mixkit.MixUp(alpha=1.0, pairing="permute"),
             "rankmixup_mndcg": mixkit.RankMixup(variant="mndcg"),  # the release's defaults
             "rankmixup_mrl": mixkit.RankMixup(variant="mrl")}[method]
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x_tr), generator=g)
        for s in range(0, len(x_tr), batch_size):
            idx = perm[s:s + batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            if isinstance(mixer, ModelAwareMixer):
                loss = mixer.training_step(model, xb, yb, generator=g).loss
            else:
                out = mixer(xb, yb, generator=g)
                loss = out.loss(model(out.x))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    train_s = time.perf_counter() - t0
    model.eval()
    x_te, y_te = data["test"]
    with torch.no_grad():
        logits = torch.cat([model(x_te[i:i + 512]) for i in range(0, len(x_te), 512)])
    probs = logits.softmax(1)
    return {"acc": float((probs.argmax(1) == y_te).float().mean()) * 100,
            "nll": nll(logits, y_te), "ece": expected_calibration_error(logits, y_te, 15).ece * 100,
            "time": train_s}


def main(argv: list[str] | None = None) -> str:
    """Run the study (options as on the command line); prints and returns the Markdown table."""
    p = argparse.ArgumentParser(prog="mixkit bench --suite calibration --",
                                description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=("digits", "fashion"), default="digits")
    p.add_argument("--fashion-n", type=int, default=6000,
                   help="Fashion-MNIST images used (5/6 train, 1/6 test)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    x, y = load_digits() if a.dataset == "digits" else load_fashion(a.fashion_n)
    methods = ("none", "mixup", "rankmixup_mndcg", "rankmixup_mrl")
    res: dict[str, list[dict]] = {m: [] for m in methods}
    t0 = time.perf_counter()
    for seed in range(a.seeds):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(100 + seed))
        n_te = len(x) // 6 if a.dataset == "fashion" else len(x) * 2 // 5
        data = {"train": (x[perm[n_te:]], y[perm[n_te:]]), "test": (x[perm[:n_te]], y[perm[:n_te]])}
        for m in methods:
            res[m].append(run(m, data, seed, a.epochs))
            r = res[m][-1]
            print(f"  seed {seed} {m}: acc {r['acc']:.2f} nll {r['nll']:.3f} ece {r['ece']:.2f} "
                  f"({r['time']:.1f} s)", flush=True)
    lines = [f"### {a.dataset}: SmallCNN, {a.epochs} epochs, {a.seeds} seeds (mean ± std)", "",
             "| method | top-1 % | NLL | ECE % (15 bins) | train s |", "|---|---|---|---|---|"]
    for m in methods:
        cols = []
        for key, fmt in (("acc", ".2f"), ("nll", ".3f"), ("ece", ".2f"), ("time", ".1f")):
            t = torch.tensor([r[key] for r in res[m]])
            std = float(t.std()) if len(t) > 1 else 0.0
            cols.append(f"{float(t.mean()):{fmt}} ± {std:{fmt}}")
        lines.append(f"| {m} | " + " | ".join(cols) + " |")
    print("\n" + "\n".join(lines))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s, torch {torch.__version__}, threads {a.threads}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
