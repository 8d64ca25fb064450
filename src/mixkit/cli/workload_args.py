"""Command-line arguments shared by ``mixture search`` and ``mixture train``: which text domains to read
and the size of the byte-level GPT reference workload."""

from __future__ import annotations

import argparse


def add_workload_arguments(p: argparse.ArgumentParser, steps: int, steps_help: str | None = None) -> None:
    """Add ``--domains --max-bytes --target --steps --batch-size --seq-len --d-model --layers`` to ``p``."""
    p.add_argument(
        "--domains",
        default=None,
        help="comma list of sources: fortunes:LANG, stdlib, folder:PATH, jsonl:PATH, NAME=... "
        "(default: fortunes en,de,es,it,ru + stdlib)",
    )
    p.add_argument("--max-bytes", type=int, default=1_000_000, help="bytes read per domain (default 1e6)")
    p.add_argument("--target", default="average", help="'average' or comma list of target domains")
    p.add_argument("--steps", type=int, default=steps, help=steps_help or f"training steps (default {steps})")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
