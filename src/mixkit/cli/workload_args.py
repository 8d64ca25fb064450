"""Command-line arguments shared by ``mixture search`` and ``mixture train``: which text domains to read
and the size of the byte-level GPT reference workload."""

from __future__ import annotations

import argparse
from typing import Any

from .checks import positive_int
from .domains import add_domain_arguments


def add_workload_arguments(p: argparse.ArgumentParser, steps: int, steps_help: str | None = None) -> None:
    """Add ``--domain`` (and the deprecated ``--domains``), ``--max-bytes --target --steps --batch-size
    --seq-len --d-model --layers`` to ``p``."""
    add_domain_arguments(p, "domains", "default: fortunes en de es it ru + stdlib")
    p.add_argument("--max-bytes", type=positive_int, default=1_000_000,
                   help="bytes read per domain (default 1e6)")
    p.add_argument("--target", default="average",
                   help="what the target loss averages: 'average' (every domain) or a comma list of domain "
                        "names (default average)")
    p.add_argument("--steps", type=positive_int, default=steps,
                   help=steps_help or f"training steps (default {steps})")
    p.add_argument("--batch-size", type=positive_int, default=16, help="sequences per batch (default 16)")
    p.add_argument("--seq-len", type=positive_int, default=64, help="bytes per sequence (default 64)")
    p.add_argument("--d-model", type=positive_int, default=64, help="width of the byte GPT (default 64)")
    p.add_argument("--layers", type=positive_int, default=2, help="transformer blocks (default 2)")


def check_workload(args: argparse.Namespace) -> None:
    """Settings the byte GPT refuses, named by their option, before any data is read."""
    from mixkit.bench.text import RunConfig

    from .checks import UsageError

    heads = RunConfig().n_head
    if args.d_model % heads:
        raise UsageError(f"argument --d-model: must be a multiple of {heads} (the byte GPT's attention "
                         f"heads), got {args.d_model}")


def workload_config(args: argparse.Namespace, **extra: Any) -> Any:
    """The byte GPT's ``RunConfig`` from the options :func:`add_workload_arguments` added (``--steps
    --batch-size --seq-len --d-model --layers``), plus ``extra`` fields (``lr``, ``seed``)."""
    from mixkit.bench.text import RunConfig

    return RunConfig(steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, d_model=args.d_model,
                     n_layer=args.layers, **extra)
