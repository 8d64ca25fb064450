"""``mixkit mixture train``: train the reference byte GPT with static or online mixing on real text domains
and compare methods at equal compute (same steps x batch x sequence length, same seeds).

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

METHODS = ("static", "uniform", "proportional", "doremi", "odm", "aioli", "aioli-probe", "dga", "rnb")


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
    """The online method ``name`` with the settings this command uses (sized for short runs)."""
    from mixkit.domain.online import DGA, ODM, Aioli, DoReMi, RnB

    if name == "doremi":
        return DoReMi(domains, step_size=0.1, smoothing=1e-3)
    if name == "odm":
        return ODM(domains)
    if name == "aioli":
        return Aioli(domains, estimator="window", step_size=0.3, seed=seed)
    if name == "aioli-probe":
        return Aioli(
            domains, estimator="probe", step_size=0.3, round_steps=min(200, max(steps // 2, 4 * len(domains)))
        )
    if name == "dga":
        return DGA(domains, target="__target__", every=10)  # gradient of the target domains' held-out chunks
    if name == "rnb":
        return RnB(domains, every=10)
    raise ValueError(f"unknown method {name!r}; choose from {METHODS}")


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
                ref = reference if m == "doremi" else None
                if m == "doremi" and ref is None:  # reference = a uniform run of the same budget
                    _, ref = train_mixture(data, config=cfg, target=targets, return_model=True)
                out = train_mixture(
                    data, method=method, config=cfg, target=targets, reference_model=ref, progress=progress
                )
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
