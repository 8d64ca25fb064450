"""``mixkit`` command line: ``list``, ``bench``, ``gallery``, ``mixture plan|search|train``.

Each layer contributes its own sub-commands through a module exposing ``add_commands(subparsers)``;
a command's ``func(args) -> int`` runs it. Heavy imports happen only when a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# modules that contribute sub-commands; each defines add_commands(subparsers)
COMMAND_MODULES = ("mixkit.bench.cli", "mixkit.domain.cli")


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registered mixing methods with their paper and default parameters."""
    from .sample import available

    rows = available()
    width = max(len(r.name) for r in rows)
    for r in rows:
        defaults = ", ".join(f"{k}={v!r}" for k, v in r.defaults.items())
        alias = f" (aliases: {', '.join(r.aliases)})" if r.aliases else ""
        print(f"{r.name:<{width}}  {r.paper}{alias}")
        if r.paper_url:
            print(f"{'':<{width}}  {r.paper_url}")
        if defaults and args.verbose:
            print(f"{'':<{width}}  defaults: {defaults}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixkit", description="Mix training data at every level.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("list", help="registered mixing methods, their papers and defaults")
    p.add_argument("-v", "--verbose", action="store_true", help="also print default parameters")
    p.set_defaults(func=cmd_list)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and name.startswith(err.name):
                continue  # that layer's commands are not installed in this build
            raise
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
