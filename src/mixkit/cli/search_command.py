"""``mixkit mixture search``: recommend a mixture of your corpora with a RegMix search (Liu et al. 2024;
release github.com/sail-sg/regmix).

Trains small byte-GPT proxies on mixtures proposed as released (Dirichlet draws around the tempered token
prior at strengths log-spaced over [0.1, 5], capped so no domain repeats more than --max-epochs times in the
target budget), fits LightGBM with the release's hyper-parameters (scikit-learn's histogram boosting
without LightGBM; early-stopped on the held-out runs) and, as a comparison, mixkit's log-linear model, adds
proxy runs where the regressors are least certain (mixkit's own; --active 0 for the release's protocol), and
recommends the mean of the 128 best of 100,000 Dirichlet(token distribution) candidates under the first
regressor, with its predicted target loss and the Spearman correlation on held-out proxy runs.

Domains: ``--domain [NAME=]KIND[:ARG]`` once per domain (KIND: fortunes:LANG, stdlib, folder:PATH,
jsonl:PATH), as for ``mixture plan`` and ``mixture train``.

Writes ``results.json``, ``recommended.json`` (the mixture, the regressor and library that produced it and
the domain sources, so ``mixkit mixture train --weights recommended.json`` runs on the same domains without
repeating them), ``table.md`` and ``correlation.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from .checks import (
    UsageError,
    below_one,
    check_out_dir,
    int_at_least,
    nonneg_int,
    positive_float,
    positive_int,
    require_extra,
    user_errors,
)
from .domains import domain_specs
from .results_args import add_results_arguments, publish
from .workload_args import add_workload_arguments, check_workload, workload_config

RESULTS_KEY = "regmix-search"


def add_command(mixture_subparsers) -> None:
    """Register ``mixture search`` on the ``mixture`` sub-parsers."""
    p = mixture_subparsers.add_parser(
        "search",
        help="RegMix-style mixture search with active proxy selection",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_workload_arguments(p, steps=150, steps_help="steps per proxy run (default 150)")
    p.add_argument("--initial", type=int_at_least(3), default=48,
                   help="random proxy runs to start with (default 48; LightGBM splits from 40 runs)")
    p.add_argument("--active", type=nonneg_int, default=0,
                   help="extra proxy runs chosen where the regressors disagree (mixkit's own option, "
                        "not in the release; default 0)")
    p.add_argument("--batch", type=positive_int, default=8, help="proxy runs per active round (default 8)")
    p.add_argument(
        "--holdout", type=int_at_least(3), default=8,
        help="random held-out runs for the correlation (default 8, at least 3)"
    )
    p.add_argument(
        "--compare-random",
        action="store_true",
        help="also run a random-proposal arm of the same size to compare correlation vs runs",
    )
    p.add_argument("--regressor", default="both",
                   choices=("gbt", "loglinear", "law", "gbt-huber", "both", "all"),
                   help="gbt = LightGBM as released (default, first); both = gbt + loglinear; all adds the "
                        "exponential mixing law and gbt-huber. The first listed makes the recommendation "
                        "(see --recommend-by) and drives the uncertainty-based proposals")
    p.add_argument("--recommend-by", default="first", choices=("first", "spearman"),
                   help="first: the first regressor's recommendation (default, as released); spearman: the "
                        "regressor with the best held-out Spearman (mixkit's own)")
    p.add_argument("--gbt-library", default="auto", choices=("auto", "lightgbm", "sklearn"),
                   help="gbt: LightGBM (auto: when installed) or scikit-learn's "
                        "HistGradientBoostingRegressor")
    p.add_argument("--candidates", type=positive_int, default=100_000,
                   help="candidates scored for the recommendation (default 100000, as released)")
    p.add_argument("--top-k", type=positive_int, default=128,
                   help="the recommendation averages the top-k candidates (default 128, as released)")
    p.add_argument("--proposal", default="regmix", choices=("regmix", "cycled"),
                   help="regmix: the release's proposals (default); cycled: mixkit's earlier "
                        "Dirichlet(prior x K x c) scheme")
    p.add_argument("--minimum-weight", type=below_one, default=2e-4,
                   help="proposal weights below this become 0 and weights round to its multiples (release "
                        "2e-4)")
    p.add_argument("--respect-caps", action="store_true",
                   help="keep only candidates within the repetition caps (mixkit's own; off as released)")
    p.add_argument("--max-epochs", type=positive_float, default=4.0,
                   help="repetition cap per domain (default 4)")
    p.add_argument("--temperature", type=positive_float, default=0.5,
                   help="prior: token counts ** temperature (default 0.5)")
    p.add_argument(
        "--target-tokens",
        type=positive_float,
        default=None,
        help="budget of the run the mixture is for (caps apply to it; default: 10x a proxy run)",
    )
    p.add_argument("--backend", default="loop", choices=("loop", "process", "ray"),
                   help="where proxy runs train: loop (this process, default), process (a process pool) or "
                        "ray (needs the 'ray' extra)")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="parallel proxy runs (process/ray; default 2)")
    p.add_argument("--seed", type=nonneg_int, default=0,
                   help="seed of the proposals and the fits (default 0)")
    p.add_argument(
        "--out", default="results/mixture-search", help="results root (default results/mixture-search)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_results_arguments(p, RESULTS_KEY)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``mixkit mixture search``: run the search and write its outputs."""
    _, table = search(args)
    publish(args, RESULTS_KEY, table)
    return 0


def search(args: argparse.Namespace) -> tuple[Path, str]:
    """Run the search, write its outputs, print the table; returns the run folder and the Markdown table."""
    require_extra("mixkit mixture search", "search")  # before any proxy run
    import torch

    from mixkit.bench.mixture_search import run_search
    from mixkit.bench.text import TextProxy
    from mixkit.bench.text.domain_report import plot_search_curve, run_folder, search_table, write_json
    from mixkit.bench.text.text_sources import parse_sources
    from mixkit.bench.text.workload import resolve_target

    if args.top_k > args.candidates:
        raise UsageError(f"argument --top-k: {args.top_k} is more than --candidates {args.candidates}")
    if args.backend == "ray":
        try:
            ray_found = importlib.util.find_spec("ray") is not None
        except (ImportError, ValueError):
            ray_found = False
        if not ray_found:
            raise UsageError("--backend ray needs the 'ray' extra: pip install 'mixkit[ray]'")
    if args.gbt_library == "lightgbm":
        try:
            lgb_found = importlib.util.find_spec("lightgbm") is not None
        except (ImportError, ValueError):
            lgb_found = False
        if not lgb_found:
            raise UsageError("--gbt-library lightgbm needs the 'lightgbm' extra: "
                             "pip install 'mixkit[lightgbm]'")
    check_workload(args)
    check_out_dir(args.out)
    torch.set_num_threads(1)
    sources = parse_sources(domain_specs(args))
    with user_errors("--domain: "):
        cfg = workload_config(args)
        proxy = TextProxy(sources=sources, config=cfg, target=args.target, max_bytes=args.max_bytes)
        data = proxy.data()
    with user_errors("--target: "):
        resolve_target(args.target, data.names)
    sizes = data.total_bytes()
    total = args.target_tokens or 10 * cfg.tokens
    regressors = {"both": ("gbt", "loglinear"), "all": ("gbt", "loglinear", "law", "gbt-huber")}.get(
        args.regressor, (args.regressor,))
    if regressors[0] == "gbt" and args.initial + args.active < 40:
        print(f"warning: {args.initial + args.active} fitted proxy runs: gbt (20 runs per leaf, as released) "
              "makes no split below 40, so its predictions are constant and the recommendation falls back "
              "to the mean of the first candidates; use more runs (the release fits 512)", file=sys.stderr)
    n_total = args.holdout + args.initial + args.active * (2 if args.compare_random else 1)
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=n_total, unit="run", desc="proxy runs", mininterval=5)
        except ImportError:  # pragma: no cover
            bar = None
    report = run_search(
        proxy,
        sizes,
        total,
        n_initial=args.initial,
        n_active=args.active,
        batch=args.batch,
        n_holdout=args.holdout,
        regressors=regressors,
        active_regressor=regressors[0],
        max_epochs=args.max_epochs,
        temperature=args.temperature,
        compare_random=args.compare_random,
        backend=args.backend,
        workers=args.workers,
        seed=args.seed,
        progress=(lambda n: bar.update(1)) if bar is not None else None,
        n_candidates=args.candidates,
        top_k=args.top_k,
        recommend_by=args.recommend_by,
        proposal=args.proposal,
        proposal_options={"minimum": args.minimum_weight} if args.proposal == "regmix" else None,
        regressor_options={"gbt": {"library": args.gbt_library}},
        respect_caps=args.respect_caps,
    )
    if bar is not None:
        bar.close()
    folder = run_folder(args.out, "search")
    report["proxy"] = {
        "sources": sources,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "tokens_per_run": cfg.tokens,
        "target": args.target,
    }
    # the recommendation names its domain sources: `mixture train --weights recommended.json` runs as is
    recommended = {**report["recommended"], "sources": list(sources)}
    write_json(folder / "results.json", report)
    write_json(folder / "recommended.json", recommended)
    write_json(Path(args.out) / "latest-recommended.json", recommended)  # stable path for scripts
    header = (
        f"Proxy: byte GPT d={args.d_model} L={args.layers}, {args.steps} steps x {args.batch_size} x "
        f"{args.seq_len} bytes; target = {args.target} val loss; caps: {args.max_epochs} epochs of "
        f"{total:.0f} tokens\n"
        f"Recommendation: mean of the top {args.top_k} of {args.candidates} candidates under "
        f"{_regressor_line(report['recommended'])} (by {args.recommend_by})\n"
    )
    table = search_table(report, list(sizes), regressors, header)
    (folder / "table.md").write_text(table)
    plots = plot_search_curve(report["curve"], folder)
    rec = report["recommended"]
    print(table)
    print(
        f"recommended ({_regressor_line(rec)}): "
        + ", ".join(f"{k}={v:.3f}" for k, v in rec["mixture"].items())
    )
    print(
        f"wrote {folder}/results.json, recommended.json, table.md"
        + (", " + ", ".join(plots) if plots else "")
    )
    return folder, table


def _regressor_line(rec) -> str:
    """``gbt (LGBMRegressor, lightgbm 4.7.0)``: the regressor that produced a recommendation."""
    return f"{rec['regressor']} ({rec['model']}, {rec['library']} {rec['version']})"
