"""``mixkit mixture plan``: per-domain share over training and epochs per domain for a static strategy or
schedule, from sizes on the command line or counted from JSONL files. Prints a table; ``--out`` writes a
PNG (matplotlib, imported only then)."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mixkit.domain import WeightSchedule

from .checks import (
    UsageError,
    check_out_file,
    fraction,
    int_at_least,
    positive_float,
    positive_int,
    require_extra,
    unit_interval,
    user_errors,
)
from .domains import add_domain_arguments, domain_specs, parse_domain_spec

SCHEDULES = ("constant", "cooldown", "upsample", "linear", "step")


def _pairs(text: str, what: str, cast=float, low: float = 0.0, strict: bool = False) -> dict[str, Any]:
    """``name=value,...``: each value finite and ``>= low`` (``> low`` when ``strict``), names distinct."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"{what}: expected name=value[,name=value...], got {part!r}")
        if name in out:
            raise UsageError(f"{what}: {name!r} is given twice")
        try:
            number = cast(value)
        except (ValueError, OverflowError):
            kind = "number" if cast is float else cast.__name__
            raise UsageError(f"{what}: {name}={value!r} is not a valid {kind}") from None
        if not math.isfinite(number) or number < low or (strict and number == low):
            raise UsageError(f"{what}: {name}={value!r} must be a finite number "
                             f"{'>' if strict else '>='} {low:g}")
        out[name] = number
    if not out:
        raise UsageError(f"{what}: empty; expected name=value[,name=value...]")
    return out


def _count(value: str) -> int:
    n = float(value)
    if not math.isfinite(n) or n != int(n):
        raise ValueError(value)
    return int(n)


_count.__name__ = "integer"


def _documents(spec: str) -> tuple[str, int]:
    """The name and the number of documents of one domain spec (JSONL records, files, fortunes, modules)."""
    name, kind, arg = parse_domain_spec(spec)
    if kind == "jsonl":
        from mixkit.domain import JsonlSource

        return name or f"jsonl:{arg}", len(JsonlSource(arg))
    from mixkit.bench.text.text_sources import load_source

    domain = load_source(spec, max_bytes=None)
    return domain.name, int(domain.n_documents)


def _sizes(args: argparse.Namespace) -> dict[str, int]:
    sizes: dict[str, int] = {}
    if args.sizes:
        sizes.update(_pairs(args.sizes, "--sizes", _count, low=0, strict=True))
    for spec in domain_specs(args) or ():
        with user_errors(f"--domain {spec}: "):
            name, n = _documents(spec)
        if name in sizes:
            raise UsageError(f"--domain {spec}: domain {name!r} is given twice")
        if n < 1:
            raise UsageError(f"--domain {spec}: holds no documents")
        sizes[name] = n
    if not sizes:
        raise UsageError("give domain sizes with --sizes name=n,... or --domain NAME=jsonl:PATH ...")
    return sizes


def build_schedule(args: argparse.Namespace, sizes: dict[str, int]) -> WeightSchedule:
    """The schedule the command line describes."""
    from mixkit.domain import Constant, Cooldown, EndUpsample, LinearSchedule, StepSchedule, strategy

    base = strategy(args.strategy, sizes, temperature=args.temperature, total=args.total,
                    max_epochs=args.max_epochs)
    if args.schedule == "constant":
        return Constant(base)
    if args.schedule == "cooldown":
        start = 0.5 if args.start is None else args.start
        t0 = 3.0 if args.temperature is None else args.temperature
        return Cooldown(sizes, t0, args.end_temperature, start=start, end=1.0)
    if args.schedule == "upsample":
        if not args.upsample:
            raise UsageError("--schedule upsample needs --upsample name=factor,...")
        return EndUpsample(base, _pairs(args.upsample, "--upsample", low=0, strict=True), args.last_fraction)
    if not args.to:
        raise UsageError(f"--schedule {args.schedule} needs --to name=weight,... (the mixture to move to)")
    target = _pairs(args.to, "--to")
    if sum(target.values()) <= 0:
        raise UsageError(f"--to {args.to}: the weights sum to 0")
    start = 0.0 if args.start is None else args.start
    if args.schedule == "linear":
        return LinearSchedule([(start, base), (1.0, target)]) if start < 1 else Constant(base)
    return StepSchedule([(0.0, base), (start, target)]) if start > 0 else Constant(target)


def plan(schedule: WeightSchedule, sizes: dict[str, int], total: int | None, points: int) -> dict[str, Any]:
    """Shares at ``points`` progress values, the training-average share and epochs per domain."""
    from mixkit.domain import average_weights

    progress = [i / (points - 1) for i in range(points)] if points > 1 else [0.0]
    shares = [schedule.weights_at(p) for p in progress]
    avg = average_weights(schedule)
    out: dict[str, Any] = {"domains": list(sizes), "sizes": sizes, "progress": progress,
                           "shares": [[s.get(k, 0.0) for k in sizes] for s in shares],
                           "average": [avg.get(k, 0.0) for k in sizes]}
    if total is not None:
        out["total"] = total
        out["epochs"] = [avg.get(k, 0.0) * total / n for k, n in sizes.items()]
    return out


def _print(result: dict[str, Any]) -> None:
    names = result["domains"]
    width = max(8, *(len(n) for n in names))
    print("progress  " + "  ".join(f"{n:>{width}}" for n in names))
    for p, row in zip(result["progress"], result["shares"]):
        print(f"{p:8.2f}  " + "  ".join(f"{v:>{width}.4f}" for v in row))
    print(f"{'average':>8}  " + "  ".join(f"{v:>{width}.4f}" for v in result["average"]))
    if "epochs" in result:
        print(f"{'epochs':>8}  " + "  ".join(f"{v:>{width}.3g}" for v in result["epochs"]))
        over = [n for n, e in zip(names, result["epochs"]) if e > 1]
        if over:
            print(f"repeated (> 1 epoch over {result['total']:,} samples): {', '.join(over)}")


def _plot(result: dict[str, Any], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result["domains"]
    cols = list(zip(*result["shares"]))
    fig, axes = plt.subplots(1, 2 if "epochs" in result else 1, figsize=(11 if "epochs" in result else 6, 4),
                             squeeze=False)
    ax = axes[0][0]
    ax.stackplot(result["progress"], *cols, labels=names)
    ax.set_xlabel("training progress")
    ax.set_ylabel("share of draws")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    if "epochs" in result:
        ax2 = axes[0][1]
        ax2.bar(names, result["epochs"], color="tab:gray")
        ax2.axhline(1.0, color="tab:red", lw=1, ls="--")
        ax2.set_ylabel(f"epochs over {result['total']:,} samples")
        ax2.set_yscale("log")
        ax2.set_title("repetition per domain")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``mixkit mixture plan``."""
    if args.out:
        check_out_file(args.out, "--out", (".png", ".pdf", ".svg"))
        require_extra("mixkit mixture plan --out", "plot")
    if args.json:
        check_out_file(args.json, "--json")
    if args.max_epochs is not None and args.total is None:
        raise UsageError("--max-epochs needs --total (the budget the cap applies to)")
    for option, used in (("--upsample", args.upsample), ("--to", args.to)):
        wanted = {"--upsample": ("upsample",), "--to": ("linear", "step")}[option]
        if used and args.schedule not in wanted:
            raise UsageError(f"{option} applies to --schedule {' or '.join(wanted)}, not {args.schedule}")
    sizes = _sizes(args)
    with user_errors():
        schedule = build_schedule(args, sizes)
        result = plan(schedule, sizes, args.total, args.points)
    _print(result)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
        print(f"wrote {args.json}")
    if args.out:
        fine = plan(schedule, sizes, args.total, 201)  # smooth curves whatever --points is
        _plot(fine, args.out, f"{args.strategy} / {args.schedule}")
        print(f"wrote {args.out}")
    return 0


def _points(text: str) -> int:
    n = int_at_least(1)(text)
    if n > 10_001:
        raise argparse.ArgumentTypeError(f"expected at most 10001 points, got {text!r}")
    return n


def add_command(mixture_subparsers: Any) -> None:
    """Register ``plan`` under ``mixkit mixture``."""
    from mixkit.domain import STRATEGIES  # the --strategy choices

    p = mixture_subparsers.add_parser(
        "plan", help="per-domain share over training and epochs per domain for a strategy or schedule",
        description="Print (and plot) the per-domain share over training and how many epochs each domain "
                    "is repeated, for a static strategy or a schedule.")
    p.add_argument("--sizes", metavar="NAME=N,...", help="domain sizes: web=9000000,code=400000,de=50000")
    add_domain_arguments(p, "jsonl", "plan counts its documents: JSONL records, files, fortunes, modules")
    p.add_argument("--total", type=positive_int, help="samples (or tokens, with sizes in tokens) to train")
    p.add_argument("--strategy", choices=STRATEGIES, default="proportional",
                   help="static mixture: " + ", ".join(STRATEGIES) + " (default proportional)")
    p.add_argument("--temperature", type=positive_float,
                   help="T of w ~ n^(1/T) (temperature; cooldown: start temperature, default 3)")
    p.add_argument("--max-epochs", type=positive_float, help="cap repetition of any domain (needs --total)")
    p.add_argument("--schedule", choices=SCHEDULES, default="constant",
                   help="how the mixture changes over training: " + ", ".join(SCHEDULES)
                        + " (default constant)")
    p.add_argument("--start", type=unit_interval,
                   help="progress in [0, 1] where the schedule starts to change")
    p.add_argument("--end-temperature", type=positive_float, default=1.0,
                   help="cooldown: final temperature (default 1)")
    p.add_argument("--upsample", metavar="NAME=FACTOR,...",
                   help="upsample: factors per domain, e.g. code=5,de=3")
    p.add_argument("--last-fraction", type=fraction, default=0.1,
                   help="upsample: final fraction of training, in (0, 1] (default 0.1)")
    p.add_argument("--to", metavar="NAME=W,...",
                   help="linear/step: mixture to move to, e.g. web=0.5,code=0.5")
    p.add_argument("--points", type=_points, default=11,
                   help="progress points in the table (1 to 10001, default 11)")
    p.add_argument("--out", metavar="PNG", help="write a plot here (.png, .pdf or .svg; needs matplotlib)")
    p.add_argument("--json", metavar="PATH", help="write the plan as JSON here")
    p.set_defaults(func=run)
