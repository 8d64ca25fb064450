"""``mixkit`` command line: ``list``, ``bench``, ``gallery``, ``mixture plan|search|train``.

Every command is registered here explicitly; each command module exposes ``add_command(subparsers)`` (or
``add_commands`` for a module holding more than one) and a ``run(args) -> int`` that runs it. Heavy imports
(the benchmark, matplotlib, the text workload) happen only inside the command that needs them.

Errors: every user error (a bad option value, a missing or corrupt input file, an unavailable device, an
output path that cannot be written, a missing optional extra) is found before any training starts and ends
the command with one line on stderr, ``mixkit: error: ...``, and exit code 2; no traceback. A run that
fails leaves no empty output folder behind.
"""

from __future__ import annotations

import argparse
import sys

from . import bench_command, list_command, plan_command, search_command, train_command
from .checks import Parser, UsageError, new_dirs, remove_new_empty_dirs

__all__ = ["UsageError", "build_parser", "main"]


def _add_mixture_group(sub: argparse._SubParsersAction) -> None:
    """``mixkit mixture``: plan (static strategies and schedules), search (RegMix-style), train (online)."""
    parser = sub.add_parser("mixture", help="plan, search and train data-source mixtures",
                            description="Domain mixtures: 'plan' a static strategy or schedule, 'search' a "
                                        "mixture with RegMix proxy runs, 'train' with static or online "
                                        "mixing. Domains are given the same way to all three: "
                                        "--domain SPEC once per domain.")
    mixture_sub = parser.add_subparsers(dest="mixture_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    plan_command.add_command(mixture_sub)
    search_command.add_command(mixture_sub)
    train_command.add_command(mixture_sub)


def build_parser() -> argparse.ArgumentParser:
    """The ``mixkit`` argument parser with every sub-command registered."""
    from mixkit import __version__

    parser = Parser(prog="mixkit", description="Mix training data at every level.")
    parser.add_argument("--version", action="version", version=f"mixkit {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    list_command.add_command(sub)
    bench_command.add_commands(sub)
    _add_mixture_group(sub)
    return parser


def _error(message: str) -> int:
    print(f"mixkit: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _output_paths(args: argparse.Namespace) -> list[str]:
    """The folders a command may create: ``--out`` of bench/search/train, the folder of an output file."""
    from pathlib import Path

    paths = []
    for key in ("out", "json", "results_page"):
        value = getattr(args, key, None)
        if not isinstance(value, str) or not value:
            continue
        p = Path(value)
        paths.append(str(p.parent if p.suffix else p))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the chosen command and return its exit code.

    A user error (see the module docstring) prints ``mixkit: error: ...`` and returns 2; Ctrl-C returns 130.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        return _error(str(err))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    created = [d for path in _output_paths(args) for d in new_dirs(path)]
    code = 1
    try:
        code = int(args.func(args) or 0)
    except UsageError as err:
        code = _error(str(err))
    except KeyboardInterrupt:
        print("mixkit: interrupted", file=sys.stderr)
        code = 130
    finally:
        if code != 0:  # a failed run leaves no empty folder behind
            remove_new_empty_dirs(created)
    return code


if __name__ == "__main__":
    sys.exit(main())
