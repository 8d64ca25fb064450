"""Active (uncertainty-driven, mixkit's own) vs random (RegMix as released) proposals on a known noisy
mixing law.

Prints the mean held-out Spearman over seeds after each round, per arm and regressor (gbt: LightGBM with
the release's settings, or scikit-learn's histogram boosting without it; loglinear: mixkit's), and the true
loss of each regressor's recommendation (mean of the 128 best of ``--candidates`` Dirichlet(token prior)
draws, as released) relative to the true optimum. The proxy runs are a :class:`SyntheticLaw`.

Run: ``mixkit bench --suite regmix-active [-- --seeds 5 --domains 8]`` (or
``python -m mixkit.bench.studies.regmix_active_study``).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from mixkit.bench.mixture_search import run_search
from mixkit.bench.synthetic_law import SyntheticLaw
from mixkit.domain.search import repetition_caps


def main(argv: list[str] | None = None) -> str:
    """Run the study (options as on the command line); prints and returns the Markdown table."""
    ap = argparse.ArgumentParser(prog="mixkit bench --suite regmix-active --",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--domains", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.03)
    ap.add_argument("--initial", type=int, default=40, help="LightGBM, as released, splits from 40 runs")
    ap.add_argument("--active", type=int, default=32)
    ap.add_argument("--candidates", type=int, default=20_000,
                    help="candidates scored for each recommendation (the release scores 100000)")
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    curves: dict[tuple[str, str, int], list[float]] = {}
    gaps: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        names = tuple(f"d{i}" for i in range(args.domains))
        sizes = {n: int(s) for n, s in zip(names, rng.integers(200, 5000, args.domains))}
        law = SyntheticLaw(names, tuple(rng.normal(0, 1, args.domains).round(3)), noise=args.noise)
        total = 3000.0
        rep = run_search(
            law,
            sizes,
            total,
            n_initial=args.initial,
            n_active=args.active,
            batch=args.batch,
            n_holdout=40,
            compare_random=True,
            seed=seed,
            n_candidates=args.candidates,
        )
        for arm, pts in rep["curve"].items():
            for p in pts:
                for reg in ("gbt", "loglinear"):
                    curves.setdefault((arm, reg, p["n_runs"]), []).append(p[reg])
        opt = law.optimum(list(repetition_caps(sizes, total, 4.0).values()))
        clean = SyntheticLaw(names, law.t)
        for reg, b in rep["best"].items():
            gaps.setdefault(reg, []).append(clean(b["mixture"]) - clean(opt))
    gbt = rep["regressors"]["gbt"]
    lines = [f"{args.seeds} seeds, {args.domains} domains, noise {args.noise}: "
             f"mean held-out Spearman (40 runs); gbt = {gbt['model']} ({gbt['library']} {gbt['version']})",
             "| runs | active gbt | random gbt | active loglinear | random loglinear |",
             "|---|---|---|---|---|"]
    for n in sorted({k[2] for k in curves}):
        row = [
            statistics.fmean(curves[(a, r, n)]) for r in ("gbt", "loglinear") for a in ("active", "random")
        ]
        lines.append(f"| {n} | {row[0]:.3f} | {row[1]:.3f} | {row[2]:.3f} | {row[3]:.3f} |")
    for reg, g in gaps.items():
        lines.append(
            f"{reg}: recommended mixture's true loss - optimum = {statistics.fmean(g):.4f} (mean over seeds)"
        )
    print("\n".join(lines))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
