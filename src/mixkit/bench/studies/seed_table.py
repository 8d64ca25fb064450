"""One Markdown table for a study measured over seeds: each method's mean +- sd and its paired difference
to a baseline method (same seeds) with a 95 % Student-t interval and a better / worse / within-noise
verdict (:func:`mixkit.bench.sample_report.paired_difference`)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from mixkit.bench.sample_report import paired_difference


def seed_table(rows: Sequence[dict[str, Any]], metric: str, baseline: str, *, higher_is_better: bool = True,
               pairs: dict[str, str] | None = None, digits: int = 4) -> str:
    """``rows``: ``{"method", "seed", metric, ...}``; ``baseline``: the method every other one is compared
    with, or per method through ``pairs`` (``{method: its baseline}``). The verdict reads the difference in
    the direction of ``higher_is_better``."""
    by: dict[str, dict[int, float]] = {}
    for r in rows:
        by.setdefault(r["method"], {})[int(r["seed"])] = float(r[metric])
    lines = [f"| method | {metric} (mean +- sd) | seeds | vs baseline (95 % interval) | verdict |",
             "|---|---|---|---|---|"]
    for method, vals in by.items():
        v = list(vals.values())
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        base = (pairs or {}).get(method, baseline)
        if method == base or base not in by:
            diff, verdict = "baseline", ""
        else:
            d = paired_difference(vals, by[base])
            verdict = d["verdict"]
            if not higher_is_better and verdict in ("better", "worse"):
                verdict = "worse" if verdict == "better" else "better"
            diff = (f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}] vs {base}"
                    if d["n"] >= 2 else f"{d['mean']:+.{digits}f} vs {base}")
        mean = statistics.fmean(v)
        lines.append(f"| {method} | {mean:.{digits}f} +- {sd:.{digits}f} | {len(v)} | {diff} | {verdict} |")
    return "\n".join(lines)
