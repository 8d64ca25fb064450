"""Measured evidence for the label-aware methods: small, seeded, CPU-sized experiments.

Parts:

* ``ood``: MixOE (Zhang et al., WACV 2023) for out-of-distribution detection. In-distribution (ID) =
  Fashion-MNIST classes 0-4; held-out OOD test = Fashion-MNIST classes 5-9 (test images); training
  outliers = scikit-learn ``digits`` upsampled to 28x28. Methods: plain CE, outlier exposure (OE), MixOE.
  Metrics: ID top-1, OOD AUROC and FPR at 95% TPR from the maximum softmax probability.
* ``sequence``: language identification on Debian fortunes (en, de, es, it, ru), byte sequences of 64 with
  real lengths; none vs SeqMixUp vs SeqCutMix on the token embeddings. Metrics: top-1, ECE.
* ``decoupled``: MixUp / CutMix with the plain mixed CE vs with ``decoupled_mixup_loss`` (Liu et al.,
  NeurIPS 2023) on a Fashion-MNIST subset. Metrics: top-1, NLL, ECE.
* ``mix3d``: synthetic point-cloud part segmentation; none vs Mix3D (Nekrasov et al., 3DV 2021).
  Metrics: per-point accuracy, mIoU on held-out scenes.

Run: ``mixkit bench --suite label-aware [-- --part all --seeds 0 1]`` (or
``python -m mixkit.bench.studies.label_aware_study``). Prints Markdown tables (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import mixkit
from mixkit.bench.data import load_dataset
from mixkit.bench.data.digits import load_digits
from mixkit.bench.metrics import expected_calibration_error, nll, top1
from mixkit.bench.models import SmallCNN

# ----------------------------------------------------------------------------------------------- helpers


def fmt(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    vals = [v * scale for v in values]
    mean = statistics.fmean(vals)
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def print_table(title: str, columns: list[tuple[str, float, int]], rows: dict[str, dict[str, list[float]]]
                ) -> str:
    """Print and return the Markdown table. ``columns``: (metric key, scale, digits); ``rows``: method ->
    metric -> per-seed values."""
    lines = [f"### {title}", "", "| method | " + " | ".join(c for c, _, _ in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for method, metrics in rows.items():
        lines.append(f"| {method} | " + " | ".join(fmt(metrics[c], s, d) for c, s, d in columns) + " |")
    print("\n" + "\n".join(lines))
    return "\n".join(lines) + "\n"


def batches(n: int, batch_size: int, g: torch.Generator):
    perm = torch.randperm(n, generator=g)
    for i in range(0, n - batch_size + 1, batch_size):  # drop the last partial batch
        yield perm[i:i + batch_size]


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1000, **kw) -> Tensor:
    model.eval()
    out = torch.cat([model(x[i:i + batch_size], **{k: v[i:i + batch_size] for k, v in kw.items()})
                     for i in range(0, x.shape[0], batch_size)])
    model.train()
    return out


def auroc(pos: Tensor, neg: Tensor) -> float:
    """P(score_pos > score_neg) + 0.5 P(tie): ID samples are the positives."""
    scores = torch.cat([pos, neg]).double()
    ranks = torch.empty_like(scores)
    order = scores.argsort()
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=torch.float64)
    # average ranks over ties
    uniq, inv = scores.unique(return_inverse=True)
    sums = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inv, ranks)
    counts = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inv, torch.ones_like(ranks))
    ranks = (sums / counts)[inv]
    n_pos, n_neg = pos.numel(), neg.numel()
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fpr_at_95_tpr(pos: Tensor, neg: Tensor) -> float:
    """Fraction of OOD samples scored at or above the threshold that keeps 95% of ID samples."""
    thr = torch.quantile(pos.double(), 0.05)
    return float((neg.double() >= thr).float().mean())


# ------------------------------------------------------------------------------------------------- ood


def run_ood(seeds: list[int], train_size: int, epochs: int, width: int) -> str:
    fm = load_dataset("fashion-mnist")
    id_train = fm.train_y < 5
    tx, ty = fm.train_x[id_train], fm.train_y[id_train]
    id_test, ood_test = fm.test_y < 5, fm.test_y >= 5
    digits = load_digits()
    out_u8 = torch.cat([digits.train_x, digits.test_x]).float().div_(255)
    outliers_01 = F.interpolate(out_u8, size=(28, 28), mode="bilinear", align_corners=False).clamp_(0, 1)
    x_id_test = fm.normalize(fm.test_x[id_test])
    y_id_test = fm.test_y[id_test]
    x_ood_test = fm.normalize(fm.test_x[ood_test])
    methods = ["none", "oe", "mixoe-mixup", "mixoe-cutmix"]
    rows: dict[str, dict[str, list[float]]] = {m: {"ID top-1 %": [], "AUROC %": [], "FPR@95TPR %": []}
                                               for m in methods}
    bs, beta_oe, beta_mix = 128, 0.5, 1.0
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        pick = torch.randperm(tx.shape[0], generator=g)[:train_size]
        x_train = fm.normalize(tx[pick])
        y_train = ty[pick]
        # normalised with the ID statistics, as the ID data
        x_out = (outliers_01 - fm.mean.view(1, -1, 1, 1)) / fm.std.view(1, -1, 1, 1)
        for method in methods:
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(1000 + seed)
            model = SmallCNN(1, 5, width=width)
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
            steps = epochs * (train_size // bs)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.05, total_steps=steps)
            mixoe = (mixkit.MixOE(alpha=1.0, variant=method.split("-")[1]) if method.startswith("mixoe")
                     else None)
            for _ in range(epochs):
                for idx in batches(train_size, bs, g):
                    xb, yb = x_train[idx], y_train[idx]
                    ob = x_out[torch.randint(0, x_out.shape[0], (bs,), generator=g)]
                    if method == "none":
                        loss = F.cross_entropy(model(xb), yb)
                    elif method == "oe":
                        logits = model(torch.cat([xb, ob]))
                        z_id, z_out = logits[:bs], logits[bs:]
                        uniform_ce = -F.log_softmax(z_out, dim=-1).mean(dim=-1).mean()
                        loss = F.cross_entropy(z_id, yb) + beta_oe * uniform_ce
                    else:
                        mixed = mixoe(xb, yb, ob, generator=g)
                        logits = model(torch.cat([xb, mixed.x]))
                        loss = F.cross_entropy(logits[:bs], yb) + beta_mix * mixed.loss(logits[bs:])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
            z_id = predict(model, x_id_test)
            z_ood = predict(model, x_ood_test)
            s_id, s_ood = z_id.softmax(-1).amax(-1), z_ood.softmax(-1).amax(-1)
            r = rows[method]
            r["ID top-1 %"].append(top1(z_id, y_id_test))
            r["AUROC %"].append(auroc(s_id, s_ood))
            r["FPR@95TPR %"].append(fpr_at_95_tpr(s_id, s_ood))
    return print_table(
        f"OOD detection (ID: Fashion-MNIST 0-4, {train_size} train images, OOD: Fashion-MNIST 5-9 "
        f"test; outliers: sklearn digits; SmallCNN width {width}, {epochs} epochs; seeds {seeds})",
        [("ID top-1 %", 100, 1), ("AUROC %", 100, 1),
         ("FPR@95TPR %", 100, 1)], rows)


# -------------------------------------------------------------------------------------------- sequence

FORTUNES = Path("/usr/share/games/fortunes")
# English topic files only: the top-level folder also holds Italian files (definizioni, italia, leggi, ...)
ENGLISH_TOPICS = ("art", "computers", "cookie", "definitions", "education", "food", "fortunes", "humorists",
                  "kids", "law", "literature", "love", "medicine", "men-women", "miscellaneous", "news",
                  "people", "pets", "platitudes", "politics", "riddles", "science", "songs-poems", "sports",
                  "wisdom", "work")
LANGUAGES = ("en", "de", "es", "it", "ru")


def fortune_records(language: str) -> list[bytes]:
    """``%``-separated records of one language (``.dat``/``.u8`` index files skipped)."""
    from mixkit.bench.text.text_domains import parse_fortune_file

    if language == "en":
        files = [FORTUNES / t for t in ENGLISH_TOPICS if (FORTUNES / t).is_file()]
    else:
        files = sorted(f for f in (FORTUNES / language).iterdir()
                       if f.is_file() and f.suffix not in (".dat", ".u8"))
    return [r for f in files for r in parse_fortune_file(f)]


def language_id_data(per_class_train: int, per_class_test: int, seq_len: int, seed: int
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Byte tensors ``[N, seq_len]`` (0-padded), lengths ``[N]``, labels ``[N]`` for train and test."""
    import random

    out = {"train": ([], [], []), "test": ([], [], [])}
    for k, lang in enumerate(LANGUAGES):
        recs = [" ".join(r.decode("utf-8", "replace").split()).encode() for r in fortune_records(lang)]
        recs = sorted({r for r in recs if len(r) >= 16})
        random.Random(f"{seed}:{lang}").shuffle(recs)
        need = per_class_train + per_class_test
        if len(recs) < need:
            raise RuntimeError(f"{lang}: only {len(recs)} records, need {need}")
        for split, chunk in (("train", recs[:per_class_train]), ("test", recs[per_class_train:need])):
            xs, ls, ys = out[split]
            for r in chunk:
                b = r[:seq_len]
                xs.append(torch.tensor(list(b) + [0] * (seq_len - len(b)), dtype=torch.long))
                ls.append(len(b))
                ys.append(k)
    tr, te = out["train"], out["test"]
    return (torch.stack(tr[0]), torch.tensor(tr[1]), torch.tensor(tr[2]),
            torch.stack(te[0]), torch.tensor(te[1]), torch.tensor(te[2]))


class ByteConvClassifier(nn.Module):
    """Byte embedding ``[B, T] -> [B, T, D]``, 1-D conv over time, padding-aware mean pool, linear."""

    def __init__(self, num_classes: int, dim: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, dim)
        self.conv = nn.Conv1d(dim, hidden, kernel_size=5, padding=2)
        self.fc = nn.Linear(hidden, num_classes)

    def classify(self, e: Tensor, padding_mask: Tensor) -> Tensor:
        """Embeddings ``[B, T, D]`` and padding mask ``[B, T]`` (True on padding) -> logits ``[B, K]``."""
        h = F.relu(self.conv(e.transpose(1, 2)))  # [B, H, T]
        keep = (~padding_mask).unsqueeze(1).to(h.dtype)
        pooled = (h * keep).sum(-1) / keep.sum(-1).clamp_min(1)
        return self.fc(pooled)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        mask = torch.arange(x.shape[1]).view(1, -1) >= lengths.view(-1, 1)
        return self.classify(self.embed(x), mask)


def run_sequence(seeds: list[int], per_class_train: int, epochs: int, seq_len: int = 64) -> str:
    methods = ["none", "SeqMixUp", "SeqCutMix"]
    rows: dict[str, dict[str, list[float]]] = {m: {"top-1 %": [], "ECE %": [], "NLL": []} for m in methods}
    bs = 64
    for seed in seeds:
        xtr, ltr, ytr, xte, lte, yte = language_id_data(per_class_train, 200, seq_len, seed)
        n = xtr.shape[0]
        for method in methods:
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(2000 + seed)
            model = ByteConvClassifier(len(LANGUAGES))
            opt = torch.optim.Adam(model.parameters(), lr=3e-3)
            mixer = {"none": None, "SeqMixUp": mixkit.SeqMixUp(alpha=1.0),
                     "SeqCutMix": mixkit.SeqCutMix(alpha=1.0)}[method]
            for _ in range(epochs):
                for idx in batches(n, bs, g):
                    xb, lb, yb = xtr[idx], ltr[idx], ytr[idx]
                    if mixer is None:
                        loss = F.cross_entropy(model(xb, lb), yb)
                    else:
                        mixed = mixer(model.embed(xb), yb, lengths=lb, generator=g)
                        logits = model.classify(mixed.x, mixed.extras["padding_mask"])
                        loss = mixed.loss(logits)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            z = predict(model, xte, lengths=lte)
            r = rows[method]
            r["top-1 %"].append(top1(z, yte))
            r["ECE %"].append(expected_calibration_error(z, yte).ece)
            r["NLL"].append(nll(z, yte))
    return print_table(
        f"Language ID on Debian fortunes ({', '.join(LANGUAGES)}; {per_class_train} train / 200 test "
        f"records per language, first {seq_len} bytes, real lengths; byte conv classifier, {epochs} "
        f"epochs; seeds {seeds})", [("top-1 %", 100, 1), ("ECE %", 100, 1), ("NLL", 1, 3)], rows)


# ------------------------------------------------------------------------------------------- decoupled


def run_decoupled(seeds: list[int], train_size: int, epochs: int, width: int, eta: float = 0.1) -> str:
    fm = load_dataset("fashion-mnist")
    x_test, y_test = fm.normalize(fm.test_x[:2000]), fm.test_y[:2000]
    methods = ["none", "MixUp", "MixUp + decoupled", "CutMix", "CutMix + decoupled"]
    rows: dict[str, dict[str, list[float]]] = {m: {"top-1 %": [], "NLL": [], "ECE %": []} for m in methods}
    bs = 128
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        pick = torch.randperm(fm.train_x.shape[0], generator=g)[:train_size]
        x_train, y_train = fm.normalize(fm.train_x[pick]), fm.train_y[pick]
        for method in methods:
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(3000 + seed)
            model = SmallCNN(1, 10, width=width)
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.05, total_steps=epochs * (train_size // bs))
            base = method.split(" ")[0]
            mixer = {"none": None, "MixUp": mixkit.MixUp(alpha=1.0), "CutMix": mixkit.CutMix(alpha=1.0)}[base]
            for _ in range(epochs):
                for idx in batches(train_size, bs, g):
                    xb, yb = x_train[idx], y_train[idx]
                    if mixer is None:
                        loss = F.cross_entropy(model(xb), yb)
                    else:
                        mixed = mixer(xb, yb, generator=g)
                        logits = model(mixed.x)
                        loss = (mixkit.sample.losses.decoupled_mixup_loss(logits, mixed, eta=eta)
                                if "decoupled" in method else mixed.loss(logits))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
            z = predict(model, x_test)
            r = rows[method]
            r["top-1 %"].append(top1(z, y_test))
            r["NLL"].append(nll(z, y_test))
            r["ECE %"].append(expected_calibration_error(z, y_test).ece)
    return print_table(
        f"Decoupled Mixup (eta {eta}) on Fashion-MNIST ({train_size} train images, first 2,000 test "
        f"images; SmallCNN width {width}, {epochs} epochs; seeds {seeds})",
        [("top-1 %", 100, 1), ("NLL", 1, 3), ("ECE %", 100, 1)], rows)


# ----------------------------------------------------------------------------------------------- mix3d

PRIMITIVES = ("plane", "sphere", "cube")


def _surface(kind: int, count: int, g: torch.Generator) -> Tensor:
    """``count`` points ``[count, 3]`` on a unit primitive: 0 floor square (z = 0), 1 sphere, 2 cube."""
    if kind == 0:
        p = torch.rand(count, 3, generator=g) * 2 - 1
        p[:, 2] = 0
        return p
    v = torch.randn(count, 3, generator=g)
    if kind == 1:
        return v / v.norm(dim=1, keepdim=True)
    # cube: project onto the face of the largest coordinate
    return v / v.abs().amax(dim=1, keepdim=True)


def make_scenes(count: int, n_points: int, g: torch.Generator, floating: bool = False
                ) -> tuple[Tensor, Tensor]:
    """Scenes ``[count, n_points, 3]`` (centred) with per-point labels ``[count, n_points]``.

    Each scene: a floor square (plane) with 1-2 objects (sphere or cube, random size and place) resting on
    it. ``floating=True`` lifts every object 0.5-1.5 above the floor: the same shapes in a context never seen
    in training (out-of-context objects, the failure Mix3D targets).
    """
    xs, ys = [], []
    for _ in range(count):
        n_obj = int(torch.randint(1, 3, (1,), generator=g))
        n_floor = n_points // 3
        per_obj = [(n_points - n_floor) // n_obj] * n_obj
        per_obj[-1] += n_points - n_floor - sum(per_obj)
        pts = [_surface(0, n_floor, g) * torch.tensor([1.5, 1.5, 1.0])]
        labels = [torch.zeros(n_floor, dtype=torch.long)]
        for k in per_obj:
            kind = int(torch.randint(1, 3, (1,), generator=g))
            size = 0.2 + 0.3 * float(torch.rand(1, generator=g))
            lift = 0.5 + float(torch.rand(1, generator=g)) if floating else 0.0
            centre = torch.cat([torch.rand(2, generator=g) * 2 - 1, torch.tensor([size + lift])])
            pts.append(_surface(kind, k, g) * size + centre)
            labels.append(torch.full((k,), kind, dtype=torch.long))
        p = torch.cat(pts) + 0.01 * torch.randn(n_points, 3, generator=g)
        xs.append(p - p.mean(0))
        ys.append(torch.cat(labels))
    return torch.stack(xs), torch.stack(ys)


class TinyPointNet(nn.Module):
    """Per-point MLP, a global max-pooled scene feature concatenated back, per-point classifier.

    ``[B, N, 3] -> [B, N, K]`` logits; a simplified PointNet segmentation net (no input/feature transforms).
    """

    def __init__(self, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.local = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 2 * hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(4 * hidden, 2 * hidden), nn.ReLU(),
                                  nn.Linear(2 * hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        h = self.local(x)
        glob = h.amax(dim=1, keepdim=True).expand_as(h)
        return self.head(torch.cat([h, glob], dim=-1))


def miou(pred: Tensor, y: Tensor, k: int) -> float:
    ious = []
    for c in range(k):
        inter = ((pred == c) & (y == c)).sum()
        union = ((pred == c) | (y == c)).sum()
        if union > 0:
            ious.append(float(inter) / float(union))
    return sum(ious) / len(ious)


def run_mix3d(seeds: list[int], train_scenes: int, epochs: int, n_points: int = 256) -> str:
    k = len(PRIMITIVES)
    methods = ["none", "Mix3D"]
    cols = ["acc %", "mIoU %", "floating acc %", "floating mIoU %"]
    rows: dict[str, dict[str, list[float]]] = {m: {c: [] for c in cols} for m in methods}
    bs = 16
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        x_tr, y_tr = make_scenes(train_scenes, n_points, g)
        x_te, y_te = make_scenes(200, n_points, g)
        x_fl, y_fl = make_scenes(200, n_points, g, floating=True)
        for method in methods:
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(4000 + seed)
            model = TinyPointNet(k)
            opt = torch.optim.Adam(model.parameters(), lr=2e-3)
            mixer = mixkit.Mix3D() if method == "Mix3D" else None
            for _ in range(epochs):
                for idx in batches(train_scenes, bs, g):
                    xb, yb = x_tr[idx], y_tr[idx]
                    if mixer is not None:
                        out = mixer(xb, yb, generator=g)
                        xb, yb = out.x, out.y
                    loss = F.cross_entropy(model(xb).transpose(1, 2), yb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            model.eval()
            with torch.no_grad():
                for tag, xe, ye in (("", x_te, y_te), ("floating ", x_fl, y_fl)):
                    pred = model(xe).argmax(-1)
                    rows[method][f"{tag}acc %"].append(float((pred == ye).float().mean()))
                    rows[method][f"{tag}mIoU %"].append(miou(pred, ye, k))
    return print_table(
        f"Synthetic point-cloud segmentation (floor + 1-2 spheres/cubes, {n_points} points, classes "
        f"{', '.join(PRIMITIVES)}; {train_scenes} train / 200 held-out scenes; floating = held-out "
        f"scenes with objects lifted off the floor; tiny PointNet, {epochs} epochs; seeds {seeds})",
        [(c, 100, 1) for c in cols], rows)


# ------------------------------------------------------------------------------------------------ main


PARTS: dict[str, Callable[[argparse.Namespace], str]] = {
    "ood": lambda a: run_ood(a.seeds, a.ood_train, a.ood_epochs, a.width),
    "sequence": lambda a: run_sequence(a.seeds, a.seq_train, a.seq_epochs),
    "decoupled": lambda a: run_decoupled(a.seeds, a.dec_train, a.dec_epochs, a.width),
    "mix3d": lambda a: run_mix3d(a.seeds, a.m3_train, a.m3_epochs),
}


def main(argv: list[str] | None = None) -> str:
    """Run the chosen parts (options as on the command line); returns their Markdown tables."""
    p = argparse.ArgumentParser(prog="mixkit bench --suite label-aware --",
                                description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=[*PARTS, "all"], default="all")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--width", type=int, default=8, help="SmallCNN width (image parts)")
    p.add_argument("--ood-train", type=int, default=3000)
    p.add_argument("--ood-epochs", type=int, default=4)
    p.add_argument("--seq-train", type=int, default=800, help="training records per language")
    p.add_argument("--seq-epochs", type=int, default=8)
    p.add_argument("--dec-train", type=int, default=2000)
    p.add_argument("--dec-epochs", type=int, default=4)
    p.add_argument("--m3-train", type=int, default=400, help="training scenes")
    p.add_argument("--m3-epochs", type=int, default=15)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    tables = []
    for name, fn in PARTS.items():
        if a.part in (name, "all"):
            t0 = time.perf_counter()
            tables.append(fn(a))
            print(f"\n({name}: {time.perf_counter() - t0:.0f} s on {a.threads} thread(s))")
    return "\n".join(tables)


if __name__ == "__main__":
    main()
