"""The ``--results-page PATH`` / ``--results-key KEY`` options shared by the commands that measure tables."""

from __future__ import annotations

import argparse


def add_results_arguments(p: argparse.ArgumentParser, default_key: str) -> None:
    """Add ``--results-page`` and ``--results-key`` (default ``default_key``) to ``p``."""
    p.add_argument("--results-page", metavar="PATH",
                   help="also write the measured table into this Markdown page (e.g. docs/results.md), "
                        "between the markers of its section")
    p.add_argument("--results-key", metavar="KEY", default=None,
                   help=f"section of the results page to replace (default: {default_key})")


def publish(args: argparse.Namespace, default_key: str, table: str) -> None:
    """Write ``table`` into ``args.results_page`` under ``args.results_key`` (or ``default_key``) when a
    page was asked for."""
    if not args.results_page or not table:
        return
    from mixkit.bench.results_page import write_section

    key = args.results_key or default_key
    write_section(args.results_page, key, table)
    print(f"updated section {key!r} of {args.results_page}")
