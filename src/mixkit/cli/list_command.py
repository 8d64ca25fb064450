"""``mixkit list``: the registered sample-mixing methods and the loss-side methods, each with its paper,
the authors' release and its default parameters."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def add_command(sub: Any) -> None:
    """Register ``list`` on the top-level sub-parsers."""
    p = sub.add_parser("list", help="mixing and loss-side methods: papers, releases, defaults",
                       description="Every registered sample-mixing method and every loss-side method, with "
                                   "its paper, the authors' release and its default parameters.")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: {'mixers': [...], 'losses': [...], 'domain': [...]}, each "
                        "entry with name, aliases, paper, url, release and defaults")
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


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def as_json() -> dict[str, list[dict[str, Any]]]:
    """The catalogue ``mixkit list --json`` prints."""
    from mixkit.sample import available
    from mixkit.sample.losses.catalog import LOSS_METHODS

    mixers = [{"name": r.name, "aliases": list(r.aliases), "paper": r.paper, "url": r.paper_url,
               "release": r.release, "defaults": _jsonable(dict(r.defaults))} for r in available()]
    from mixkit.domain.catalog import DOMAIN_METHODS

    losses = [{"name": m.name, "aliases": [], "paper": m.paper, "url": m.url, "release": m.release,
               "defaults": _jsonable(dict(m.defaults))} for m in LOSS_METHODS]
    domain = [{"name": m.name, "aliases": [], "paper": m.paper, "url": m.url, "release": m.release,
               "defaults": _jsonable(dict(m.defaults))} for m in DOMAIN_METHODS]
    return {"mixers": mixers, "losses": losses, "domain": domain}


def run(args: argparse.Namespace) -> int:
    """Print one entry per registered mixer, then one per loss-side method, then one per domain method,
    defaults included (``--json``: the same as one JSON object)."""
    from mixkit.domain.catalog import DOMAIN_METHODS
    from mixkit.sample import available
    from mixkit.sample.losses.catalog import LOSS_METHODS

    if args.json:
        print(json.dumps(as_json(), indent=1))
        return 0
    rows = available()
    width = max([len(r.name) for r in rows] + [len(m.name) for m in LOSS_METHODS + DOMAIN_METHODS])
    for r in rows:
        alias = f" (aliases: {', '.join(r.aliases)})" if r.aliases else ""
        _entry(r.name, width, r.paper, r.paper_url, r.release, r.defaults, alias)
    print()
    print("loss-side methods (mixkit.sample.losses):")
    for m in LOSS_METHODS:
        _entry(m.name, width, m.paper, m.url, m.release or "no authors' release", m.defaults)
    print()
    print("domain methods (mixkit.domain): rules, schedules, search, online, selection, bandits, merging:")
    for m in DOMAIN_METHODS:
        _entry(m.name, width, m.paper, m.url, m.release or "no authors' release", m.defaults)
    return 0
