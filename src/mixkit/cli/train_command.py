"""``mixkit mixture train``: train the reference byte GPT with static or online mixing on real text domains
and compare methods at equal steps x batch x sequence length and seeds, each run by its paper's protocol:

* doremi: a reference run (the uniform baseline), a proxy run with DoReMi reweighting the proxy's loss
  (sampling stays uniform), then a fresh run on the proxy's *averaged* weights; the row reports the fresh run
  (the proxy's numbers are under ``extra``);
* odm, odm-exp3, aioli, aioli-window, dga, rnb: one run with the online method steering the sampler.

Writes ``results.json``, ``table.md``, ``weights.png`` and ``losses.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results_args import add_results_arguments, publish
from .workload_args import add_workload_arguments

RESULTS_KEY = "text-domains"

if TYPE_CHECKING:
    from mixkit.domain.online import OnlineMixer

METHODS = (
    "static",
    "uniform",
    "proportional",
    "doremi",
    "odm",
    "odm-exp3",
    "aioli",
    "aioli-window",
    "dga",
    "rnb",
)


def add_command(mixture_subparsers) -> None:
    """Register ``mixture train`` on the ``mixture`` sub-parsers."""
    p = mixture_subparsers.add_parser(
        "train",
        help="train with static or online mixing (DoReMi, ODM, Aioli, DGA, R&B) and compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--method",
        default="aioli",
        help=f"comma list from {', '.join(METHODS)} or 'all' (default aioli); uniform and "
        "proportional are always added as baselines unless --no-baselines",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="static mixture: JSON file (a search's recommended.json) or 'a=0.5,b=0.5'",
    )
    add_workload_arguments(p, steps=300)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seeds", default="0", help="comma list of seeds (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-baselines", action="store_true", help="do not add uniform and proportional runs")
    p.add_argument(
        "--out", default="results/mixture-train", help="results root (default results/mixture-train)"
    )
    p.add_argument("--no-progress", action="store_true")
    add_results_arguments(p, RESULTS_KEY)
    p.set_defaults(func=run)


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``None``, a JSON file holding ``{"mixture": {...}}`` or ``{...}``, or ``a=0.5,b=0.5``."""
    if not text:
        return None
    path = Path(text)
    if path.is_file():
        obj = json.loads(path.read_text())
        obj = obj.get("recommended", obj)
        return {k: float(v) for k, v in obj.get("mixture", obj).items()}
    try:
        return {k.strip(): float(v) for k, v in (item.split("=") for item in text.split(","))}
    except ValueError:
        raise ValueError(f"--weights must be a JSON file or 'name=weight,...', got {text!r}") from None


def make_method(name: str, domains: list[str], targets: list[str], steps: int, seed: int) -> OnlineMixer:
    """The online method ``name`` with its release's settings (round lengths scaled to ``steps``)."""
    from mixkit.domain.online import DGA, ODM, Aioli, DoReMi, RnB

    k = len(domains)
    if name == "doremi":  # release: step size 1, smoothing 1e-3, loss reweighting on the reference mixture
        return DoReMi(domains, step_size=1.0, smoothing=1e-3, mode="reweight")
    if name in ("odm", "odm-exp3"):  # release: warm-up 2000 of 100k steps (2 %), smoothing 0.9
        rule = "exp3" if name == "odm-exp3" else "smoothed_mean"
        return ODM(domains, rule=rule, smoothing=0.9, warmup_steps=int(0.02 * steps))
    if name == "aioli":
        # release scripts: 3 domains eta 0.1, 4 sweeps x 6 steps, one-hot factor 0.5, EMA 0.5; 2 domains
        # eta 0.2, 4 x 4 steps, factor 0.625, EMA 0.1; 250-step rounds, normalised A (shorter for short runs)
        eta, seg, ohf, ema = (0.2, 4, 0.625, 0.1) if k == 2 else (0.1, 6, 0.5, 0.5)
        if 4 * k * seg >= steps // 2:
            seg = max(1, steps // (16 * k))
        probe = 4 * k * seg
        return Aioli(
            domains,
            estimator="probe",
            step_size=eta,
            probe_rounds=4,
            probe_steps=seg,
            one_hot_factor=ohf,
            ema=ema,
            normalize=True,
            seed=seed,
            round_steps=max(probe + 1, min(250, steps)),
        )
    if name == "aioli-window":
        return Aioli(domains, estimator="window", window_step_size=0.3, floor=0.02, seed=seed)
    if name == "dga":  # gradient of the target domains' held-out chunks
        return DGA(domains, target="__target__", every=10, similarity="dot", step_size=1.0)
    if name == "rnb":  # paper: lambda 3, evaluation proportions = the target domains
        return RnB(
            domains,
            temperature=3.0,
            round_steps=max(1, min(50, steps // 6)),
            eval_proportions={t: 1.0 for t in targets},
        )
    raise ValueError(f"unknown method {name!r}; choose from {METHODS}")


def run_doremi(data, method, cfg, targets, reference, progress=None):
    """DoReMi's protocol: reference model (a uniform run; trained here when ``reference`` is None), proxy run
    with ``method`` reweighting the proxy loss, then a fresh run on ``method.average_weights``. Returns the
    fresh run's result with the proxy's target loss, weights and wall time in ``extra``."""
    from mixkit.bench.text import train_mixture

    if reference is None:
        _, reference = train_mixture(data, config=cfg, target=targets, return_model=True)
    proxy = train_mixture(data, method=method, config=cfg, target=targets, reference_model=reference)
    final = train_mixture(data, weights=method.average_weights, config=cfg, target=targets, progress=progress)
    final.extra.update(
        protocol="reference (uniform) -> proxy (DoReMi loss reweighting) -> fresh run on averaged weights",
        average_weights=method.average_weights,
        proxy_target_loss=proxy.target_loss,
        proxy_val_loss=proxy.val_loss,
        proxy_final_weights=proxy.final_weights,
        proxy_wall_s=proxy.wall_s,
        proxy_method_s=proxy.method_s,
    )
    final.method_s = proxy.method_s
    return final


def run(args: argparse.Namespace) -> int:
    """Entry point of ``mixkit mixture train``: train, compare and write the outputs."""
    _, table = train(args)
    publish(args, RESULTS_KEY, table)
    return 0


def train(args: argparse.Namespace) -> tuple[Path, str]:
    """Train every requested method for every seed, write the comparison and print it; returns the run
    folder and the Markdown table (with its header line)."""
    import torch

    from mixkit.bench.text import RunConfig, load_sources, train_mixture
    from mixkit.bench.text.domain_report import (
        comparison_table,
        plot_weights_and_losses,
        run_folder,
        write_json,
    )
    from mixkit.bench.text.text_sources import parse_sources
    from mixkit.bench.text.workload import resolve_target

    torch.set_num_threads(args.threads)
    methods = (
        list(METHODS[3:])
        if args.method == "all"
        else [m.strip() for m in args.method.split(",") if m.strip()]
    )
    for m in methods:
        if m not in METHODS:
            raise SystemExit(
                f"mixkit mixture train: unknown --method {m!r}; choose from {', '.join(METHODS)}"
            )
    static = parse_weights(args.weights)
    if "static" in methods and static is None:
        raise SystemExit("mixkit mixture train: --method static needs --weights")
    if static is not None and "static" not in methods:
        methods.insert(0, "static")
    if not args.no_baselines:
        methods = [b for b in ("uniform", "proportional") if b not in methods] + methods
    seeds = [int(s) for s in args.seeds.split(",")]
    data = load_sources(parse_sources(args.domains), args.seq_len, args.max_bytes)
    names = data.names
    targets = resolve_target(args.target, names)
    sizes = data.sizes()
    total = sum(sizes.values())
    fixed = {
        "uniform": {n: 1 / len(names) for n in names},
        "proportional": {n: sizes[n] / total for n in names},
        "static": static,
    }
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    folder = run_folder(args.out, "train")
    bar = None
    if tqdm is not None and not args.no_progress:
        bar = tqdm(
            total=len(seeds) * len(methods) * args.steps, unit="step", desc="mixture train", mininterval=5
        )
    for seed in seeds:
        cfg = RunConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            seq_len=args.seq_len,
            d_model=args.d_model,
            n_layer=args.layers,
            lr=args.lr,
            seed=seed,
        )
        reference = None
        order = sorted(methods, key=lambda m: m != "uniform")  # uniform first: DoReMi's reference model
        for m in order:
            if bar is not None:
                bar.set_postfix_str(f"seed={seed} {m}")
            progress = (lambda step, w: bar.update(1)) if bar is not None else None
            if m in fixed:
                out = train_mixture(
                    data,
                    weights=fixed[m],
                    config=cfg,
                    target=targets,
                    progress=progress,
                    return_model=(m == "uniform"),
                )
                if m == "uniform":
                    out, reference = out
            else:
                method = make_method(m, names, targets, args.steps, seed)
                if m == "doremi":
                    out = run_doremi(data, method, cfg, targets, reference, progress)
                else:
                    out = train_mixture(data, method=method, config=cfg, target=targets, progress=progress)
            results[m].append({"seed": seed, **out.to_json()})
    if bar is not None:
        bar.close()
    table = comparison_table(results, names)
    header = (
        f"Reference workload: byte GPT d={args.d_model} L={args.layers}, {args.steps} steps x "
        f"{args.batch_size} x {args.seq_len} bytes = "
        f"{args.steps * args.batch_size * args.seq_len} tokens per "
        f"run, seeds {seeds}, target = mean val loss of {targets} (nats/byte, lower is better)\n\n"
    )
    if "doremi" in methods:
        header += (
            "doremi: the paper's protocol -- reference model (the uniform run), proxy run with DoReMi "
            "reweighting its loss, then the row's fresh run on the proxy's averaged weights "
            "(proxy results in results.json under extra)\n\n"
        )
    (folder / "table.md").write_text(header + table)
    write_json(
        folder / "results.json",
        {
            "args": vars(args) | {"func": None},
            "domains": names,
            "sizes": sizes,
            "targets": targets,
            "results": results,
        },
    )
    plots = plot_weights_and_losses(results, names, folder)
    print(header + table)
    print(f"wrote {folder}/results.json, table.md" + (", " + ", ".join(plots) if plots else ""))
    return folder, header + table
