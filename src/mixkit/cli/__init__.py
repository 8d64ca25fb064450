"""``mixkit`` command line: ``list``, ``bench``, ``gallery``, ``mixture plan|search|train``.

Every command is registered here explicitly; each command module exposes ``add_command(subparsers)`` (or
``add_commands`` for a module holding more than one) and a ``run(args) -> int`` that runs it. Heavy imports
(the benchmark, matplotlib, the text workload) happen only inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys

from . import bench_command, list_command, plan_command, search_command, train_command

__all__ = ["build_parser", "main"]


def _add_mixture_group(sub: argparse._SubParsersAction) -> None:
    """``mixkit mixture``: plan (static strategies and schedules), search (RegMix-style), train (online)."""
    parser = sub.add_parser("mixture", help="plan, search and train data-source mixtures")
    mixture_sub = parser.add_subparsers(dest="mixture_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    plan_command.add_command(mixture_sub)
    search_command.add_command(mixture_sub)
    train_command.add_command(mixture_sub)


def build_parser() -> argparse.ArgumentParser:
    """The ``mixkit`` argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="mixkit", description="Mix training data at every level.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    list_command.add_command(sub)
    bench_command.add_commands(sub)
    _add_mixture_group(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the chosen command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
