"""Published top-1 accuracies of sample-mixing methods on a common protocol, and how our ordering compares.

Source: OpenMixup's CIFAR benchmark page (Li et al., "OpenMixup: A Comprehensive Mixup Benchmark for Visual
Classification", https://arxiv.org/abs/2209.04851; release github.com/Westlake-AI/openmixup, file
``docs/en/mixup_benchmarks/Mixup_cifar.md`` at commit ``cb53749977834e69840c8f6a7022efea7b4951b6``):
CIFAR-100, CIFAR-version ResNet-18, the CutMix training settings, median top-1 of the last 10 epochs, every
method with its own Beta alpha (the alpha column of that table). The numbers below are transcribed from the
table (200- and 800-epoch columns), keyed by mixkit's registry names. "AttentiveMix+" in that table uses a
pre-trained ResNet as the attention source and ``Beta(alpha, 8)``; mixkit's ``attentivemix`` is the
original AttentiveMix, so that row compares related but not identical methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["OPENMIXUP_CIFAR100_R18", "SOURCE", "ordering_table", "rank", "spearman"]

SOURCE = {
    "repository": "Westlake-AI/openmixup",
    "file": "docs/en/mixup_benchmarks/Mixup_cifar.md",
    "commit": "cb53749977834e69840c8f6a7022efea7b4951b6",
    "table": "CIFAR-100, ResNet-18 (CIFAR version), median top-1 of the last 10 epochs",
}

# method -> {epochs: top-1 %}
OPENMIXUP_CIFAR100_R18: dict[str, dict[int, float]] = {
    "none": {200: 76.42, 800: 78.04},
    "mixup": {200: 78.52, 800: 79.12},
    "cutmix": {200: 79.45, 800: 78.17},
    "manifoldmixup": {200: 79.18, 800: 80.35},
    "smoothmix": {200: 77.90, 800: 78.69},
    "saliencymix": {200: 79.75, 800: 79.12},
    "attentivemix": {200: 79.62, 800: 78.91},
    "fmix": {200: 78.91, 800: 79.69},
    "puzzlemix": {200: 79.96, 800: 81.13},
    "gridmix": {200: 78.23, 800: 78.72},
    "resizemix": {200: 79.56, 800: 80.01},
    "automix": {200: 80.12, 800: 82.04},
}


def rank(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of ``values`` from the largest (rank 1) down; ties get their average rank."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson correlation of the (tie-averaged) ranks; ``nan`` below 3 pairs."""
    if len(a) != len(b):
        raise ValueError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    if len(a) < 3:
        return math.nan
    ra, rb = rank(a), rank(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else math.nan


def ordering_table(ours: Mapping[str, float], epochs: int = 200,
                   published: Mapping[str, Mapping[int, float]] = OPENMIXUP_CIFAR100_R18,
                   label: str = "ours") -> tuple[str, dict[str, Any]]:
    """Markdown table of the published top-1 and rank next to ours (``ours``: method -> top-1 in [0, 1]) for
    the methods in both, with Spearman's rho; returns the Markdown and a summary dict (``rho``, ``n``,
    ``methods``, per-method ranks)."""
    common = [m for m in published if m in ours and epochs in published[m]]
    pub = [published[m][epochs] for m in common]
    our = [100 * float(ours[m]) for m in common]
    rp, ro = rank(pub), rank(our)
    rho = spearman(pub, our)
    lines = [f"| method | OpenMixup CIFAR-100 R-18 {epochs} ep top-1 % | rank | {label} top-1 % | rank |",
             "|---|---|---|---|---|"]
    for i in sorted(range(len(common)), key=lambda i: rp[i]):
        lines.append(f"| {common[i]} | {pub[i]:.2f} | {rp[i]:g} | {our[i]:.2f} | {ro[i]:g} |")
    rho_text = "n/a" if math.isnan(rho) else f"{rho:+.2f}"
    lines += ["", f"Spearman rank correlation over {len(common)} methods: {rho_text}. Source: "
              f"{SOURCE['repository']} `{SOURCE['file']}` at commit `{SOURCE['commit'][:12]}` "
              f"({SOURCE['table']})."]
    summary = {"rho": rho, "n": len(common), "methods": common,
               "published_rank": dict(zip(common, rp)), "our_rank": dict(zip(common, ro))}
    return "\n".join(lines) + "\n", summary
