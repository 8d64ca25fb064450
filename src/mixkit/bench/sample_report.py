"""Benchmark reports: aggregate runs over seeds, write ``results.json`` and ``table.md``, draw PNG plots
(accuracy and loss curves, reliability diagrams, a bar chart of the final table) and the mixed-sample
gallery. Plotting uses matplotlib's non-interactive Agg backend."""

from __future__ import annotations

import json
import math
import statistics
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .metrics import CORRUPTIONS


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def t_quantile(df: int, q: float = 0.975) -> float:
    """Quantile ``q`` of Student's t with ``df`` degrees of freedom (scipy)."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    from scipy.stats import t

    return float(t.ppf(q, df))


def paired_difference(values: dict[int, float], baseline: dict[int, float], level: float = 0.95
                      ) -> dict[str, Any]:
    """Paired difference ``method - baseline`` over the seeds both have (``{seed: value}`` each).

    Returns ``mean``, the two-sided ``level`` Student-t interval ``low``/``high`` over seeds (``nan`` with
    fewer than 2 seeds), ``n`` and ``verdict``: ``better`` when the whole interval is above 0, ``worse`` when
    below, ``within noise`` when it holds 0, ``n/a`` with fewer than 2 paired seeds.
    """
    seeds = sorted(set(values) & set(baseline))
    d = [values[s] - baseline[s] for s in seeds]
    out: dict[str, Any] = {"n": len(d), "mean": statistics.fmean(d) if d else math.nan,
                           "low": math.nan, "high": math.nan, "verdict": "n/a"}
    if len(d) >= 2:
        half = t_quantile(len(d) - 1, 0.5 + level / 2) * statistics.stdev(d) / math.sqrt(len(d))
        out["low"], out["high"] = out["mean"] - half, out["mean"] + half
        out["verdict"] = "better" if out["low"] > 0 else ("worse" if out["high"] < 0 else "within noise")
    return out


def aggregate(results: Sequence[dict[str, Any]], methods: Sequence[str]) -> list[dict[str, Any]]:
    """One row per method (in ``methods`` order): status, seeds, and ``(mean, std)`` of every metric; with a
    ``none`` row, ``paired`` holds the per-seed paired top-1 difference to it (see :func:`paired_difference`).
    """
    rows = []
    for m in methods:
        runs = [r for r in results if r["method"] == m]
        ok = [r for r in runs if r.get("status") == "ok"]
        row: dict[str, Any] = {"method": m, "seeds": [r["seed"] for r in ok]}
        if not ok:
            bad = next((r for r in runs if r.get("status") != "ok"), None)
            row["status"] = bad.get("status", "missing") if bad else "missing"
            row["reason"] = bad.get("reason", "") if bad else "no runs"
            rows.append(row)
            continue
        row["status"] = "ok"
        failed = [r for r in runs if r.get("status") != "ok"]
        if failed:
            row["reason"] = f"{len(failed)} of {len(runs)} seeds failed: {failed[0].get('reason', '')}"
        row["model_aware"] = any(r.get("model_aware") for r in ok)
        for k in ("top1", "nll", "ece", "corruption_top1", "epoch_time", "mixer_share"):
            row[k] = _mean_std([r["metrics"][k] for r in ok])
        row["train_top1"] = _mean_std([r["metrics"].get("train_top1", math.nan) for r in ok])
        row["corruption"] = {c: _mean_std([r["metrics"]["corruption"][c] for r in ok]) for c in CORRUPTIONS}
        row["per_seed_top1"] = {int(r["seed"]): r["metrics"]["top1"] for r in ok}
        rows.append(row)
    base = next((r for r in rows if r["method"] == "none" and r["status"] == "ok"), None)
    for r in rows:
        if base is not None and r["status"] == "ok":
            r["delta_top1"] = r["top1"][0] - base["top1"][0]
            r["time_vs_none"] = r["epoch_time"][0] / base["epoch_time"][0]
            r["paired"] = paired_difference(r["per_seed_top1"], base["per_seed_top1"])
    return rows


def _pm(ms: tuple[float, float], scale: float = 1.0, digits: int = 2) -> str:
    m, s = ms
    if not math.isfinite(m):
        return "n/a"
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"


def markdown_table(rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The final table (mean ± std over seeds), best top-1 first, then skipped / failed methods."""
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: -r["top1"][0])
    lines = [
        f"# mixkit bench: {meta['dataset']} ({meta['suite']} suite)",
        "",
        f"model `{meta['model']}`, {meta['epochs']} epochs, seeds {meta['seeds']}, "
        f"{meta['train_size']} training / "
        f"{meta['test_size']} test images, batch {meta['batch_size']}, SGD lr {meta['lr']}, augmentation "
        f"{'crop+flip' if meta['augment'] else 'none'}; device {meta['device']} ({meta['machine']}).",
        "",
        "| method | top-1 % | train top-1 % | Δ vs none (95 % CI over seeds) | verdict | NLL | ECE % "
        "| corrupted top-1 % | s / epoch | × none time | mixer share % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ok:
        delta, verdict = _paired_cell(r)
        tvn = f"{r['time_vs_none']:.2f}" if "time_vs_none" in r else "n/a"
        share = _pm(r["mixer_share"], 100, 1) + (" *" if r.get("model_aware") else "")
        train = _pm(r["train_top1"], 100) if "train_top1" in r else "n/a"
        lines.append(f"| {r['method']} | {_pm(r['top1'], 100)} | {train} | {delta} | {verdict} | "
                     f"{_pm(r['nll'], 1, 3)} | "
                     f"{_pm(r['ece'], 100)} | {_pm(r['corruption_top1'], 100)} | "
                     f"{_pm(r['epoch_time'], 1, 1)} | "
                     f"{tvn} | {share} |")
    lines += ["", "Train top-1: accuracy on the clean training images at the end (>= 99 % = the baseline has "
              "fitted its training set). Δ vs none: mean over seeds of the paired difference to no mixing "
              "with the same seed, with its 95 % Student-t interval; the verdict is `better` / `worse` when "
              "the interval excludes 0, else `within noise` (`n/a` with one seed).",
              "Corrupted top-1 is the mean over " + ", ".join(CORRUPTIONS)
              + " (fixed severities and seeds).",
              "Mixer share: time inside the mixer call / epoch time; `*` = model-aware method, whose share "
              "includes its own forward passes (its `training_step`)."]
    if ok:
        lines += ["", "Per corruption (top-1 %):", "",
                  "| method | " + " | ".join(CORRUPTIONS) + " |", "|---|" + "---|" * len(CORRUPTIONS)]
        for r in ok:
            cells = " | ".join(_pm(r["corruption"][c], 100, 1) for c in CORRUPTIONS)
            lines.append(f"| {r['method']} | {cells} |")
    published = published_ordering(ok)
    if published:
        lines += ["", "Ordering against the published one (OpenMixup, CIFAR-100, ResNet-18, 200 epochs; each "
                  "method's own alpha there, the registry defaults here):", "", published.rstrip("\n")]
    notok = [r for r in rows if r["status"] != "ok" or r.get("reason")]
    if notok:
        lines += ["", "Not in the table / partially failed:", ""]
        lines += [f"- `{r['method']}`: {r['status']}: {r.get('reason', '')}" for r in notok]
    return "\n".join(lines) + "\n"


def published_ordering(rows: Sequence[dict[str, Any]], min_common: int = 5) -> str:
    """The published-ordering table (:func:`mixkit.bench.published.ordering_table`) for the ``ok`` rows, or
    ``""`` when fewer than ``min_common`` methods are in both."""
    from .published import OPENMIXUP_CIFAR100_R18, ordering_table

    ours = {r["method"]: r["top1"][0] for r in rows if r.get("status") == "ok"}
    if sum(m in ours for m in OPENMIXUP_CIFAR100_R18) < min_common:
        return ""
    return ordering_table(ours, epochs=200, label="this run")[0]


def _paired_cell(r: dict[str, Any]) -> tuple[str, str]:
    p = r.get("paired")
    if p is None:
        return ("n/a", "n/a")
    if r["method"] == "none":
        return ("+0.00", "baseline")
    if not math.isfinite(p["low"]):
        return (f"{p['mean'] * 100:+.2f}", p["verdict"])
    return (f"{p['mean'] * 100:+.2f} [{p['low'] * 100:+.2f}, {p['high'] * 100:+.2f}]", p["verdict"])


def write_json(path: Path, meta: dict[str, Any], rows: Sequence[dict[str, Any]],
               results: Sequence[dict[str, Any]]) -> None:
    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o

    path.write_text(json.dumps(clean({"meta": meta, "table": list(rows), "runs": list(results)}), indent=1))


# ---------------------------------------------------------------------------------------------- plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _styles(n: int) -> list[dict[str, Any]]:
    plt = _plt()
    cmap = plt.get_cmap("tab20")
    return [{"color": cmap(i % 20), "linestyle": ("-", "--", ":", "-.")[(i // 10) % 4]} for i in range(n)]


def plot_curves(results: Sequence[dict[str, Any]], methods: Sequence[str], path: Path) -> None:
    """Test top-1, test NLL and training loss per epoch (mean over seeds) for every method."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    for style, m in zip(_styles(len(methods)), methods):
        ok = [r for r in results if r["method"] == m and r.get("status") == "ok"]
        if not ok:
            continue
        for ax, key, scale in zip(axes, ("test_top1", "test_nll", "train_loss"), (100, 1, 1)):
            curves = torch.tensor([r["curves"][key] for r in ok], dtype=torch.float64) * scale
            ep = list(range(1, curves.shape[1] + 1))
            if key != "train_loss" and ok[0]["curves"].get("eval_epoch"):  # evaluated every few epochs
                ep = list(ok[0]["curves"]["eval_epoch"])
            ax.plot(ep, curves.mean(0).tolist(), label=m, marker="o", markersize=3, **style)
            if curves.shape[0] > 1:
                ax.fill_between(ep, curves.min(0).values.tolist(), curves.max(0).values.tolist(), alpha=0.08,
                                color=style["color"])
    for ax, title in zip(axes, ("test top-1 (%)", "test NLL", "training loss (mixed targets)")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7, loc="upper right", ncol=2)
    fig.suptitle("Learning curves (mean over seeds; band: min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(rows: Sequence[dict[str, Any]], results: Sequence[dict[str, Any]], path: Path) -> None:
    """Reliability diagram per method: accuracy vs confidence in 15 bins (pooled over seeds)."""
    plt = _plt()
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return
    cols = min(5, len(ok))
    nrows = math.ceil(len(ok) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.1 * cols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[len(ok):]:
        ax.axis("off")
    for ax, row in zip(axes.flat, ok):
        runs = [r for r in results if r["method"] == row["method"] and r.get("status") == "ok"]
        counts = torch.tensor([r["reliability"]["counts"] for r in runs], dtype=torch.float64)
        conf, acc = (_bins(runs, key) for key in ("confidence", "accuracy"))
        n = counts.sum(0)
        nb = n.numel()
        centers = (torch.arange(nb, dtype=torch.float64) + 0.5) / nb
        mean_acc = torch.where(n > 0, (acc * counts).sum(0) / n.clamp_min(1), torch.zeros_like(n))
        # empty bins draw no bar
        mean_conf = torch.where(n > 0, (conf * counts).sum(0) / n.clamp_min(1), torch.zeros_like(n))
        centers, mean_acc, mean_conf = centers.tolist(), mean_acc.tolist(), mean_conf.tolist()
        gap = [c - a for c, a in zip(mean_conf, mean_acc)]
        ax.bar(centers, mean_acc, width=1 / nb, edgecolor="black", linewidth=0.4, color="#4c72b0",
               label="accuracy")
        ax.bar(centers, gap, bottom=mean_acc, width=1 / nb, color="#dd8452", alpha=0.45,
               label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{row['method']}\nECE {row['ece'][0] * 100:.2f}%", fontsize=9)
        ax.set_xlabel("confidence", fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Reliability diagrams (15 bins, test set, pooled over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bins(runs: Sequence[dict[str, Any]], key: str) -> torch.Tensor:
    """``[seeds, bins]`` float64 of a reliability field; empty bins (NaN, or None after JSON) become 0."""
    rows = [[math.nan if v is None else v for v in r["reliability"][key]] for r in runs]
    return torch.tensor(rows, dtype=torch.float64).nan_to_num(0)


def plot_final_bars(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Horizontal bars of clean and corrupted top-1 (mean ± std over seeds), best clean top-1 on top."""
    plt = _plt()
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: r["top1"][0])
    if not ok:
        return
    fig, axes = plt.subplots(1, 3, figsize=(16, 0.38 * len(ok) + 1.8), sharey=True)
    y = torch.arange(len(ok)).tolist()
    names = [r["method"] for r in ok]
    specs = (("top1", "clean top-1 (%)", 100, "#4c72b0"),
             ("corruption_top1", "corrupted top-1 (%)", 100, "#dd8452"),
             ("ece", "ECE (%) — lower is better", 100, "#55a868"))
    for ax, (key, title, scale, color) in zip(axes, specs):
        mean = [r[key][0] * scale for r in ok]
        std = [r[key][1] * scale for r in ok]
        ax.barh(y, mean, xerr=std, color=color, alpha=0.85, capsize=2)
        lo, hi = min(m - s for m, s in zip(mean, std)), max(m + s for m, s in zip(mean, std))
        pad = max(0.5, (hi - lo) * 0.15)
        ax.set_xlim(max(0.0, lo - pad), hi + pad)
        for yi, m, sd in zip(y, mean, std):
            ax.text(m + sd, yi, f" {m:.1f}", va="center", fontsize=7)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        base = next((r for r in ok if r["method"] == "none"), None)
        if base is not None:
            ax.axvline(base[key][0] * scale, color="black", linestyle=":", linewidth=1)
    axes[0].set_yticks(y, names, fontsize=8)
    fig.suptitle("Final results (mean ± std over seeds; dotted line: no mixing)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gallery(galleries: Sequence[tuple[str, dict[str, Any] | None]], path: Path,
                 class_names: Sequence[str] = ()) -> None:
    """Grid of mixed samples: first row the originals, then one row per method (``lam`` of the own label
    above each image, partner's class in the corner). ``galleries``: (method, mixed_samples dict)."""
    plt = _plt()
    galleries = [(m, g) for m, g in galleries if g is not None]
    if not galleries:
        return
    first = galleries[0][1]
    orig = first["original"]
    n = orig.shape[0]
    rows = len(galleries) + 1
    cell, label_w, top_h = 1.05, 1.9, 0.45
    width, height = label_w + cell * n, top_h + (cell + 0.22) * rows
    fig, axes = plt.subplots(rows, n, figsize=(width, height), squeeze=False,
                             gridspec_kw={"left": label_w / width, "right": 0.995, "bottom": 0.005,
                                          "top": 1 - top_h / height, "wspace": 0.04, "hspace": 0.28})
    gray = orig.shape[1] == 1

    def show(ax, img):
        img = (img.float() / 255).numpy()
        if gray:
            ax.imshow(img[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])

    labels = first["labels"]
    name_of = lambda k: (class_names[int(k)] if int(k) < len(class_names) else str(int(k)))[:10]
    for j in range(n):
        show(axes[0, j], orig[j])
        axes[0, j].set_title(name_of(labels[j]), fontsize=7)
    axes[0, 0].set_ylabel("original", fontsize=9, rotation=0, ha="right", va="center")
    for i, (method, g) in enumerate(galleries, start=1):
        note = g.get("note") if g.get("mixed") is not None else ""
        label = f"{method}\n" + "\n".join(textwrap.wrap(f"({note})", 24)) if note else method
        axes[i, 0].set_ylabel(label, fontsize=9 if "\n" not in label else 7, rotation=0, ha="right",
                              va="center")
        if g.get("mixed") is None:
            for j in range(n):
                axes[i, j].axis("off")
            axes[i, n // 2].text(0.5, 0.5, g.get("note", "no image"), ha="center", va="center", fontsize=8,
                                 transform=axes[i, n // 2].transAxes)
            axes[i, 0].axis("on")
            axes[i, 0].set_xticks([])
            axes[i, 0].set_yticks([])
            for side in axes[i, 0].spines.values():
                side.set_visible(False)
            continue
        for j in range(n):
            show(axes[i, j], g["mixed"][j])
            partner = int(g["index"][j])
            axes[i, j].set_title(f"λ={float(g['lam'][j]):.2f} +{name_of(labels[partner])[:7]}", fontsize=7)
    fig.suptitle("Mixed training samples (λ: weight of the image's own label; + partner's class)",
                 fontsize=10, y=1 - 0.12 / height)
    fig.savefig(path, dpi=110)
    plt.close(fig)
