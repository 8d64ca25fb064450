"""Outputs of the text-domain evidence (``mixkit mixture search|train``,
``mixkit bench --suite text-domains``): ``results.json``, ``table.md`` and PNG plots in a run folder."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def run_folder(root: str | Path, name: str) -> Path:
    """``root/name/<UTC timestamp>/``, created."""
    folder = Path(root) / name / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (tensors/arrays as lists, dataclasses via ``to_json``)."""
    def default(o):
        if hasattr(o, "tolist"):
            return o.tolist()
        if hasattr(o, "to_json"):
            return o.to_json()
        return str(o)

    path.write_text(json.dumps(obj, indent=1, default=default))


def mean_std(values: Sequence[float]) -> str:
    """``"mean ± std"`` (or the single value) with 4 decimals."""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def comparison_table(
    results: Mapping[str, Sequence[Mapping[str, Any]]], domains: Sequence[str], baseline: str = "uniform"
) -> str:
    """Markdown table: one row per method, mean ± std over seeds of target and per-domain val loss, the
    difference to ``baseline`` in target loss, wall time and the method's own share of it."""
    head = ["method", "seeds", "target", f"Δ vs {baseline}", *domains, "wall s", "method s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = results.get(baseline)
    base_mean = statistics.fmean(r["target_loss"] for r in base) if base else math.nan
    for method, runs in results.items():
        targets = [r["target_loss"] for r in runs]
        delta = statistics.fmean(targets) - base_mean
        row = [method, str(len(runs)), mean_std(targets), f"{delta:+.4f}" if math.isfinite(delta) else "n/a"]
        row += [mean_std([r["val_loss"][d] for r in runs]) for d in domains]
        row += [
            f"{statistics.fmean(r['wall_s'] for r in runs):.1f}",
            f"{statistics.fmean(r['method_s'] for r in runs):.2f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def search_table(
    report: Mapping[str, Any], names: Sequence[str], regressors: Sequence[str], header: str = ""
) -> str:
    """Markdown of a mixture search (a :func:`mixkit.bench.mixture_search.run_search` report): the
    recommended mixture per regressor with its held-out Spearman, the best observed run, and the held-out
    Spearman against the number of proxy runs, per arm."""
    lines = [
        header,
        "| regressor | held-out Spearman | predicted target | " + " | ".join(names) + " |",
        "|" + "---|" * (3 + len(names)),
    ]
    for reg, b in report["best"].items():
        lines.append(
            f"| {reg} | {b['spearman']:.3f} | {b['predicted']:.4f} | "
            + " | ".join(f"{b['mixture'][n]:.3f}" for n in names)
            + " |"
        )
    bo = report["best_observed"]
    lines.append(
        f"| best observed run ({bo['arm']}) | - | {bo['metric']:.4f} (actual) | "
        + " | ".join(f"{bo['mixture'][n]:.3f}" for n in names)
        + " |"
    )
    lines += [
        "",
        "Held-out Spearman vs proxy runs used:",
        "",
        "| arm | runs | " + " | ".join(regressors) + " |",
        "|" + "---|" * (2 + len(regressors)),
    ]
    for arm, pts in report["curve"].items():
        for p in pts:
            lines.append(f"| {arm} | {p['n_runs']} | " + " | ".join(f"{p[r]:.3f}" for r in regressors) + " |")
    return "\n".join(lines) + "\n"


def plot_weights_and_losses(
    results: Mapping[str, Sequence[Mapping[str, Any]]], domains: Sequence[str], folder: Path
) -> list[str]:
    """``weights.png`` (weights over training, first seed of each method) and ``losses.png``
    (training loss per domain over steps). Returns the written file names; silently writes nothing if
    matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    methods = list(results)
    for kind, key in (("weights", "weights_history"), ("losses", "train_loss_history")):
        cols = min(4, len(methods))
        rows = math.ceil(len(methods) / cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharey=kind == "weights"
        )
        for ax, method in zip(axes.flat, methods):
            hist = results[method][0][key]
            for d in domains:
                pts = [(s, v[d]) for s, v in hist if d in v]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], label=d)
            ax.set_title(method)
            ax.set_xlabel("step")
            ax.set_ylabel("weight" if kind == "weights" else "train loss (nats/byte)")
        for ax in list(axes.flat)[len(methods) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / f"{kind}.png", dpi=80)
        plt.close(fig)
        written.append(f"{kind}.png")
    return written


def plot_search_curve(curve: Mapping[str, Sequence[Mapping[str, Any]]], folder: Path) -> list[str]:
    """``correlation.png``: held-out Spearman vs number of proxy runs, per arm and regressor."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for arm, points in curve.items():
        for reg in [k for k in points[0] if k != "n_runs"]:
            ax.plot(
                [p["n_runs"] for p in points],
                [p[reg] for p in points],
                marker="o",
                linestyle="-" if arm == "active" else "--",
                label=f"{arm} / {reg}",
            )
    ax.set_xlabel("proxy runs used for fitting")
    ax.set_ylabel("Spearman on held-out runs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "correlation.png", dpi=80)
    plt.close(fig)
    return ["correlation.png"]
