"""``mixkit list``: the registered sample-mixing methods and the loss-side methods, each with its paper,
the authors' release and its default parameters."""

from __future__ import annotations

import argparse
from typing import Any


def add_command(sub: Any) -> None:
    """Register ``list`` on the top-level sub-parsers."""
    p = sub.add_parser("list", help="mixing and loss-side methods: papers, releases, defaults")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="accepted for compatibility (defaults are always printed)")
    p.set_defaults(func=run)


def _entry(name: str, width: int, paper: str, url: str, release: str, defaults: dict[str, Any],
           alias: str = "") -> None:
    print(f"{name:<{width}}  {paper}{alias}")
    pad = f"{'':<{width}}  "
    if url:
        print(f"{pad}{url}")
    if release:
        print(f"{pad}release: {release}")
    if defaults:
        print(f"{pad}defaults: {', '.join(f'{k}={v!r}' for k, v in defaults.items())}")


def run(args: argparse.Namespace) -> int:
    """Print one entry per registered mixer, then one per loss-side method, defaults included."""
    from mixkit.sample import available
    from mixkit.sample.losses.catalog import LOSS_METHODS

    rows = available()
    width = max([len(r.name) for r in rows] + [len(m.name) for m in LOSS_METHODS])
    for r in rows:
        alias = f" (aliases: {', '.join(r.aliases)})" if r.aliases else ""
        _entry(r.name, width, r.paper, r.paper_url, r.release, r.defaults, alias)
    print()
    print("loss-side methods (mixkit.sample.losses):")
    for m in LOSS_METHODS:
        _entry(m.name, width, m.paper, m.url, m.release, m.defaults)
    return 0
