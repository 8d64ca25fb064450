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
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checks import UsageError, check_out_dir, positive_float, positive_int, seed_list, user_errors
from .domains import domain_specs
from .results_args import add_results_arguments, publish
from .workload_args import add_workload_arguments, check_workload, workload_config

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
        metavar="FILE|NAME=W,...",
        help="static mixture: a JSON file (a search's recommended.json, whose domain sources are used when "
        "no --domain is given) or 'a=0.5,b=0.5'",
    )
    add_workload_arguments(p, steps=300)
    p.add_argument("--lr", type=positive_float, default=3e-3, help="peak AdamW learning rate (default 3e-3)")
    p.add_argument("--seeds", type=seed_list, default=[0], help="comma list of seeds (default 0)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-baselines", action="store_true", help="do not add uniform and proportional runs")
    p.add_argument(
        "--out", default="results/mixture-train", help="results root (default results/mixture-train)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_results_arguments(p, RESULTS_KEY)
    p.set_defaults(func=run)


def _mixture(obj: Any, where: str) -> dict[str, float]:
    if not isinstance(obj, dict) or not obj:
        raise UsageError(f"{where}: expected a non-empty object of domain weights, got {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise UsageError(f"{where}: weight of {k!r} must be a finite number >= 0, got {v!r}")
        out[str(k)] = float(v)
    if sum(out.values()) <= 0:
        raise UsageError(f"{where}: the weights sum to 0")
    return out


def load_weights(text: str | None) -> tuple[dict[str, float] | None, tuple[str, ...] | None]:
    """``--weights``: ``None``; a JSON file holding ``{"mixture": {...}, "sources": [...]}`` (a search's
    ``recommended.json``), a search's ``results.json`` or a plain ``{name: weight}``; or ``a=0.5,b=0.5``.
    Returns the mixture and the domain sources the file names (``None`` when it names none)."""
    if not text:
        return None, None
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"--weights {text}: is a folder; expected a JSON file or name=weight,...")
    if path.is_file() or text.endswith(".json"):
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"--weights {text}: no such file") from None
        except UnicodeDecodeError:
            raise UsageError(f"--weights {text}: not a UTF-8 text file") from None
        except json.JSONDecodeError as err:
            raise UsageError(f"--weights {text}: invalid JSON: {err.msg} at line {err.lineno} column "
                             f"{err.colno}") from None
        except OSError as err:
            raise UsageError(f"--weights {text}: {err.strerror}") from None
        if not isinstance(obj, dict):
            raise UsageError(f"--weights {text}: expected a JSON object, got {type(obj).__name__}")
        sources = obj.get("sources")
        if "recommended" in obj:  # a search's results.json
            sources = sources or (obj.get("proxy") or {}).get("sources")
            obj = obj["recommended"]
            if not isinstance(obj, dict):
                raise UsageError(f"--weights {text}: 'recommended' must be an object")
            sources = obj.get("sources", sources)
        mixture = _mixture(obj["mixture"] if "mixture" in obj else
                           {k: v for k, v in obj.items() if k != "sources"}, f"--weights {text}")
        listed = isinstance(sources, list) and all(isinstance(s, str) for s in sources)
        if sources is not None and not listed:
            raise UsageError(f"--weights {text}: 'sources' must be a list of domain specs")
        return mixture, tuple(sources) if sources else None
    pairs = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--weights {text!r}: no such file, and not name=weight,... ({item!r})")
        try:
            pairs[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--weights {text!r}: {name.strip()}={value!r} is not a number") from None
    return _mixture(pairs, f"--weights {text!r}"), None


def parse_weights(text: str | None) -> dict[str, float] | None:
    """The mixture of ``--weights`` (see :func:`load_weights`)."""
    return load_weights(text)[0]


def parse_methods(text: str) -> list[str]:
    """``--method``: ``all`` or a comma list of known methods, each once."""
    if text.strip() == "all":
        return list(METHODS[3:])
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise UsageError(f"--method: no method in {text!r}; choose from {', '.join(METHODS)} or 'all'")
    for m in methods:
        if m not in METHODS:
            raise UsageError(f"--method: unknown method {m!r}; choose from {', '.join(METHODS)} or 'all'")
    if len(set(methods)) != len(methods):
        raise UsageError(f"--method: a method is listed twice in {text!r}")
    return methods


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

    from mixkit.bench.text import load_sources, train_mixture
    from mixkit.bench.text.domain_report import (
        comparison_table,
        plot_weights_and_losses,
        run_folder,
        write_json,
    )
    from mixkit.bench.text.text_sources import parse_sources
    from mixkit.bench.text.workload import resolve_target

    methods = parse_methods(args.method)
    static, file_sources = load_weights(args.weights)
    if "static" in methods and static is None:
        raise UsageError("--method static needs --weights")
    if static is not None and "static" not in methods:
        methods.insert(0, "static")
    if not args.no_baselines:
        methods = [b for b in ("uniform", "proportional") if b not in methods] + methods
    seeds = list(args.seeds)
    check_workload(args)
    check_out_dir(args.out)
    specs = domain_specs(args, fallback=file_sources)
    with user_errors("--domain: "):
        data = load_sources(parse_sources(specs), args.seq_len, args.max_bytes)
    names = data.names
    with user_errors("--target: "):
        targets = resolve_target(args.target, names)
    if static is not None:
        unknown = sorted(set(static) - set(names))
        if unknown:
            hint = "" if specs else "; give the domains with --domain (or a recommended.json that names them)"
            raise UsageError(f"--weights {args.weights}: names {unknown}, which are not among the domains "
                             f"{list(names)}{hint}")
    with user_errors():  # settings the workload or a method refuses fail now, not after the first runs
        workload_config(args, lr=args.lr, seed=seeds[0])
        for m in methods:
            if m not in ("static", "uniform", "proportional"):
                make_method(m, names, targets, args.steps, seeds[0])
    torch.set_num_threads(args.threads)
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
    bar = None
    if tqdm is not None and not args.no_progress:
        bar = tqdm(
            total=len(seeds) * len(methods) * args.steps, unit="step", desc="mixture train", mininterval=5
        )
    for seed in seeds:
        cfg = workload_config(args, lr=args.lr, seed=seed)
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
    folder = run_folder(args.out, "train")  # only now: a run that fails leaves no empty folder
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
            "sources": list(parse_sources(specs)),
            "sizes": sizes,
            "targets": targets,
            "results": results,
        },
    )
    plots = plot_weights_and_losses(results, names, folder)
    print(header + table)
    print(f"wrote {folder}/results.json, table.md" + (", " + ", ".join(plots) if plots else ""))
    return folder, header + table
