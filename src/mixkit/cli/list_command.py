"""``mixkit list``: the registered sample-mixing methods with their paper, the authors' release and their
default parameters."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(sub: Any) -> None:
    """Register ``list`` on the top-level sub-parsers."""
    p = sub.add_parser("list", help="registered mixing methods, their papers and defaults")
    p.add_argument("-v", "--verbose", action="store_true", help="also print default parameters")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one entry per registered method (with ``--verbose`` also its defaults)."""
    from mixkit.sample import available

    rows = available()
    width = max(len(r.name) for r in rows)
    for r in rows:
        defaults = ", ".join(f"{k}={v!r}" for k, v in r.defaults.items())
        alias = f" (aliases: {', '.join(r.aliases)})" if r.aliases else ""
        print(f"{r.name:<{width}}  {r.paper}{alias}")
        if r.paper_url:
            print(f"{'':<{width}}  {r.paper_url}")
        if r.release:
            print(f"{'':<{width}}  release: {r.release}")
        if defaults and args.verbose:
            print(f"{'':<{width}}  defaults: {defaults}")
    return 0
