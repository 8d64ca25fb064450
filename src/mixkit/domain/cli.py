"""``mixkit mixture ...`` sub-commands. Each sub-command lives in its own module exposing
``add_command(mixture_subparsers)``; this module only groups them under ``mixture``."""

from __future__ import annotations

import importlib

# plan: static strategies and schedules; search: RegMix-style search; train: online methods
MIXTURE_COMMAND_MODULES = ("mixkit.domain.plan_cli", "mixkit.domain.search_cli", "mixkit.domain.train_cli")


def add_commands(sub) -> None:
    parser = sub.add_parser("mixture", help="plan, search and train data-source mixtures")
    mixture_sub = parser.add_subparsers(dest="mixture_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    for name in MIXTURE_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # not built yet
            raise
        module.add_command(mixture_sub)
